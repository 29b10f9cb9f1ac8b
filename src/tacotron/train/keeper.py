"""`CheckpointKeeper`: the one owner of a run's checkpoint files and of which of them are healthy.

Why one owner: resume, rotation, rollback and "the last healthy checkpoint" all answer questions about
the same files. A checkpoint is healthy when no anomaly was reported between the previous save and this
one and every weight and buffer is finite; only healthy `step_*.pt` files are rollback targets, and
rotation never deletes the newest healthy one. The Debug Reporter and the live controller ask this
object (through `Trainer.last_healthy_checkpoint`), they keep no list of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from tacotron.model.checkpoint import STEP_PATTERN
from tacotron.train.checkpoint import CheckpointManager

log = logging.getLogger(__name__)


def nonfinite_state(model: torch.nn.Module) -> list[str]:
    """Names of floating-point parameters and buffers holding inf or nan (one host sync)."""
    names, checks = [], []
    for name, tensor in model.state_dict().items():
        if torch.is_tensor(tensor) and tensor.is_floating_point():
            names.append(name)
            checks.append(torch.isfinite(tensor).all())
    if not checks:
        return []
    finite = torch.stack(checks).tolist()
    return [name for name, ok in zip(names, finite, strict=True) if not ok]


class CheckpointKeeper:
    """Saves (rank 0 only), finds the checkpoint to resume from, and knows the healthy ones.

    log_event: the run's `EventLog.log` (a checkpoint judged unhealthy is an event).
    """

    def __init__(self, run_dir: Path, keep_last: int, *, is_main: bool, log_event: Callable[..., Any]):
        self.files = CheckpointManager(Path(run_dir) / "checkpoints", keep_last)
        self.is_main = is_main
        self._log_event = log_event
        self._healthy: list[Path] = []
        self._anomaly_since_save = False
        self.last_saved_step: int | None = None

    @property
    def dir(self) -> Path:
        return self.files.dir

    def step_path(self, step: int) -> Path:
        return self.files.step_path(step)

    def latest(self) -> Path | None:
        return self.files.latest()

    def remove_stale_temp_files(self) -> None:
        if self.is_main:
            self.files.remove_stale_temp_files()

    # ---- health ---------------------------------------------------------------------------------
    def note_anomaly(self) -> None:
        """Something went wrong since the last save: the next checkpoint is not a rollback target."""
        self._anomaly_since_save = True

    def clear_anomaly(self) -> None:
        """After a rollback the weights are those of a healthy checkpoint again."""
        self._anomaly_since_save = False

    def trust(self, path: Path) -> None:
        """A checkpoint known to be healthy from before (the one a run resumes from)."""
        self._healthy.append(Path(path))

    def last_healthy(self) -> Path | None:
        """Newest healthy `step_*.pt` still on disk, or None."""
        for path in reversed(self._healthy):
            if path.is_file():
                return path
        return None

    # ---- saving ---------------------------------------------------------------------------------
    def save(self, state: dict[str, Any], step: int, model: torch.nn.Module, tag: str | None = None) -> Path:
        """Write `step_XXXXXXXX.pt` (rotated) or `<tag>.pt`; judge a step checkpoint's health.

        Other ranks write nothing and return the path rank 0 writes.
        """
        path = self.files.step_path(step) if tag is None else self.files.dir / f"{tag}.pt"
        if not self.is_main:
            return path
        healthy = self.last_healthy()
        self.files.protected = {healthy} if healthy is not None else set()
        path = self.files.save(state, step, tag)
        if tag is None:
            self.last_saved_step = step
            self._judge(path, step, model)
        log.info("step %d: saved %s", step, path)
        return path

    def _judge(self, path: Path, step: int, model: torch.nn.Module) -> None:
        bad = nonfinite_state(model)
        if self._anomaly_since_save or bad:
            why = f"non-finite weights {bad[:3]}" if bad else "anomalies since the previous checkpoint"
            self._log_event(
                step, "checkpoint_unhealthy", reason=why, action="not a rollback target", path=str(path)
            )
        elif STEP_PATTERN.match(path.name):
            self._healthy.append(path)
        self._anomaly_since_save = False
