"""The FastAPI application: routes, request admission, timeouts and the lifespan of the batchers.

Endpoints: `POST /api/tts` (WAV), `POST /api/tts/stream` (WAV sent piece by piece, `streaming`),
`POST /api/tts/details` (JSON for the web page: base64 WAV, alignment PNG, timing, word timings), Coqui's
`GET /api/tts?text=` and OpenAI's `POST /v1/audio/speech` (`compat`), `GET /api/voices`,
`GET /api/health`, `GET /` (the web page), `/openapi.json` and `/docs`.
Status codes: 400 unsupported OpenAI response_format, 422 bad input (empty text, nothing to say, unknown
characters, numbers beyond the expansion budget, any other text-frontend failure, wrong JSON or fields,
unknown voice, speaker or language, speed out of range, text too long) and text the voice could not finish (a
piece cut at max_decoder_steps: no 200 for incomplete audio unless `allow_truncated`), 401 missing or wrong API key (when one is set),
413 oversized body, 421 Host header not served (DNS-rebinding protection), 429 too many requests in
flight from one client address, 499 client went away (its queued work is dropped), 503 too many requests
in flight overall, 504 synthesis not done within the request timeout.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from tacotron.infer.timings import WordTime
from tacotron.serve import media
from tacotron.serve.batcher import Batcher
from tacotron.serve.compat import add_compat_routes
from tacotron.serve.errors import BodySizeLimit, install_error_handlers
from tacotron.serve.schemas import (
    ErrorResponse,
    HealthResponse,
    Timing,
    TTSDetails,
    TTSRequest,
    VoiceInfo,
    VoicesResponse,
    WordTiming,
)
from tacotron.serve.security import ApiKeyCheck, HostCheck
from tacotron.serve.sentences import split_sentences
from tacotron.serve.settings import ServeSettings
from tacotron.serve.streaming import STREAM_FORMAT, open_stream
from tacotron.serve.voices import Voice

logger = logging.getLogger(__name__)

_ERRORS = {code: {"model": ErrorResponse} for code in (401, 413, 421, 422, 429, 503, 504)}


@dataclass
class Rendered:
    """One request's audio and metadata, joined over its sentences."""

    voice: Voice
    sentences: list[str]
    wav: np.ndarray
    alignment: np.ndarray
    stop_reasons: list[str]
    timing: Timing
    words: list[WordTime] | None = None  # None: no exact symbol -> word mapping (see words_note)
    words_note: str = ""

    @property
    def truncated(self) -> bool:
        return "max_steps" in self.stop_reasons


class Admission:
    """Caps requests in flight (queued or synthesising): overall (503) and per client address (429)."""

    def __init__(self, limit: int, per_client: int | None = None) -> None:
        self.limit = limit
        self.per_client = per_client or limit
        self.in_flight = 0
        self.by_client: dict[str, int] = {}

    @contextlib.contextmanager
    def slot(self, client: str = "unknown"):
        mine = self.by_client.get(client, 0)
        if mine >= self.per_client:
            raise HTTPException(
                429,
                f"too many requests in flight from {client}: {mine} (limit {self.per_client} per client)",
                headers={"Retry-After": "1"},
            )
        if self.in_flight >= self.limit:
            raise HTTPException(
                503,
                f"server busy: {self.in_flight} requests in flight (limit {self.limit})",
                headers={"Retry-After": "1"},
            )
        self.in_flight += 1
        self.by_client[client] = mine + 1
        try:
            yield
        finally:
            self.in_flight -= 1
            left = self.by_client[client] - 1
            if left:
                self.by_client[client] = left
            else:
                del self.by_client[client]


def client_of(http_request: Request | None) -> str:
    """The client address that per-client admission counts by."""
    return http_request.client.host if http_request is not None and http_request.client else "unknown"


