"""Health of a HiFi-GAN run: non-finite steps skipped, reported and rolled back; discriminator collapse warned.

Why not `tacotron.health.HealthMonitor`: it is a callback of the Tacotron trainer (attention, r stages,
fp16, DDP). What the vocoder shares with it is reused, not copied: the detectors and the `Anomaly`
record (`tacotron.health.detectors`), the `CheckpointKeeper`'s notion of a healthy checkpoint (no
anomaly since the previous save, every weight finite) and the run's events.jsonl (`EventLog`), so
`tacotron report`-style readers see the same event records. The policy mirrors the Tacotron one:
skip the update and count it; `max_anomalies` in `anomaly_window` steps (or non-finite weights)
roll back to the last healthy checkpoint with a lower LR; after `max_rollbacks` stop, naming it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tacotron.health.detectors import Anomaly, AnomalyWindow, DiscriminatorCollapse, check_step_finite
from tacotron.train.keeper import CheckpointKeeper, nonfinite_state
from tacotron.vocoder.config import VocoderHealthConfig

if TYPE_CHECKING:
    from pathlib import Path

    from tacotron.vocoder.trainer import VocoderTrainer

logger = logging.getLogger(__name__)

FIXES = {
    "nonfinite": "lower lr (--set lr=...), check the dataset's audio for clipping or silence",
    "discriminator_collapse": "lower the discriminators' lr or start from the universal weights (--init universal)",
}


class NonFiniteLossError(RuntimeError):
    """Training stopped on repeated non-finite steps; the message names the last healthy checkpoint."""


class VocoderHealth:
    """One per run. `check` finds a step's non-finite values; `after_step` acts on the step's findings."""

    def __init__(self, cfg: VocoderHealthConfig, keeper: CheckpointKeeper, log_event: Callable[..., Any]):
        """log_event: the run's `EventLog.log` (events.jsonl and a log line)."""
        self.cfg, self.keeper, self.log_event = cfg, keeper, log_event
        self.window = AnomalyWindow(cfg.anomaly_window)
        self.collapse = DiscriminatorCollapse(cfg.collapse_loss, cfg.collapse_steps, cfg.collapse_growth)
        self.rollbacks = 0

    @staticmethod
    def check(step: int, network: str, losses: dict[str, float], grad_norm: float) -> Anomaly | None:
        """Non-finite losses or gradient norm of one network's update (the caller then skips that update)."""
        found = check_step_finite(step, {**losses, f"grad_norm/{network}": grad_norm}, None)
        if found is not None:
            found.details["network"] = network
        return found

    def after_step(
        self, trainer: VocoderTrainer, step: int, losses: dict[str, float], nonfinite: list[Anomaly]
    ) -> None:
        """Report the step's findings; roll back or raise NonFiniteLossError when skipping is not enough."""
        if nonfinite:
            self._nonfinite(trainer, step, nonfinite)
            return
        collapse = self.collapse.update(step, losses["discriminator"], losses["adversarial"])
        if collapse is not None:
            self._report(collapse, "warn: " + FIXES[collapse.kind])

    def _nonfinite(self, trainer: VocoderTrainer, step: int, found: list[Anomaly]) -> None:
        anomaly = found[0]
        for other in found[1:]:
            anomaly.reason += "; " + other.reason
            anomaly.details["values"].update(other.details["values"])
        anomaly.details["skipped"] = [a.details["network"] for a in found]
        bad_weights = nonfinite_state(trainer.networks())
        count = self.window.add(step)
        if not bad_weights and count < self.cfg.max_anomalies:
            self._report(anomaly, f"update skipped; anomaly {count}/{self.cfg.max_anomalies} in window")
            return
        why = f"non-finite weights {bad_weights[:3]}" if bad_weights else (
            f"{count} non-finite steps in {self.cfg.anomaly_window}"
        )  # fmt: skip
        self._report(anomaly, f"roll back ({why})")
        target = self.keeper.last_healthy()
        if target is None or self.rollbacks >= self.cfg.max_rollbacks:
            self._give_up(step, why, anomaly, target)
        trainer.rollback(target, self.cfg.rollback_lr_factor)
        self.rollbacks += 1
        self.window.clear()
        self.log_event(
            step, "recovery", reason=why, level=logging.WARNING, kind="rollback", target=str(target),
            action=f"rolled back to {target.name}; lr x {self.cfg.rollback_lr_factor:g}",
            rollbacks=self.rollbacks, max_rollbacks=self.cfg.max_rollbacks,
        )  # fmt: skip

    def _report(self, anomaly: Anomaly, action: str) -> None:
        """An events.jsonl record and a log line; the next checkpoint is not a rollback target."""
        self.keeper.note_anomaly()
        details = {k: v for k, v in anomaly.to_dict().items() if k not in ("step", "kind", "reason")}
        self.log_event(
            anomaly.step, anomaly.kind, reason=anomaly.reason, action=action, level=logging.WARNING,
            fix=FIXES.get(anomaly.kind, ""), **details,
        )  # fmt: skip

    def _give_up(self, step: int, why: str, anomaly: Anomaly, target: Path | None) -> None:
        last = f"last healthy checkpoint: {target}" if target else "no healthy checkpoint written yet"
        message = (
            f"vocoder step {step}: {anomaly.reason} ({why}; {self.rollbacks} rollbacks of "
            f"health.max_rollbacks={self.cfg.max_rollbacks}); {last}"
        )
        self.log_event(step, "give_up", reason=message, action="stop training", level=logging.ERROR)
        raise NonFiniteLossError(message)
