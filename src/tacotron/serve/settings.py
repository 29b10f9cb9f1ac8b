"""Limits, batching knobs and access rules of the HTTP service.

These belong to a running server, not to a trained model, so they are not part of `Config` (which is
saved into checkpoints): the same checkpoint is served with whatever limits the host can afford.
The API key is kept out of `repr` (and so out of logs and tracebacks).
"""

from __future__ import annotations

from dataclasses import dataclass, field

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
MIN_API_KEY_CHARS = 16


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
    max_per_client: int = 4  # requests in flight from one client address; more get 429
    allow_truncated: bool = False  # audio cut at max_decoder_steps: 422 (default) or 200 marked X-Truncated
    # Host header names served (port ignored; "*" = any). Others get 421: DNS-rebinding protection.
    allowed_hosts: tuple[str, ...] = LOOPBACK_HOSTS
    api_key: str | None = field(default=None, repr=False)  # when set, /api/* (but health) needs it

    def __post_init__(self) -> None:
        positive = {
            "max_text_chars": self.max_text_chars,
            "max_sentence_chars": self.max_sentence_chars,
            "max_body_bytes": self.max_body_bytes,
            "max_concurrent": self.max_concurrent,
            "request_timeout_s": self.request_timeout_s,
            "max_batch_size": self.max_batch_size,
            "max_per_client": self.max_per_client,
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
        if not self.allowed_hosts or any(not h or h != h.strip() for h in self.allowed_hosts):
            raise ValueError(f"ServeSettings.allowed_hosts must be non-empty names, got {self.allowed_hosts}")
        if self.api_key is not None:
            check_api_key(self.api_key)


def check_api_key(key: str) -> None:
    """A usable key: long enough and printable ASCII without spaces (it travels in a header). The
    message never contains the key."""
    if len(key) < MIN_API_KEY_CHARS:
        raise ValueError(
            f"the API key has {len(key)} characters, at least {MIN_API_KEY_CHARS} are needed; make one with "
            '`python -c "import secrets; print(secrets.token_urlsafe(32))"`'
        )
    if not all("!" <= c <= "~" for c in key):
        raise ValueError("the API key must be printable ASCII without spaces or control characters")
