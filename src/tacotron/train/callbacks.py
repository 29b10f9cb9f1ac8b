"""Extension points of the training loop: `Callback` and the per-step `StepResult`.

Why callbacks: the Debug Reporter, the Smart Tuner's live controller and tests all need to watch and
steer training (lower the LR, roll back, stop). Written into the loop, each would make it harder to
read; as callbacks they plug in from outside and the loop stays one loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tacotron.data.batch import Batch
    from tacotron.train.schedule import SchedulePoint
    from tacotron.train.trainer import Trainer


@dataclass
class StepResult:
    """What one optimizer step did.

    losses: every loss term by name (summed over the accumulated micro-batches), as floats.
    grad_norm: global gradient norm before clipping (inf/nan when the step was skipped for it).
    skipped: True when the update was not applied (non-finite gradient, or GradScaler's inf check).
    batch: the last micro-batch of the step (on the training device).
    output: its detached model output (`Tacotron2Output`), or None.
    skip_reason: why the update was not applied ("" when it was).
    """

    step: int
    losses: dict[str, float]
    grad_norm: float
    lr: float
    skipped: bool
    batch: Batch
    output: Any = None
    skip_reason: str = ""


@dataclass
class UpdateInfo:
    """A finished backward pass whose (clipped) update is about to be applied: what a veto can judge.

    step: the step number the update would complete (== the coming `StepResult.step`).
    losses / grad_norm: the same all-reduced floats the `StepResult` will carry.
    reason: a callback returning False from `on_before_optimizer_step` may set it; it is logged.
    """

    step: int
    losses: dict[str, float]
    grad_norm: float
    lr: float
    batch: Batch
    reason: str = ""


class Callback:
    """Base class; every hook is a no-op, override the ones you need.

    Hooks run on every rank under DDP; a callback that writes files should check `trainer.is_main`.
    Steering under DDP is rank 0's: its `trainer.rollback`, LR scale, precision and guided-attention
    weight reach the other ranks at the end of the step; `rollback` called on another rank is ignored.
    """

    def on_train_start(self, trainer: Trainer) -> None:
        """After setup (and resume), before the first step."""

    def on_before_optimizer_step(self, trainer: Trainer, info: UpdateInfo) -> bool | None:
        """Before a finite update is applied; return False to skip it (e.g. a loss spike's step).

        Only called when some callback overrides it (so plain runs pay nothing). The step still counts
        (step number, LR schedule) and is reported as skipped. Under DDP any rank's False skips the
        update on every rank (one extra all-reduce of a flag per step while a callback overrides it).
        """
        return None

    def on_step_end(self, trainer: Trainer, result: StepResult) -> None:
        """After every optimizer step (`trainer.step` is already incremented)."""

    def on_eval_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        """After validation, with `val/...` losses and attention health metrics (main rank only)."""

    def on_stage_change(self, trainer: Trainer, stage: SchedulePoint) -> None:
        """`train.r_schedule` switched r and/or batch size; the next step is the first of `stage`.

        Loss and gradient norm move to a new scale at a switch, so statistics of the old stage stop
        describing the run (not called at train start, on resume or when a rollback restores a stage).
        """

    def on_checkpoint(self, trainer: Trainer, path: Path) -> None:
        """After a checkpoint was written and renamed into place (main rank only)."""

    def on_anomaly(self, trainer: Trainer, anomaly: dict[str, Any]) -> None:
        """A problem the trainer saw, e.g. {"kind": "nonfinite_grad", "step", "batch_ids", ...}."""

    def on_event(self, trainer: Trainer, record: dict[str, Any]) -> None:
        """Every events.jsonl record as it is written ({"step", "time", "event", "reason", "action", ...}).

        Called on every rank, also for events logged during setup (resume, warm start); a callback must
        not log an event from here (it would be called again with it).
        """

    def on_train_end(self, trainer: Trainer) -> None:
        """After the last checkpoint, before the process group is torn down."""

    def on_crash(self, trainer: Trainer, error: BaseException) -> None:
        """Training raised `error` (it is re-raised afterwards): close trackers, send alerts."""


class CallbackList:
    """Calls a hook on each callback in order; exceptions propagate (a broken callback stops training)."""

    def __init__(self, callbacks: list[Callback] | tuple[Callback, ...] = ()):
        self.callbacks = list(callbacks)

    def __iter__(self):
        return iter(self.callbacks)

    def call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def implements(self, hook: str) -> bool:
        """True when some callback overrides `hook` (the trainer skips work for hooks nobody uses)."""
        base = getattr(Callback, hook)
        return any(getattr(type(cb), hook, base) is not base for cb in self.callbacks)

    def veto(self, trainer: Trainer, info: UpdateInfo, dist: Any, device: Any) -> str:
        """Ask `on_before_optimizer_step`: "" applies the update, else why it is skipped (all ranks alike).

        Nothing is called, and under DDP nothing is all-reduced, unless a callback overrides the hook.
        """
        if not self.implements("on_before_optimizer_step"):
            return ""
        vetoed_by = self.vetoes("on_before_optimizer_step", trainer, info)
        if dist.enabled:
            import torch

            from tacotron.train.distributed import agree

            flag = torch.tensor([1.0 if vetoed_by else 0.0], device=device)
            if agree(flag, dist).item() == 0:
                return ""
            if not vetoed_by:
                return "update vetoed on another rank"
        if not vetoed_by:
            return ""
        return info.reason or f"vetoed by {', '.join(vetoed_by)}"

    def vetoes(self, hook: str, *args: Any) -> list[str]:
        """Call `hook` on every callback (all see it, even after a veto); names of those that returned False."""
        return [type(cb).__name__ for cb in self.callbacks if getattr(cb, hook)(*args) is False]
