"""Peer-compatible endpoints, so existing clients work unchanged: Coqui's and OpenAI's speech APIs.

- `GET /api/tts?text=...` as Coqui's `tts-server`: WAV back. `speaker_id` picks a voice id (from
  /api/voices) or a speaker name of a served voice (that voice, that speaker; Coqui's own meaning), and
  `language_id` a language when non-empty; a non-empty `style_wav` is a 422 (no
  reference-audio styles here). Empty values, as Coqui's own page sends them, mean the default.
- `POST /v1/audio/speech` as OpenAI's: `SpeechRequest` JSON in, audio bytes out. `voice` is a voice id,
  a speaker name (as `speaker_id` above) or an OpenAI preset name (the default voice). `response_format`
  wav (default here; OpenAI's default mp3 is not produced) or pcm (16-bit little-endian mono raw samples
  at the voice's rate, given in `X-Sample-Rate`: not OpenAI's fixed 24 kHz); anything else is a 400
  listing both.

Both translate to a `TTSRequest` and go through `TTSService.synthesize`: the same limits, admission,
batching, truncation check and headers as `POST /api/tts`. Both sit under the API-key check
(`security.ApiKeyCheck` covers /api/ and /v1/) and the Host check.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from tacotron.serve import media
from tacotron.serve.errors import describe_validation_errors
from tacotron.serve.schemas import OPENAI_VOICES, SPEECH_FORMATS, ErrorResponse, SpeechRequest, TTSRequest
from tacotron.serve.voices import voice_with_speaker

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 413, 421, 422, 429, 503, 504)
}
_WAV = {200: {"content": {"audio/wav": {}}, "description": "16-bit PCM mono WAV"}}


def tts_request(**fields: Any) -> TTSRequest:
    """A `TTSRequest` from translated fields; invalid values are a 422 naming the field, like JSON bodies."""
    try:
        return TTSRequest(**fields)
    except ValidationError as err:
        raise HTTPException(422, describe_validation_errors(list(err.errors()))) from err


def voice_fields(name: str, voices: dict[str, Any]) -> dict[str, str] | None:
    """The `TTSRequest` fields a compat name selects: {"voice"} for a voice id, {"voice", "speaker"} for a
    speaker name of a served voice (voice ids win), None when it names neither.

    Why one name for both: Coqui's `speaker_id` and OpenAI's `voice` are the only selectors those
    clients send, and a speaker of a multi-speaker voice is what they would call a voice.
    """
    if name in voices:
        return {"voice": name}
    voice = voice_with_speaker(voices.values(), name)
    return None if voice is None else {"voice": voice.id, "speaker": name}


def known_names(voices: dict[str, Any]) -> str:
    """Voice ids and speaker names, for a 422 that tells the caller what it could have sent."""
    speakers = sorted({name for voice in voices.values() for name in voice.speakers})
    return f"voices {sorted(voices)}" + (f", speakers {speakers}" if speakers else "")


def coqui_request(
    text: str, speaker_id: str, style_wav: str, language_id: str, voices: dict[str, Any]
) -> TTSRequest:
    """Coqui's query parameters as a `TTSRequest`: empty strings mean "default"."""
    if style_wav.strip():
        raise HTTPException(422, "style_wav: reference-audio styles are not supported by this server")
    name = speaker_id.strip()
    fields = voice_fields(name, voices) if name else {}
    if fields is None:
        raise HTTPException(
            422, f"speaker_id: unknown voice or speaker {name!r}; available: {known_names(voices)}"
        )
    return tts_request(text=text, language=language_id.strip() or None, **fields)


def openai_request(body: SpeechRequest, voices: dict[str, Any]) -> TTSRequest:
    """OpenAI's body as a `TTSRequest`: a served voice id is used as such, a preset name means the default."""
    if body.response_format not in SPEECH_FORMATS:
        raise HTTPException(
            400,
            f"response_format: {body.response_format!r} is not supported; supported: {list(SPEECH_FORMATS)}",
        )
    fields = voice_fields(body.voice, voices)
    if fields is None and body.voice not in OPENAI_VOICES:
        raise HTTPException(
            422,
            f"voice: unknown voice {body.voice!r}; available: {known_names(voices)} or an OpenAI preset name",
        )
    return tts_request(text=body.input, speed=body.speed, **(fields or {}))


def add_compat_routes(app: FastAPI, service: Any, wav_headers: Any) -> None:
    """Register the Coqui and OpenAI routes; `wav_headers(rendered)` gives the X-* headers of /api/tts."""

    @app.get("/api/tts", response_class=Response, responses={**_WAV, **_ERRORS})
    async def coqui_tts(
        http_request: Request,
        text: str = Query(min_length=1, description="Text to speak"),
        speaker_id: str = Query("", max_length=200, description="Voice id or speaker name; empty = default"),
        style_wav: str = Query("", max_length=2000, description="Not supported: must be empty"),
        language_id: str = Query("", max_length=50, description="Language; empty = the voice's"),
    ) -> Response:
        """Coqui tts-server compatible: speak `text`, WAV back."""
        request = coqui_request(text, speaker_id, style_wav, language_id, service.voices)
        rendered = await service.synthesize(request, http_request)
        body = await asyncio.to_thread(media.wav_bytes, rendered.wav, rendered.voice.sample_rate)
        return Response(body, media_type="audio/wav", headers=wav_headers(rendered))

    @app.post(
        "/v1/audio/speech",
        response_class=Response,
        responses={200: {"content": {"audio/wav": {}, "audio/pcm": {}}}, **_ERRORS},
    )
    async def openai_speech(body: SpeechRequest, http_request: Request) -> Response:
        """OpenAI compatible: speak `input`; wav or pcm (s16le mono at X-Sample-Rate) back."""
        request = openai_request(body, service.voices)
        rendered = await service.synthesize(request, http_request)
        rate = rendered.voice.sample_rate
        headers = {**wav_headers(rendered), "X-Sample-Rate": str(rate)}
        if body.response_format == "pcm":
            pcm = await asyncio.to_thread(media.pcm16_bytes, rendered.wav, rate)
            return Response(pcm, media_type="audio/pcm", headers=headers)
        wav = await asyncio.to_thread(media.wav_bytes, rendered.wav, rate)
        return Response(wav, media_type="audio/wav", headers=headers)