async def _client_gone(request: Request) -> None:
    """Returns when the client closes the connection (the body is read by then, so the next ASGI
    message is the disconnect; under the test client it comes only after the response)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


class TTSService:
    """Voices, limits and admission of one app; the routes call `synthesize`."""

    def __init__(self, voices: list[Voice], settings: ServeSettings) -> None:
        if not voices:
            raise ValueError("the service needs at least one voice")
        self.voices = {voice.id: voice for voice in voices}
        self.settings = settings
        self.admission = Admission(settings.max_concurrent, settings.max_per_client)

    def pick_voice(self, request: TTSRequest) -> Voice:
        if request.voice is not None:
            voice = self.voices.get(request.voice)
            if voice is None:
                raise HTTPException(
                    422, f"voice: unknown voice {request.voice!r}; available: {sorted(self.voices)}"
                )
            if request.language is not None and request.language != voice.language:
                raise HTTPException(
                    422, f"language: voice {voice.id!r} speaks {voice.language!r}, not {request.language!r}"
                )
            return voice
        if request.language is None:
            return next(iter(self.voices.values()))
        for voice in self.voices.values():
            if voice.language == request.language:
                return voice
        served = sorted({v.language for v in self.voices.values()})
        raise HTTPException(422, f"language: {request.language!r} is not served here; available: {served}")

    def pick_speaker(self, request: TTSRequest, voice: Voice) -> str | None:
        """The request's speaker checked against the voice's table (`Voice.check_speaker`), else 422."""
        try:
            return voice.check_speaker(request.speaker)
        except ValueError as err:  # UnknownSpeakerError, listing the known speakers
            raise HTTPException(422, f"speaker: {err}") from err

    def sentences(self, request: TTSRequest, voice: Voice) -> list[str]:
        """Length and speed checks, sentence split and frontend validation (all 422 on failure)."""
        s = self.settings
        if len(request.text) > s.max_text_chars:
            raise HTTPException(422, f"text: {len(request.text)} characters, limit {s.max_text_chars}")
        if not s.min_speed <= request.speed <= s.max_speed:
            raise HTTPException(422, f"speed: {request.speed} is outside [{s.min_speed}, {s.max_speed}]")
        try:
            voice.frontend.expand(request.text)  # the number budget holds for the whole text
            sentences = split_sentences(request.text, s.max_sentence_chars, voice.fits())
            if not sentences:
                raise HTTPException(422, "text: is empty (only whitespace)")
            voice.validate(sentences)
        except ValueError as err:  # UnknownCharactersError, EmptyTextError, NumberExpansionError
            raise HTTPException(422, f"text: {err}") from err
        except HTTPException:
            raise
        except Exception as err:  # any other frontend failure is still about this text: 4xx, not 500
            logger.exception("text frontend failed on a request")
            raise HTTPException(422, f"text: the text frontend failed: {type(err).__name__}: {err}") from err
        return sentences

    async def synthesize(self, request: TTSRequest, http_request: Request | None = None) -> Rendered:
        voice = self.pick_voice(request)
        speaker = self.pick_speaker(request, voice)
        sentences = self.sentences(request, voice)
        assert voice.batcher is not None, "voices get batchers in the app lifespan"
        with self.admission.slot(client_of(http_request)):
            started = time.monotonic()
            work = asyncio.ensure_future(voice.batcher.submit(sentences, request.seed, speaker))
            results = await self.wait_for(work, http_request, self.settings.request_timeout_s)
            self.refuse_truncated(voice, sentences, results)
            return await asyncio.to_thread(self._render, voice, sentences, results, request.speed, started)

    async def wait_for(self, work: asyncio.Future, http_request: Request | None, timeout_s: float) -> Any:
        """`work`'s result, or 504 after `timeout_s`, or 499 when the client goes away first; either way
        `work` is cancelled, which drops the request's jobs not yet started."""
        waiters = {work}
        if http_request is not None:
            waiters.add(asyncio.ensure_future(_client_gone(http_request)))
        try:
            done, _ = await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiters:
                task.cancel()
        if work not in done:
            if done:
                raise HTTPException(499, "client closed the request; its queued work was dropped")
            raise HTTPException(504, f"synthesis took longer than {self.settings.request_timeout_s} s")
        return work.result()

    def refuse_truncated(self, voice: Voice, sentences: list[str], results: list) -> None:
        """422 when a piece was cut at max_decoder_steps (unless `allow_truncated`): no 200 for cut audio."""
        cut = [i for i, r in enumerate(results) if r.stop_reason == "max_steps"]
        if not cut or self.settings.allow_truncated:
            return
        steps = voice.synthesizer.cfg.model.max_decoder_steps
        first = sentences[cut[0]]
        raise HTTPException(
            422,
            f"text: could not be spoken in full: {len(cut)} of {len(sentences)} pieces did not end within "
            f"max_decoder_steps={steps} (the voice never predicted their end), first {cut[0] + 1}: "
            f"{first[:80]!r}; rephrase or shorten it",
        )

    def _render(
        self, voice: Voice, sentences: list[str], results: list, speed: float, started: float
    ) -> Rendered:
        sample_rate = int(results[0].sample_rate)
        pause = self.settings.pause_seconds
        wav = media.join_with_pauses([r.wav for r in results], sample_rate, pause)
        wav = media.change_speed(wav, speed)
        starts = media.piece_starts([len(r.wav) for r in results], sample_rate, pause)
        words, words_note = voice.word_timings(results, starts, speed)
        frames = sum(int(r.frames) for r in results)
        elapsed = time.monotonic() - started
        audio_seconds = len(wav) / sample_rate
        timing = Timing(
            mel_frames=frames,
            audio_seconds=round(audio_seconds, 4),
            synthesis_seconds=round(elapsed, 4),
            frames_per_second=round(frames / max(elapsed, 1e-9), 2),
            real_time_factor=round(elapsed / max(audio_seconds, 1e-9), 4),
        )
        alignment = media.block_alignment([np.asarray(r.alignment) for r in results])
        reasons = [r.stop_reason for r in results]
        return Rendered(voice, sentences, wav, alignment, reasons, timing, words, words_note)


