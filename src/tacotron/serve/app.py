"""The FastAPI application: routes, request admission, timeouts and the lifespan of the batchers.

Endpoints: `POST /api/tts` (WAV), `POST /api/tts/details` (JSON for the web page: base64 WAV, alignment
PNG, timing), `GET /api/voices`, `GET /api/health`, `GET /` (the web page), `/openapi.json` and `/docs`.
Status codes: 422 bad input (empty text, unknown characters, wrong JSON or fields, unknown voice or
language, speed out of range, text too long), 413 oversized body, 503 too many requests in flight,
504 synthesis not done within the request timeout.
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

import numpy as np
from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response

from tacotron.serve import media
from tacotron.serve.batcher import Batcher
from tacotron.serve.errors import BodySizeLimit, install_error_handlers
from tacotron.serve.schemas import (
    ErrorResponse,
    HealthResponse,
    Timing,
    TTSDetails,
    TTSRequest,
    VoiceInfo,
    VoicesResponse,
)
from tacotron.serve.sentences import split_sentences
from tacotron.serve.settings import ServeSettings
from tacotron.serve.voices import Voice

logger = logging.getLogger(__name__)

_ERRORS = {code: {"model": ErrorResponse} for code in (413, 422, 503, 504)}


@dataclass
class Rendered:
    """One request's audio and metadata, joined over its sentences."""

    voice: Voice
    sentences: list[str]
    wav: np.ndarray
    alignment: np.ndarray
    stop_reasons: list[str]
    timing: Timing


class Admission:
    """Caps requests in flight (queued or synthesising); more get 503 instead of piling up."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    @contextlib.contextmanager
    def slot(self):
        if self.in_flight >= self.limit:
            raise HTTPException(
                503,
                f"server busy: {self.in_flight} requests in flight (limit {self.limit})",
                headers={"Retry-After": "1"},
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


class TTSService:
    """Voices, limits and admission of one app; the routes call `synthesize`."""

    def __init__(self, voices: list[Voice], settings: ServeSettings) -> None:
        if not voices:
            raise ValueError("the service needs at least one voice")
        self.voices = {voice.id: voice for voice in voices}
        self.settings = settings
        self.admission = Admission(settings.max_concurrent)

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

    def sentences(self, request: TTSRequest, voice: Voice) -> list[str]:
        """Length and speed checks, sentence split and frontend validation (all 422 on failure)."""
        s = self.settings
        if len(request.text) > s.max_text_chars:
            raise HTTPException(422, f"text: {len(request.text)} characters, limit {s.max_text_chars}")
        if not s.min_speed <= request.speed <= s.max_speed:
            raise HTTPException(422, f"speed: {request.speed} is outside [{s.min_speed}, {s.max_speed}]")
        sentences = split_sentences(request.text, s.max_sentence_chars)
        if not sentences:
            raise HTTPException(422, "text: is empty (only whitespace)")
        try:
            voice.validate(sentences)
        except ValueError as err:  # UnknownCharactersError, EmptyTextError: the message names the text
            raise HTTPException(422, f"text: {err}") from err
        return sentences

    async def synthesize(self, request: TTSRequest) -> Rendered:
        voice = self.pick_voice(request)
        sentences = self.sentences(request, voice)
        assert voice.batcher is not None, "voices get batchers in the app lifespan"
        with self.admission.slot():
            started = time.monotonic()
            try:
                results = await asyncio.wait_for(
                    voice.batcher.submit(sentences, request.seed), timeout=self.settings.request_timeout_s
                )
            except asyncio.TimeoutError as err:
                raise HTTPException(
                    504, f"synthesis took longer than {self.settings.request_timeout_s} s"
                ) from err
            return await asyncio.to_thread(self._render, voice, sentences, results, request.speed, started)

    def _render(
        self, voice: Voice, sentences: list[str], results: list, speed: float, started: float
    ) -> Rendered:
        sample_rate = int(results[0].sample_rate)
        wav = media.join_with_pauses([r.wav for r in results], sample_rate, self.settings.pause_seconds)
        wav = media.change_speed(wav, speed)
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
        return Rendered(voice, sentences, wav, alignment, [r.stop_reason for r in results], timing)


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
    install_error_handlers(app)
    _add_routes(app, service)
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
            )
            for v in service.voices.values()
        ]
        return VoicesResponse(default=infos[0].id, voices=infos)

    @app.post(
        "/api/tts",
        response_class=Response,
        responses={200: {"content": {"audio/wav": {}}, "description": "16-bit PCM mono WAV"}, **_ERRORS},
    )
    async def tts(request: TTSRequest) -> Response:
        """Speak `text`; timing comes back in X-* headers."""
        rendered = await service.synthesize(request)
        body = await asyncio.to_thread(media.wav_bytes, rendered.wav, rendered.voice.sample_rate)
        return Response(body, media_type="audio/wav", headers=_wav_headers(rendered))

    @app.post("/api/tts/details", response_model=TTSDetails, responses=_ERRORS)
    async def tts_details(request: TTSRequest) -> TTSDetails:
        """Like /api/tts, as JSON with the WAV and the attention alignment (PNG) in base64: for the web page."""
        rendered = await service.synthesize(request)
        wav, png = await asyncio.to_thread(_encode_details, rendered)
        return TTSDetails(
            voice=rendered.voice.id,
            sample_rate=rendered.voice.sample_rate,
            sentences=rendered.sentences,
            stop_reasons=rendered.stop_reasons,
            timing=rendered.timing,
            wav_base64=base64.b64encode(wav).decode("ascii"),
            alignment_png_base64=base64.b64encode(png).decode("ascii"),
        )


def _encode_details(rendered: Rendered) -> tuple[bytes, bytes]:
    return media.wav_bytes(rendered.wav, rendered.voice.sample_rate), media.alignment_png(rendered.alignment)
