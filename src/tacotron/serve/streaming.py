"""`POST /api/tts/stream`: audio sent while the text is still being synthesised, within a piece too.

Why: a long text is split into pieces (`sentences.split_sentences`), and a piece is decoded frame by
frame; waiting for the whole text makes the time to first audio the whole text's synthesis time, waiting
for whole pieces one piece's. Here each piece runs as `Synthesizer.stream`: its mel is handed out in
blocks while the decoder runs (`tacotron.model.streaming`) and vocoded as overlapping chunks
(`tacotron.infer.chunks`), and every chunk is sent as soon as it is vocoded.

What is sent (chunked transfer): first a 44-byte WAV header (16-bit PCM mono at the voice's rate, also in
`X-Sample-Rate`) whose RIFF and data sizes are 0xFFFFFFFF (length unknown), then the audio as 16-bit
little-endian PCM, pieces after the first preceded by the same pause as `/api/tts`. The mel of each
piece is what `/api/tts` decodes when the piece is synthesised alone there too (`max_batch_size` 1, or
no prenet-dropout noise, i.e. deterministic synthesis): prenet dropout draws depend on the batch, and
streamed piece i runs alone with seed + i. The samples then equal `/api/tts`'s with HiFi-GAN (up to
rounding, a few 16-bit steps at most) and for pieces that fit one chunk; Griffin-Lim estimates phases
per chunk, so longer pieces sound the same but differ in phase (`tacotron.infer.chunks`).
With `speed` != 1, or a synthesizer without `stream`, each piece is synthesised whole and sent at once
(a time stretch needs the whole piece), stretched on its own: lengths differ from the joined stretch of
`/api/tts` by a few samples per piece.

Order: piece i + 1 is queued when piece i is done, so the model works on the next piece while the last
chunks are sent; pieces of one streamed request run one at a time, each alone (`Batcher.submit_call`).

Errors: everything that fails before the first audio (validation, admission, the first piece failing or
timing out) is the usual 4xx/5xx JSON; so is a first piece cut at max_decoder_steps when it is sent
whole. A piece cut at max_decoder_steps after its audio started (and `allow_truncated` off), or the
request timeout passing mid-stream, ends the stream without its final chunk: the client sees an
incomplete transfer, never cut audio presented as complete. A client that leaves stops the running
piece at its next chunk (`StreamAbandoned`) and drops the queued one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
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


class StreamAbandoned(RuntimeError):
    """Raised in the worker thread by a streamed piece's audio callback once the stream was closed, so the
    piece stops decoding instead of keeping the model busy for nobody."""


class PieceStream:
    """One streamed request: its pieces queued one at a time, each one's audio sent as it is vocoded."""

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
        self.chunked = request.speed == 1.0  # a time stretch needs the whole piece
        self.deadline = time.monotonic() + service.settings.request_timeout_s
        self.pending: asyncio.Future | None = None  # the queued or running piece's result
        self.audio: asyncio.Queue | None = None  # its audio chunks, in order, as they are vocoded
        self.left = threading.Event()  # set by `close`: a running piece stops at its next chunk
        self.gap = np.zeros(
            media.pause_samples(voice.sample_rate, service.settings.pause_seconds), dtype=np.float32
        )

    def close(self) -> None:
        """Stop the running piece, drop the queued one (nobody will hear them) and free the admission
        slot; safe to call twice."""
        self.left.set()
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None
        self.slot.close()

    def _submit(self, index: int) -> None:
        """Queue piece `index` alone (seed + index, as `Batcher.submit` seeds a job starting there)."""
        assert self.voice.batcher is not None, "voices get batchers in the app lifespan"
        seed = None if self.seed is None else self.seed + index
        loop, audio = asyncio.get_running_loop(), asyncio.Queue()

        def on_audio(wav: np.ndarray) -> None:  # in the worker thread
            if self.left.is_set():
                raise StreamAbandoned("the stream was closed")
            loop.call_soon_threadsafe(audio.put_nowait, wav)

        call = functools.partial(
            self.voice.stream_piece, self.pieces[index], seed, self.speaker, on_audio, self.chunked
        )
        self.audio = audio
        self.pending = asyncio.ensure_future(self.voice.batcher.submit_call(call))

    async def first(self, http_request: Request) -> np.ndarray:
        """Piece 0's first audio (4xx/5xx as usual when the piece fails before it). Without chunks (speed
        != 1, or a synthesizer that does not stream) that is the whole piece, refused as in /api/tts when
        it was cut at max_decoder_steps."""
        self._submit(0)
        assert self.pending is not None
        timeout = max(self.deadline - time.monotonic(), 0.0)
        wav = await self.service.wait_for(asyncio.ensure_future(self._next_audio()), http_request, timeout)
        if wav is None:  # the piece ended without audio: its error, else a bug
            result = self.pending.result()
            raise RuntimeError(f"piece 1 gave no audio (stop reason {result.stop_reason})")
        if not self.chunked:
            self.service.refuse_truncated(self.voice, self.pieces[:1], [await self.pending])
        return wav

    async def _next_audio(self) -> np.ndarray | None:
        """The pending piece's next audio chunk, or None once the piece is done and its audio all taken
        (its chunks are queued before its result is set, so none comes after)."""
        assert self.audio is not None and self.pending is not None
        if self.audio.empty() and not self.pending.done():
            getter = asyncio.ensure_future(self.audio.get())
            try:
                await asyncio.wait({getter, self.pending}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                getter.cancel()
            if getter.done() and not getter.cancelled():
                return getter.result()
        return None if self.audio.empty() else self.audio.get_nowait()

    async def _audio_in_time(self, index: int) -> np.ndarray | None:
        try:
            return await asyncio.wait_for(self._next_audio(), max(self.deadline - time.monotonic(), 0.0))
        except asyncio.TimeoutError as err:
            raise StreamAborted(
                f"piece {index + 1} of {len(self.pieces)} not synthesised within the request timeout"
            ) from err

    async def _piece_pcm(self, index: int, wav: np.ndarray | None) -> AsyncIterator[bytes]:
        """Piece `index`'s audio as PCM chunks (the pause before it first; `wav`: its first chunk when
        already taken), then its result checked and the next piece queued."""
        head = self.gap if index else self.gap[:0]
        if wav is None:
            wav = await self._audio_in_time(index)
        while wav is not None:
            yield await asyncio.to_thread(self._pcm, head, wav)
            head = self.gap[:0]
            wav = await self._audio_in_time(index)
        assert self.pending is not None
        result = self.pending.result()  # a failed piece ends the stream incomplete
        if result.stop_reason == "max_steps" and not self.service.settings.allow_truncated:
            raise StreamAborted(f"piece {index + 1} of {len(self.pieces)} was cut at max_decoder_steps")
        self.pending = None
        if index + 1 < len(self.pieces):
            self._submit(index + 1)

    def _pcm(self, head: np.ndarray, wav: np.ndarray) -> bytes:
        wav = media.change_speed(np.asarray(wav, dtype=np.float32), self.speed)
        return media.pcm16_bytes(np.concatenate([head, wav]), self.voice.sample_rate)

    async def body(self, first: np.ndarray) -> AsyncIterator[bytes]:
        """Header, then each piece's audio as it comes; the admission slot is held until the stream ends."""
        try:
            yield media.streaming_wav_header(self.voice.sample_rate)
            for index in range(len(self.pieces)):
                async for pcm in self._piece_pcm(index, first if index == 0 else None):
                    yield pcm
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