def _page() -> str:
    return resources.files("tacotron.serve").joinpath("static/index.html").read_text(encoding="utf-8")


def create_app(voices: list[Voice], settings: ServeSettings | None = None) -> FastAPI:
    """The ASGI app. Batchers start in the lifespan, so run it under uvicorn or `with TestClient(app)`."""
    service = TTSService(voices, settings or ServeSettings())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="tts-model"
        )  # one model call at a time
        for voice in service.voices.values():
            s = service.settings
            voice.batcher = Batcher(
                voice.batch_fn(s.max_batch_size), executor, s.max_batch_size, s.batch_wait_ms / 1000
            )
            voice.batcher.start()
        if service.settings.api_key is None:
            logger.info("no API key set: every client that reaches this server may use it")
        try:
            yield
        finally:
            for voice in service.voices.values():
                if voice.batcher is not None:
                    await voice.batcher.stop()
            executor.shutdown(wait=True)

    app = FastAPI(title="tacotron TTS", version="1", lifespan=lifespan)
    app.state.service = service
    app.add_middleware(BodySizeLimit, max_bytes=service.settings.max_body_bytes)
    if service.settings.api_key is not None:
        app.add_middleware(ApiKeyCheck, api_key=service.settings.api_key)
    app.add_middleware(HostCheck, allowed_hosts=service.settings.allowed_hosts)  # outermost: runs first
    install_error_handlers(app)
    _add_routes(app, service)
    add_compat_routes(app, service, _wav_headers)
    _add_stream_route(app, service)
    return app


