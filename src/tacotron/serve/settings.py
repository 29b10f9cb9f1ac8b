"""Limits and batching knobs of the HTTP service.

These belong to a running server, not to a trained model, so they are not part of `Config` (which is
saved into checkpoints): the same checkpoint is served with whatever limits the host can afford.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServeSettings:
    """What one `tacotron serve` process accepts and how it batches work."""

    max_text_chars: int = 1000  # longer texts get 422; split into sentences below this
    max_sentence_chars: int = 200  # a longer "sentence" is split again at commas, then at spaces
    max_body_bytes: int = 64 * 1024  # request bodies above this get 413 before JSON parsing
    max_concurrent: int = 32  # requests admitted at once (queued or running); more get 503
    request_timeout_s: float = 60.0  # a request not synthesised by then gets 504
    max_batch_size: int = 8  # sentences per model call
    batch_wait_ms: float = 10.0  # how long the batcher waits for more work before a model call
    pause_seconds: float = 0.15  # silence put between the sentences of one request
    min_speed: float = 0.5  # `speed` bounds (a phase-vocoder time stretch of the waveform)
    max_speed: float = 2.0

    def __post_init__(self) -> None:
        positive = {
            "max_text_chars": self.max_text_chars,
            "max_sentence_chars": self.max_sentence_chars,
            "max_body_bytes": self.max_body_bytes,
            "max_concurrent": self.max_concurrent,
            "request_timeout_s": self.request_timeout_s,
            "max_batch_size": self.max_batch_size,
        }
        for name, value in positive.items():
            if value <= 0:
                raise ValueError(f"ServeSettings.{name} must be positive, got {value}")
        if self.batch_wait_ms < 0 or self.pause_seconds < 0:
            raise ValueError("ServeSettings.batch_wait_ms and pause_seconds must be >= 0")
        if not 0 < self.min_speed <= 1.0 <= self.max_speed:
            raise ValueError(
                f"speed bounds must satisfy 0 < min <= 1 <= max, got {self.min_speed}, {self.max_speed}"
            )
