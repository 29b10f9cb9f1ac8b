"""Request and response bodies of the HTTP API (pydantic models, so they appear in the OpenAPI schema).

Limits that depend on `ServeSettings` (text length, speed range) are checked in the handlers, since these
classes are static; pydantic checks only types and settings-independent bounds.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TTSRequest(BaseModel):
    """What to say and how. Unknown fields are rejected, so a typo ("txt") is a 422, not silence."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, description="Text to speak; long texts are split into sentences")
    language: str | None = Field(None, description="Must match the voice's language when given (en, ru)")
    voice: str | None = Field(None, description="Voice id from /api/voices; default: the first voice")
    speaker: str | None = Field(
        None,
        max_length=200,
        description="Speaker of a multi-speaker voice (its `speakers` in /api/voices); "
        "default: the voice's first; empty or 'default' means the default",
    )
    speed: float = Field(1.0, gt=0, description="Tempo factor, applied as a pitch-preserving time stretch")
    seed: int | None = Field(
        None,
        ge=0,
        le=2**63 - 1,
        description="Fixes prenet-dropout noise: same text+seed gives the same audio",
    )


# OpenAI's preset voice names: an OpenAI client sends one of these, and gets this server's default voice.
OPENAI_VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"}
)
SPEECH_FORMATS = ("wav", "pcm")  # response_format values /v1/audio/speech can produce


class SpeechRequest(BaseModel):
    """OpenAI's `POST /v1/audio/speech` body. `model` is accepted and ignored (one model per voice here);
    `voice` is a voice id from /api/voices, a speaker name of a served voice (that voice and speaker), or an
    OpenAI preset name (= the default voice and speaker); `speed` is the
    same time stretch as /api/tts, within the server's speed bounds (422 outside); `instructions` is
    accepted and ignored. `response_format` other than wav or pcm is a 400 naming the supported ones."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("tts-1", max_length=200, description="Accepted and ignored")
    input: str = Field(min_length=1, description="Text to speak")
    voice: str = Field(
        "alloy", max_length=200, description="Voice id, speaker name, or an OpenAI preset name"
    )
    response_format: str = Field("wav", max_length=50, description="wav (default) or pcm (s16le mono)")
    speed: float = Field(1.0, gt=0, description="Tempo factor, within the server's speed bounds")
    instructions: str | None = Field(None, max_length=4000, description="Accepted and ignored")


class WordTiming(BaseModel):
    """Where one word of the cleaned text is spoken, in seconds of the returned audio."""

    word: str
    start: float
    end: float


class VoiceInfo(BaseModel):
    id: str
    language: str
    sample_rate: int
    vocoder: str
    checkpoint_step: int | None = None
    speakers: list[str] = Field(
        default_factory=list, description="Speaker names to pass as `speaker`; empty = one speaker"
    )


class VoicesResponse(BaseModel):
    default: str
    voices: list[VoiceInfo]


class HealthResponse(BaseModel):
    status: str
    voices: list[str]
    in_flight: int
    max_concurrent: int
    max_per_client: int
    batches: int
    mean_batch_size: float


class Timing(BaseModel):
    """Where the time went; real_time_factor < 1 means faster than real time."""

    mel_frames: int
    audio_seconds: float
    synthesis_seconds: float  # request wall time, queueing included
    frames_per_second: float  # mel frames generated per second of synthesis_seconds
    real_time_factor: float  # synthesis_seconds / audio_seconds


class TTSDetails(BaseModel):
    """The /api/tts/details answer: everything the web page shows."""

    voice: str
    sample_rate: int
    sentences: list[str]
    stop_reasons: list[str]
    truncated: bool = False  # a piece was cut at max_decoder_steps (only with allow_truncated)
    timing: Timing
    wav_base64: str
    alignment_png_base64: str
    # from the attention alignment; None when symbols do not map exactly to words (see words_note)
    words: list[WordTiming] | None = None
    words_note: str = ""


class ErrorResponse(BaseModel):
    detail: str
