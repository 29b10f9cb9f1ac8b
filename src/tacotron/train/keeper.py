"""`CheckpointKeeper`: the one owner of a run's checkpoint files, their content, and which are healthy.

Why one owner: saving, resume, rotation, rollback and "the last healthy checkpoint" all answer questions
about the same files. The keeper writes and reads the checkpoint format (see docs/ARCHITECTURE.md):
model, optimizer, LR scale, GradScaler, precision, `TrainState`, steering, sampler position, RNG states,
full config, symbol table and r, so resume continues a run bit-exactly and inference needs nothing else. A checkpoint is healthy when no anomaly was reported between the previous save and this
one and every weight and buffer is finite; only healthy `step_*.pt` files are rollback targets, and
rotation never deletes the newest healthy one. The Debug Reporter and the live controller ask this
object (through `Trainer.last_healthy_checkpoint`), they keep no list of their own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tacotron.model.checkpoint import FORMAT_VERSION, STEP_PATTERN, CheckpointError, load_checkpoint
from tacotron.train.checkpoint import CheckpointManager, capture_rng_state
from tacotron.train.optim import LRSchedule
from tacotron.train.precision import Precision
from tacotron.train.state import TrainState
from tacotron.train.steering import Steering

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


@dataclass
class RunParts:
    """The trainer's parts whose state a checkpoint holds (handed to the keeper explicitly)."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    lr_schedule: LRSchedule
    precision: Precision
    steering: Steering


@dataclass
class RunIdentity:
    """What must match for a checkpoint to continue this run: model config, symbol and speaker tables."""

    config: dict[str, Any]  # Config.to_dict()
    symbols: dict[str, Any]  # SymbolTable.to_dict()
    world_size: int
    speakers: list[str] = field(default_factory=list)  # names in id order; [] = single-speaker


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
        self.skipped_damaged: list[Path] = []  # newer checkpoints `newest_intact` could not read

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

    # ---- content ---------------------------------------------------------------------------------
    def content(
        self, parts: RunParts, state: TrainState, run: RunIdentity, **position: Any
    ) -> dict[str, Any]:
        """Everything needed to continue the run bit-exactly (RNG states captured now).

        position: where the data stream stands: "epoch", "sampler" (BatchStream.state_dict()), "r".
        """
        return {
            "format_version": FORMAT_VERSION,
            "model": parts.model.state_dict(),
            "optimizer": parts.optimizer.state_dict(),
            "scheduler": parts.lr_schedule.state_dict(),
            "scaler": parts.precision.scaler.state_dict(),
            "precision": parts.precision.name,
            **state.to_checkpoint(),
            **position,
            "rng": capture_rng_state(),
            "config": run.config,
            "symbols": run.symbols,
            "speakers": run.speakers,
            "steering": {"guided_attn_weight": parts.steering.guided_attn_weight},
            "world_size": run.world_size,
        }

    def newest_intact(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest `step_*.pt` that loads, with its content; a damaged newer one (truncated by a full disk,
        a copy cut short) is named in the log and an event, then skipped, so a run never dies on it."""
        for _, path in reversed(self.files.numbered()):
            try:
                return path, load_checkpoint(path)
            except CheckpointError as err:
                log.warning("skipping %s for resume: %s", path, err)
                self.skipped_damaged.append(path)
        return None

    def resume(
        self, path: Path, ckpt: dict[str, Any], parts: RunParts, run: RunIdentity
    ) -> tuple[TrainState, dict[str, Any]]:
        """Load checkpoint `path` (its loaded content `ckpt`) into `parts`; returns the restored `TrainState`
        and the checkpoint (its "sampler" and "rng" entries are for the caller to restore once its data
        stream exists)."""
        self._check_same_run(ckpt, path, run)
        parts.lr_schedule.load_state_dict(ckpt["scheduler"])
        self._load_weights(ckpt, parts)
        state = TrainState.from_checkpoint(ckpt)
        for damaged in self.skipped_damaged:
            self._log_event(
                state.step, "checkpoint_skipped", reason=f"{damaged.name} is unreadable",
                action=f"resumed from {path.name}", level=logging.WARNING, path=str(damaged),
            )  # fmt: skip
        parts.lr_schedule.apply(state.step)
        parts.steering.restore_guided_attn_weight(ckpt.get("steering", {}).get("guided_attn_weight"))
        self.trust(path)
        self.last_saved_step = state.step
        if ckpt.get("world_size", 1) != run.world_size:
            log.warning(
                "resuming a %s-process run with %d processes: the data order differs from an uninterrupted run",
                ckpt.get("world_size"),
                run.world_size,
            )
        self._log_event(state.step, "resumed", reason=str(path), action="continue")
        return state, ckpt

    def rollback(self, path: Path, parts: RunParts, from_step: int) -> int:
        """Load weights, optimizer and precision of `path` (not the steering values); returns its step."""
        ckpt = load_checkpoint(path)
        self._load_weights(ckpt, parts)
        step = int(ckpt["step"])
        parts.lr_schedule.apply(step)
        self.clear_anomaly()
        self._log_event(from_step, "rollback", reason=f"to step {step}", action=str(path))
        return step

    @staticmethod
    def _load_weights(ckpt: dict[str, Any], parts: RunParts) -> None:
        parts.model.load_state_dict(ckpt["model"])
        parts.optimizer.load_state_dict(ckpt["optimizer"])
        parts.precision.set(ckpt["precision"])
        if parts.precision.scaler.is_enabled() and ckpt["scaler"]:
            parts.precision.scaler.load_state_dict(ckpt["scaler"])

    @staticmethod
    def _check_same_run(ckpt: dict[str, Any], path: Path, run: RunIdentity) -> None:
        from tacotron.config import Config

        # keys added since the checkpoint was written read as their defaults (e.g. n_speakers: 0)
        saved, now = Config.from_dict(ckpt["config"]).to_dict()["model"], run.config["model"]
        diff = {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}
        if diff:
            raise ValueError(
                f"{path}: the model config differs from the checkpoint's (key: (checkpoint, now)): {diff}; "
                "use a new --run folder, or --init-from to warm-start from this checkpoint"
            )
        if ckpt["symbols"] != run.symbols:
            raise ValueError(f"{path}: the dataset's symbol table differs from the checkpoint's")
        if ckpt.get("speakers", []) != run.speakers:
            raise ValueError(
                f"{path}: the dataset's speakers {run.speakers} differ from the checkpoint's {ckpt.get('speakers', [])}"
            )
