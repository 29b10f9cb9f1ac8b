"""The Trainer's checkpoint side: what a checkpoint holds, saving, exact resume, rollback, warm start.

A checkpoint is self-describing (see docs/ARCHITECTURE.md): model, optimizer, LR schedule, GradScaler,
precision, step, sampler position, RNG states, full config, symbol table, r and the best-metric state,
so `Synthesizer.from_checkpoint` and `--resume` rebuild everything from it alone.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

import tacotron.train.distributed as distributed
from tacotron.model.checkpoint import FORMAT_VERSION, load_checkpoint
from tacotron.train.checkpoint import capture_rng_state

log = logging.getLogger(__name__)


class StateMixin:
    """Checkpoint methods of `Trainer` (split out to keep each file readable)."""

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything needed to continue this run bit-exactly (RNG states captured now)."""
        return {
            "format_version": FORMAT_VERSION,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.lr_schedule.state_dict(),
            "scaler": self.precision.scaler.state_dict(),
            "precision": self.precision.name,
            "step": self.step,
            "epoch": self.epoch,
            "sampler": self._stream.state_dict(),
            "rng": capture_rng_state(),
            "config": self.cfg.to_dict(),
            "symbols": self.symbols,
            "r": self._stage.r,
            "best": dict(self.best),
            "metrics": dict(self.val_metrics),
            "skipped_steps": self.skipped_steps,
            "world_size": self.dist.world_size,
        }

    def save_checkpoint(self, tag: str | None = None) -> Path:
        """Write `checkpoints/step_XXXXXXXX.pt` (or `<tag>.pt`) atomically; only rank 0 writes.

        Other ranks return the path rank 0 writes, without waiting for it.
        """
        path = self.checkpoints.step_path(self.step) if tag is None else self.checkpoints.dir / f"{tag}.pt"
        if not self.is_main:
            return path
        healthy = self.last_healthy_checkpoint()
        self.checkpoints.protected = {healthy} if healthy is not None else set()
        path = self.checkpoints.save(self.checkpoint_state(), self.step, tag)
        if tag is None:
            self._last_saved_step = self.step
            if not self._anomaly_since_save:
                self._healthy.append(path)
            self._anomaly_since_save = False
        log.info("step %d: saved %s", self.step, path)
        self.callbacks.call("on_checkpoint", self, path)
        return path

    def _resume(self, path: Path) -> None:
        """Load a run's checkpoint into the freshly built model/optimizer; sampler and RNG follow in setup."""
        ckpt = load_checkpoint(path)
        self._check_same_model(ckpt, path)
        self.lr_schedule.load_state_dict(ckpt["scheduler"])
        self._load_training_state(ckpt)
        self.best = dict(ckpt["best"])
        self.val_metrics = dict(ckpt.get("metrics", {}))
        self.skipped_steps = int(ckpt.get("skipped_steps", 0))
        self._resume_state = {"sampler": ckpt["sampler"], "rng": ckpt["rng"]}
        self._last_saved_step = self.step
        self._healthy.append(path)
        if ckpt.get("world_size", 1) != self.dist.world_size:
            log.warning(
                "resuming a %s-process run with %d processes: the data order differs from an "
                "uninterrupted run",
                ckpt.get("world_size"),
                self.dist.world_size,
            )
        self.events.log(self.step, "resumed", reason=str(path), action="continue")

    def _check_same_model(self, ckpt: dict[str, Any], path: Path) -> None:
        saved = ckpt["config"]["model"]
        now = self.cfg.to_dict()["model"]
        diff = {k: (saved.get(k), v) for k, v in now.items() if saved.get(k) != v}
        if diff:
            raise ValueError(
                f"{path}: the model config differs from the checkpoint's (key: (checkpoint, now)): {diff}; "
                "use a new --run folder, or --init-from to warm-start from this checkpoint"
            )
        if ckpt["symbols"] != self.symbols:
            raise ValueError(f"{path}: the dataset's symbol table differs from the checkpoint's")

    def _load_training_state(self, ckpt: dict[str, Any]) -> None:
        """Model, optimizer, precision + scaler, step (not the LR scale: see `rollback`)."""
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.precision.set(ckpt["precision"])
        if self.precision.scaler.is_enabled() and ckpt["scaler"]:
            self.precision.scaler.load_state_dict(ckpt["scaler"])
        self.step = int(ckpt["step"])
        self.lr_schedule.apply(self.step)

    def rollback(self, path: str | Path) -> None:
        """Return model, optimizer, scaler and step to checkpoint `path`; the data stream moves on.

        The LR scale set through `scale_lr` is kept (a recovery policy typically rolls back, then lowers
        the LR), and the batches after the checkpoint are not replayed, so a bad batch is not met again.
        The rest of the step's post-processing (evaluation, checkpoint) is skipped after a rollback.
        Under DDP rank 0 decides, as only it knows which checkpoints are healthy: its call acts at once
        there and on the other ranks at the end of the step (`_sync_steering`); a call on another rank
        is ignored (logged).
        """
        path = Path(path)
        if self.dist.enabled and not self.is_main:
            log.info("rank %d: rollback to %s ignored: under DDP rank 0 decides", self.dist.rank, path)
            return
        self._load_rollback(path)
        if self.dist.enabled:
            self._pending_rollback = path

    def _load_rollback(self, path: Path) -> None:
        ckpt = load_checkpoint(path)
        from_step = self.step
        self._load_training_state(ckpt)
        self._zero_grad()
        self._anomaly_since_save = False
        self._rollback_generation += 1
        self.events.log(from_step, "rollback", reason=f"to step {self.step}", action=str(path))

    def _steering(self) -> tuple[float, str, float]:
        """What callbacks change mid-run and every rank must share: LR scale, precision, guided-attn weight."""
        return (self.lr_schedule.scale, self.precision.name, self.cfg.loss.guided_attn_weight)

    def _sync_steering(self) -> None:
        """DDP: every rank takes rank 0's pending rollback and its steering values (no-op in one process).

        Called by all ranks at fixed points (after `on_train_start`, at the end of every step, before
        the stop check reads the step), so all load the same checkpoint at the same step. Costs one flag
        all-reduce; the object broadcast happens only when rank 0 rolled back or changed a value.
        """
        if not self.dist.enabled:
            return
        steering = self._steering()
        changed = self.is_main and (self._pending_rollback is not None or steering != self._synced_steering)
        flag = torch.tensor([1.0 if changed else 0.0], device=self.device)
        if distributed.agree(flag, self.dist).item() == 0:
            return
        target = self._pending_rollback
        decision = distributed.broadcast_object(
            {"rollback": None if target is None else str(target), "steering": steering}, self.dist
        )
        self._pending_rollback = None
        if not self.is_main:
            if decision["rollback"] is not None:
                self._load_rollback(Path(decision["rollback"]))
            self._apply_steering(*decision["steering"])
        self._synced_steering = tuple(decision["steering"])

    def _apply_steering(self, lr_scale: float, precision: str, guided_attn_weight: float) -> None:
        self.lr_schedule.scale = lr_scale
        self.lr_schedule.apply(self.step)
        if precision != self.precision.name:
            self.precision.set(precision)
            self.cfg.train.precision = precision
        self.cfg.loss.guided_attn_weight = guided_attn_weight

    def _warm_start(self, path: Path, skip: tuple[str, ...]) -> None:
        """Copy matching weights from `path` (any run's checkpoint); skipped or missing names stay initialised."""
        state = load_checkpoint(path)["model"]
        own = self.model.state_dict()
        loaded, skipped = {}, []
        for name, value in state.items():
            if name.startswith(skip) or name == "_extra_state":
                skipped.append(name)
                continue
            if name not in own:
                raise ValueError(
                    f"--init-from {path}: parameter {name!r} does not exist in this model "
                    f"(skip it with --init-skip {name.rsplit('.', 1)[0]})"
                )
            if own[name].shape != value.shape:
                raise ValueError(
                    f"--init-from {path}: {name!r} has shape {tuple(value.shape)} in the checkpoint but "
                    f"{tuple(own[name].shape)} here; pass --init-skip {name.rsplit('.', 1)[0]} to re-initialise it"
                )
            loaded[name] = value
        with torch.no_grad():
            self.model.load_state_dict(loaded, strict=False)
        fresh = [n for n in own if n not in loaded and n != "_extra_state"]
        self.events.log(
            0,
            "init_from",
            reason=str(path),
            action=f"loaded {len(loaded)} tensors",
            skipped=skipped,
            initialised=fresh,
        )
