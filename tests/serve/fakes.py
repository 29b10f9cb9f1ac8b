"""A fake synthesizer for serve tests: deterministic audio and a clean diagonal alignment, optionally slow.

Why: the tiny random checkpoint stops after one frame, so its alignments say nothing about words, and its
speed cannot be controlled; this one reads one symbol per decoder step (r=1) and records when each text
was synthesised, so word timings and streaming order can be checked exactly.
"""

from __future__ import annotations

import threading
import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from tacotron.infer.synthesizer import SynthesisResult
from tacotron.text import TextFrontend


@dataclass
class FakeSynthesizer:
    cfg: object
    delay_s: float = 0.0  # per synthesize() call
    r: int = 1
    calls: list[tuple[list[str], float, float]] = field(default_factory=list)  # (texts, started, finished)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.frontend = TextFrontend(self.cfg.text)

    def synthesize(self, texts: list[str], batch_size: int = 8, *, seed: int | None = None) -> list:
        started = time.monotonic()
        if self.delay_s:
            time.sleep(self.delay_s)
        results = [self._one(text) for text in texts]
        with self.lock:
            self.calls.append((list(texts), started, time.monotonic()))
        return results

    def _one(self, text: str) -> SynthesisResult:
        cleaned = self.frontend.clean(text)
        steps = len(cleaned) + 1  # one step per symbol, EOS included
        hop, rate = self.cfg.audio.hop_length, self.cfg.audio.sample_rate
        rng = np.random.default_rng(zlib.crc32(text.encode()))
        wav = (rng.standard_normal(steps * self.r * hop) * 0.3).astype(np.float32)
        return SynthesisResult(
            text=text,
            wav=wav,
            sample_rate=rate,
            mel=np.zeros((self.cfg.audio.n_mels, steps * self.r), dtype=np.float32),
            alignment=np.eye(steps, dtype=np.float32),
            frames=steps * self.r,
            stop_reason="gate",
            seconds=0.0,
            cleaned=cleaned,
        )
