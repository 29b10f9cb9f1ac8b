"""`POST /api/tts/stream`: a request's pieces are sent as audio as soon as each is vocoded.

Why: a long text is split into pieces (`sentences.split_sentences`); waiting for all of them makes the
time to first audio the whole text's synthesis time. Streamed, it is one piece's.

What is sent (chunked transfer): first a 44-byte WAV header (16-bit PCM mono at the voice's rate, also in
`X-Sample-Rate`) whose RIFF and data sizes are 0xFFFFFFFF (length unknown), then per piece its samples as
16-bit little-endian PCM, pieces after the first preceded by the same pause as `/api/tts`. At speed 1 the
bytes after the header are exactly the `data` of the WAV `/api/tts` returns, provided each piece is
synthesised alone there too (`max_batch_size` 1, or no prenet-dropout noise, i.e. deterministic
synthesis): prenet dropout draws depend on the batch, and streamed piece i runs alone with seed + i.
With `speed` != 1 each piece is stretched on its own, so lengths differ from the joined stretch by a
few samples per piece.

Order: piece i + 1 is queued when piece i's audio arrives, so the model works on the next piece while
this one is sent; pieces of one streamed request are decoded one at a time (no batching within it).
Within a piece nothing is streamed: the vocoder (Griffin-Lim by default, which needs the whole mel for
its phase estimate) runs on the piece's whole mel after decoding.

Errors: everything that fails before the first byte (validation, admission, the first piece timing out
or being cut at max_decoder_steps) is the usual 4xx/5xx JSON. A later piece cut at max_decoder_steps (and
`allow_truncated` off), or the request timeout passing mid-stream, ends the stream without its final
chunk: the client sees an incomplete transfer, never cut audio presented as complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from tacotron.serve import media
from tacotron.serve.schemas import TTSRequest
from tacotron.serve.voices import Voice

logger = logging.getLogger(__name__)

STREAM_FORMAT = "wav; 16-bit PCM mono; RIFF and data sizes 0xFFFFFFFF (streamed, length unknown)"


class StreamAborted(RuntimeError):
    """A streamed request cannot be finished (a piece cut, the timeout passed): the stream is cut short."""


class ClosingStreamingResponse(StreamingResponse):
    """Closes its body generator and runs `cleanup` when the response ends for any reason (client gone
    included, even before the body started), so the slot and queued work are freed at once rather than
    at garbage collection."""

    def __init__(self, content: AsyncIterator[bytes], cleanup: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.cleanup = cleanup

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.body_iterator.aclose()  # type: ignore[attr-defined]
            self.cleanup()


class PieceStream:
    """One streamed request: its pieces queued one at a time, each sent as PCM once it is synthesised."""

    def __init__(
        self,
        service: Any,
        voice: Voice,
        pieces: list[str],
        request: TTSRequest,
        slot: contextlib.ExitStack,
        speaker: str | None = None,
    ) -> None:
        self.service = service
        self.slot = slot  # the admission slot, released by `close`
        self.voice = voice
        self.pieces = pieces
        self.seed = request.seed
        self.speaker = speaker  # checked by the service (`TTSService.pick_speaker`)
        self.speed = request.speed
        self.deadline = time.monotonic() + service.settings.request_timeout_s
        self.pending: asyncio.Future | None = None
        self.gap = np.zeros(
            media.pause_samples(voice.sample_rate, service.settings.pause_seconds), dtype=np.float32
        )

    def close(self) -> None:
        """Drop the queued piece (nobody will hear it) and free the admission slot; safe to call twice."""
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None
        self.slot.close()

    def _submit(self, index: int) -> None:
        """Queue piece `index` alone (seed + index, as `Batcher.submit` seeds a job starting there)."""
        assert self.voice.batcher is not None, "voices get batchers in the app lifespan"
        seed = None if self.seed is None else self.seed + index
        self.pending = asyncio.ensure_future(
            self.voice.batcher.submit([self.pieces[index]], seed, self.speaker)
        )

    def _queue_next(self, index: int) -> None:
        self.pending = None
        if index < len(self.pieces):
            self._submit(index)

    async def first(self, http_request: Request) -> Any:
        """The first piece's result (4xx/5xx as usual when it fails); the second piece is queued then."""
        self._submit(0)
        assert self.pending is not None
        timeout = max(self.deadline - time.monotonic(), 0.0)
        [result] = await self.service.wait_for(self.pending, http_request, timeout)
        self.service.refuse_truncated(self.voice, self.pieces[:1], [result])
        self._queue_next(1)
        return result

    async def _next(self, index: int) -> Any:
        """Piece `index`'s result (queued earlier); the one after it is queued at once."""
        assert self.pending is not None
        try:
            [result] = await asyncio.wait_for(
                self.pending, timeout=max(self.deadline - time.monotonic(), 0.0)
            )
        except asyncio.TimeoutError as err:
            raise StreamAborted(
                f"piece {index + 1} of {len(self.pieces)} not synthesised within the request timeout"
            ) from err
        if result.stop_reason == "max_steps" and not self.service.settings.allow_truncated:
            raise StreamAborted(f"piece {index + 1} of {len(self.pieces)} was cut at max_decoder_steps")
        self._queue_next(index + 1)
        return result

    def _pcm(self, result: Any, index: int) -> bytes:
        wav = media.change_speed(np.asarray(result.wav, dtype=np.float32), self.speed)
        if index:
            wav = np.concatenate([self.gap, wav])
        return media.pcm16_bytes(wav, self.voice.sample_rate)

    async def body(self, first: Any) -> AsyncIterator[bytes]:
        """Header, then each piece's PCM as it comes; the admission slot is held until the stream ends."""
        try:
            yield media.streaming_wav_header(self.voice.sample_rate)
            yield await asyncio.to_thread(self._pcm, first, 0)
            for index in range(1, len(self.pieces)):
                result = await self._next(index)
                yield await asyncio.to_thread(self._pcm, result, index)
        except StreamAborted as err:
            logger.warning("stream cut short: %s", err)
            raise
        finally:
            self.close()


async def open_stream(
    service: Any, request: TTSRequest, http_request: Request, client: str
) -> StreamingResponse:
    """Validate, admit (`client` = its address) and synthesise the first piece (errors as usual), then
    stream the rest."""
    voice = service.pick_voice(request)
    speaker = service.pick_speaker(request, voice)
    pieces = service.sentences(request, voice)
    slot = contextlib.ExitStack()
    slot.enter_context(service.admission.slot(client))
    stream = PieceStream(service, voice, pieces, request, slot, speaker)
    try:
        first = await stream.first(http_request)
    except BaseException:
        stream.close()
        raise
    headers = {
        "X-Voice": voice.id,
        "X-Sentences": str(len(pieces)),
        "X-Sample-Rate": str(voice.sample_rate),
        "X-Audio-Format": STREAM_FORMAT,
        "Cache-Control": "no-store",
    }
    return ClosingStreamingResponse(
        stream.body(first), cleanup=stream.close, media_type="audio/wav", headers=headers
    )
