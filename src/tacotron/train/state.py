"""`TrainState`: the progress record of a run (step, skipped steps, best metric, last validation).

Why a record of its own: these few numbers are what a checkpoint must carry besides the weights, what
`TrainResult` reports, and what early stopping reads. Keeping them in one dataclass (instead of loose
trainer attributes) makes the handoff to the checkpoint and back explicit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class BestMetric:
    """The best value of `train.best_metric` so far (lower is better) and evaluations since it improved."""

    value: float | None = None
    step: int | None = None
    bad_evals: int = 0

    def update(self, value: float, step: int) -> bool:
        """Record an evaluation; True when it is a new best (NaN and ties are not)."""
        if math.isfinite(value) and (self.value is None or value < self.value):
            self.value, self.step, self.bad_evals = value, step, 0
            return True
        self.bad_evals += 1
        return False

    def update_from(self, metrics: dict[str, float], name: str, step: int) -> bool:
        """`update` with `metrics[name]`; a name not among the metrics is a KeyError listing them."""
        if name not in metrics:
            raise KeyError(
                f"train.best_metric {name!r} is not among the validation metrics {sorted(metrics)}"
            )
        return self.update(metrics[name], step)

    def exhausted(self, patience: int) -> bool:
        """`patience` evaluations in a row without a new best (0 = never)."""
        return bool(patience) and self.bad_evals >= patience

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "step": self.step, "bad_evals": self.bad_evals}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BestMetric:
        return cls(data.get("value"), data.get("step"), int(data.get("bad_evals", 0)))


@dataclass
class TrainState:
    """step: optimizer steps done; skipped_steps: updates not applied; val_metrics: the last validation."""

    step: int = 0
    skipped_steps: int = 0
    best: BestMetric = field(default_factory=BestMetric)
    val_metrics: dict[str, float] = field(default_factory=dict)

    def to_checkpoint(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "skipped_steps": self.skipped_steps,
            "best": self.best.to_dict(),
            "metrics": dict(self.val_metrics),
        }

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> TrainState:
        return cls(
            step=int(ckpt["step"]),
            skipped_steps=int(ckpt.get("skipped_steps", 0)),
            best=BestMetric.from_dict(ckpt["best"]),
            val_metrics=dict(ckpt.get("metrics", {})),
        )
