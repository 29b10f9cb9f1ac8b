"""`Steering`: the values callbacks may change while a run trains, each change through a logged setter.

Why one object: the Debug Reporter and the Smart Tuner's live controller lower the LR, switch fp16 to
bf16 and raise the guided-attention weight mid-run. Writing those into the config (shared mutable state)
made them invisible in the event log, lost on resume and hard to keep equal across DDP ranks. Here the
config stays frozen; the current values live in this object, every setter writes one event, the
checkpoint stores them, and under DDP rank 0's `SteeringValues` are broadcast whole to the other ranks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

import tacotron.train.distributed as distributed
from tacotron.train.optim import LRSchedule
from tacotron.train.precision import Precision

LogEvent = Callable[..., Any]  # EventLog.log(step, event, reason=..., action=...)


@dataclass(frozen=True)
class SteeringValues:
    """A snapshot: LR scale (x the schedule), precision name, guided-attention base weight (None = config)."""

    lr_scale: float
    precision: str
    guided_attn_weight: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Steering:
    """Owns the steerable values of one run; `values()` / `apply()` for checkpoints and DDP broadcast.

    lr_schedule and precision are the trainer's parts that act on the values (the LR of every param
    group, the autocast dtype and GradScaler); `log_event` is the run's `EventLog.log`.
    """

    def __init__(self, lr_schedule: LRSchedule, precision: Precision, log_event: LogEvent):
        self._lr_schedule = lr_schedule
        self._precision = precision
        self._log_event = log_event
        self._guided_attn_weight: float | None = None
        self._synced: SteeringValues | None = None

    # ---- reading -----------------------------------------------------------------------------------
    def values(self) -> SteeringValues:
        return SteeringValues(self._lr_schedule.scale, self._precision.name, self._guided_attn_weight)

    @property
    def guided_attn_weight(self) -> float | None:
        """The guided-attention base weight set mid-run (decayed by the loss schedule), None = config's."""
        return self._guided_attn_weight

    # ---- logged setters ----------------------------------------------------------------------------
    def scale_lr(self, factor: float, step: int) -> float:
        """Multiply the LR (now and for the rest of the schedule) by `factor`; returns the new LR."""
        if not factor > 0:
            raise ValueError(f"scale_lr: factor must be > 0, got {factor}")
        self._lr_schedule.scale *= factor
        lr = self._lr_schedule.apply(step)
        self._log_event(step, "lr_scaled", reason=f"x{factor:g}", action=f"lr={lr:.3g}")
        return lr

    def set_precision(self, name: str, step: int) -> None:
        """fp32/bf16/fp16 from the next step on (e.g. fp16 -> bf16 after an overflow rollback)."""
        old = self._precision.name
        self._precision.set(name)
        self._log_event(step, "precision_changed", reason=f"{old} -> {name}", action="set_precision")

    def set_guided_attn_weight(self, weight: float, step: int) -> None:
        """New guided-attention base weight (the loss's decay schedule still applies to it)."""
        if not weight >= 0:
            raise ValueError(f"guided-attention weight must be >= 0, got {weight}")
        old = self._guided_attn_weight
        self._guided_attn_weight = float(weight)
        before = "config" if old is None else f"{old:g}"
        self._log_event(
            step,
            "guided_attn_weight_changed",
            reason=f"{before} -> {weight:g}",
            action="set_guided_attn_weight",
        )

    # ---- restoring (resume, DDP broadcast): no events, the values were logged where they were set ----
    def apply(self, values: SteeringValues, step: int) -> None:
        self._lr_schedule.scale = values.lr_scale
        self._lr_schedule.apply(step)
        if values.precision != self._precision.name:
            self._precision.set(values.precision)
        self._guided_attn_weight = values.guided_attn_weight

    def restore_guided_attn_weight(self, weight: float | None) -> None:
        """From a checkpoint's "steering" entry (LR scale and precision have their own entries)."""
        self._guided_attn_weight = None if weight is None else float(weight)

    # ---- DDP ---------------------------------------------------------------------------------------
    def sync(
        self,
        dist: distributed.DistInfo,
        device: torch.device,
        step: int,
        rollback: Path | None,
        load_rollback: Callable[[Path], int],
    ) -> None:
        """Every rank takes rank 0's pending `rollback` and its values (`load_rollback(path)` -> new step).

        All ranks call this at the same points (after `on_train_start`, at the end of every step), so all
        load the same checkpoint at the same step. Costs one flag all-reduce; the broadcast of the whole
        `SteeringValues` happens only when rank 0 rolled back or changed a value. No-op in one process.
        """
        if not dist.enabled:
            return
        values = self.values()
        changed = dist.is_main and (rollback is not None or values != self._synced)
        flag = torch.tensor([1.0 if changed else 0.0], device=device)
        if distributed.agree(flag, dist).item() == 0:
            return
        decision = distributed.broadcast_object(
            {"rollback": None if rollback is None else str(rollback), "steering": values.to_dict()}, dist
        )
        self._synced = SteeringValues(**decision["steering"])
        if not dist.is_main:
            if decision["rollback"] is not None:
                step = load_rollback(Path(decision["rollback"]))
            self.apply(self._synced, step)