def _wav_headers(rendered: Rendered) -> dict[str, str]:
    t = rendered.timing
    return {
        "X-Voice": rendered.voice.id,
        "X-Sentences": str(len(rendered.sentences)),
        "X-Mel-Frames": str(t.mel_frames),
        "X-Audio-Seconds": str(t.audio_seconds),
        "X-Synthesis-Seconds": str(t.synthesis_seconds),
        "X-Frames-Per-Second": str(t.frames_per_second),
        "X-Real-Time-Factor": str(t.real_time_factor),
        "X-Stop-Reasons": ",".join(rendered.stop_reasons),
        "X-Truncated": "true" if rendered.truncated else "false",
    }


def _add_routes(app: FastAPI, service: TTSService) -> None:
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(_page(), media_type="text/html; charset=utf-8")

    @app.get("/api/health", response_model=HealthResponse)
    async def health() -> HealthResponse:
        batchers = [v.batcher for v in service.voices.values() if v.batcher is not None]
        batches = sum(b.stats.batches for b in batchers)
        sentences = sum(b.stats.sentences for b in batchers)
        return HealthResponse(
            status="ok",
            voices=list(service.voices),
            in_flight=service.admission.in_flight,
            max_concurrent=service.admission.limit,
            max_per_client=service.admission.per_client,
            batches=batches,
            mean_batch_size=round(sentences / batches, 3) if batches else 0.0,
        )

    @app.get("/api/voices", response_model=VoicesResponse)
    async def voices() -> VoicesResponse:
        infos = [
            VoiceInfo(
                id=v.id,
                language=v.language,
                sample_rate=v.sample_rate,
                vocoder=v.vocoder,
                checkpoint_step=v.step,
                speakers=v.speakers,
            )
            for v in service.voices.values()
        ]
        return VoicesResponse(default=infos[0].id, voices=infos)

    @app.post(
        "/api/tts",
        response_class=Response,
        responses={200: {"content": {"audio/wav": {}}, "description": "16-bit PCM mono WAV"}, **_ERRORS},
    )
    async def tts(request: TTSRequest, http_request: Request) -> Response:
        """Speak `text`; timing comes back in X-* headers."""
        rendered = await service.synthesize(request, http_request)
        body = await asyncio.to_thread(media.wav_bytes, rendered.wav, rendered.voice.sample_rate)
        return Response(body, media_type="audio/wav", headers=_wav_headers(rendered))

    @app.post("/api/tts/details", response_model=TTSDetails, responses=_ERRORS)
    async def tts_details(request: TTSRequest, http_request: Request) -> TTSDetails:
        """Like /api/tts, as JSON with the WAV and the attention alignment (PNG) in base64: for the web page."""
        rendered = await service.synthesize(request, http_request)
        wav, png = await asyncio.to_thread(_encode_details, rendered)
        return TTSDetails(
            voice=rendered.voice.id,
            sample_rate=rendered.voice.sample_rate,
            sentences=rendered.sentences,
            stop_reasons=rendered.stop_reasons,
            truncated=rendered.truncated,
            timing=rendered.timing,
            wav_base64=base64.b64encode(wav).decode("ascii"),
            alignment_png_base64=base64.b64encode(png).decode("ascii"),
            words=None if rendered.words is None else [_word(w) for w in rendered.words],
            words_note=rendered.words_note,
        )


def _word(timing: WordTime) -> WordTiming:
    return WordTiming(word=timing.word, start=round(timing.start, 4), end=round(timing.end, 4))


def _add_stream_route(app: FastAPI, service: TTSService) -> None:
    @app.post(
        "/api/tts/stream",
        response_class=StreamingResponse,
        responses={200: {"content": {"audio/wav": {}}, "description": STREAM_FORMAT}, **_ERRORS},
    )
    async def tts_stream(request: TTSRequest, http_request: Request) -> StreamingResponse:
        """Like /api/tts, streamed: each piece's audio is sent as soon as it is synthesised (`streaming`)."""
        return await open_stream(service, request, http_request, client_of(http_request))


def _encode_details(rendered: Rendered) -> tuple[bytes, bytes]:
    return media.wav_bytes(rendered.wav, rendered.voice.sample_rate), media.alignment_png(rendered.alignment)
