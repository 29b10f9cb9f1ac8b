"""`MetricsWindow`: what the train log line reports, summed over the steps since the previous line.

Host floats and CPU counts only, so logging adds no device sync: frames/s and padding come from the
host batches' lengths, the losses and grad norm from the step's one packed host read.
"""

from __future__ import annotations

import math
import time
from typing import Any

from tacotron.train.callbacks import StepResult
from tacotron.train.loader import padding_stats


class MetricsWindow:
    """Sums over the steps since the last train log line (host floats and CPU counts only)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.losses: dict[str, float] = {}
        self.steps = self.finite_norms = 0
        self.grad_norm = 0.0
        self.real = self.padded = self.items = 0
        self.start = time.monotonic()

    def count(self, host_batch: Any) -> None:
        real, padded = padding_stats(host_batch)
        self.real += real
        self.padded += padded
        self.items += host_batch.size

    def add(self, result: StepResult) -> None:
        self.steps += 1
        for name, value in result.losses.items():
            self.losses[name] = self.losses.get(name, 0.0) + value
        if math.isfinite(result.grad_norm):
            self.grad_norm += result.grad_norm
            self.finite_norms += 1

    def flush(self, world_size: int) -> dict[str, float]:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        record = {name: total / max(self.steps, 1) for name, total in self.losses.items()}
        record["grad_norm"] = self.grad_norm / self.finite_norms if self.finite_norms else float("nan")
        record["frames_per_s"] = self.real * world_size / elapsed
        record["padding_fraction"] = 1.0 - self.real / max(self.padded, 1)
        record["items_per_step"] = self.items * world_size / max(self.steps, 1)
        self._reset()
        return record
