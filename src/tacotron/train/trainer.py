"""`Trainer`: the one training loop (devices, AMP, accumulation, clipping, checkpoints, DDP, validation).

Setup is split into `_setup_*` methods; extensions (Debug Reporter, Smart Tuner, tests) plug in through
`Callback`s and the public hooks below instead of editing the loop. The loop reads one packed vector
(grad norm, stop flag, loss terms) from the device per optimizer step: the skip decision needs it, and
under DDP the same all-reduce makes every rank agree on skipping and stopping.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import tacotron.train.distributed as distributed
from tacotron.config import Config, ConfigError
from tacotron.model.checkpoint import STEP_PATTERN
from tacotron.train.callbacks import Callback, CallbackList
from tacotron.train.checkpoint import CheckpointManager
from tacotron.train.logging import (
    EventLog,
    JsonlLog,
    MetricsLog,
    TensorBoard,
    attach_file_log,
    detach_file_log,
)
from tacotron.train.loop import TrainLoopMixin
from tacotron.train.state import StateMixin

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """How `fit()` ended: final step, why it stopped, where the checkpoints are."""

    step: int
    epoch: int
    stop_reason: str
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    best_metric: float | None
    skipped_steps: int
    val_metrics: dict[str, float] = field(default_factory=dict)


class Trainer(StateMixin, TrainLoopMixin):
    """Train a Tacotron 2 on a prepared dataset folder, writing everything into `run_dir`.

    cfg: the full config (its audio/text sections are replaced by the dataset's own, so model and data
        cannot drift). resume: continue from the newest `run_dir/checkpoints/step_*.pt` if there is one.
    init_from: warm-start weights from a checkpoint (weights only), skipping parameters whose names start
        with any prefix in `init_skip` (e.g. "encoder.embedding" for a new language).
    Public state for callbacks: cfg, model (unwrapped), optimizer, precision (.scaler), step, epoch, device,
    run_dir, events, metrics, dist, is_main.
    """

    def __init__(
        self,
        cfg: Config,
        dataset_dir: str | Path,
        run_dir: str | Path,
        device: str = "auto",
        callbacks: list[Callback] | tuple[Callback, ...] = (),
        resume: bool = True,
        init_from: str | Path | None = None,
        init_skip: tuple[str, ...] | list[str] = (),
    ):
        self.cfg = cfg.copy()
        self.dataset_dir = Path(dataset_dir)
        self.run_dir = Path(run_dir)
        self.callbacks = CallbackList(callbacks)
        self._resume_enabled = resume
        self.step = 0
        self.skipped_steps = 0
        self._graphed = None  # GraphedTrainStep when train.cuda_graphs is on (see _setup_graphs)
        self.dist, self.device = distributed.init_distributed(device)
        self._setup_run_dir()
        try:
            self._setup_data()
            self._setup_model(init_from, tuple(init_skip))
            self._setup_optimizer()
            self._setup_checkpoints(resume)
            self._setup_stream()
            self._setup_ddp()
            self._setup_graphs()
        except BaseException:
            self.close()  # release log files and the process group, then re-raise
            raise

    @property
    def uses_cuda_graphs(self) -> bool:
        """True when steps replay captured CUDA graphs (Python hooks on parameters do not run then)."""
        return self._graphed is not None

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    @property
    def epoch(self) -> int:
        return self._stream.epoch

    # ---- setup -------------------------------------------------------------------------------------
    def _setup_run_dir(self) -> None:
        main = self.is_main
        if main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        if main:  # history after the checkpoint we continue from is replaced by the re-run steps
            start = self._resume_step()
            for name in ("metrics.jsonl", "events.jsonl"):
                JsonlLog.keep_until(self.run_dir / name, start)
        self._log_handler = attach_file_log(self.run_dir / "train.log") if main else None
        self.events = EventLog(self.run_dir / "events.jsonl", enabled=main)
        self.metrics = MetricsLog(self.run_dir / "metrics.jsonl", enabled=main)
        self.tensorboard = TensorBoard(
            self.run_dir / "tensorboard", "tensorboard" in self.cfg.train.loggers and main
        )
        if self.device.type == "cpu" and self.cfg.train.precision == "fp16":
            log.warning("fp16 on CPU: autocast and GradScaler work but are slow; bf16 is the CPU choice")

    def _resume_step(self) -> int:
        """Step of the checkpoint `_setup_checkpoints` will resume from (from its name), else 0."""
        latest = CheckpointManager(self.run_dir / "checkpoints", 0).latest() if self._resume_enabled else None
        return int(STEP_PATTERN.match(latest.name).group(1)) if latest is not None else 0

    def _setup_data(self) -> None:
        from tacotron.data.dataset import PreparedDataset

        self.train_set = PreparedDataset(self.dataset_dir, "train")
        self.val_set = PreparedDataset(self.dataset_dir, "val")
        if len(self.train_set) == 0:
            raise ValueError(f"{self.dataset_dir}: the training split is empty")
        data_cfg = self.train_set.config
        for section in ("audio", "text"):
            if getattr(self.cfg, section) != getattr(data_cfg, section):
                log.info("using the dataset's %s settings (%s/config.yaml)", section, self.dataset_dir)
            setattr(self.cfg, section, getattr(data_cfg, section))
        self.symbols = self.train_set.symbols.to_dict()
        if self.is_main:
            self.cfg.save(self.run_dir / "config.yaml")

    def _setup_model(self, init_from: str | Path | None, init_skip: tuple[str, ...]) -> None:
        from tacotron.losses import Tacotron2Loss
        from tacotron.model import build_model
        from tacotron.train.schedule import ReductionSchedule

        t = self.cfg.train
        seed_everything(t.seed)
        self.model = build_model(self.cfg.model, len(self.train_set.symbols), self.cfg.audio.n_mels).to(
            self.device
        )
        if t.init_frame_bias and self._resume_step() == 0:  # a warm start overwrites what it loads
            mean_mel = self.train_set.mean_mel()
            self.model.decoder.init_frame_bias(mean_mel)
            if self.model.has_ddc:
                self.model.coarse_decoder.init_frame_bias(mean_mel)
        seed_everything(t.seed + self.dist.rank)  # per-rank dropout masks; rank 0 == single process
        self.schedule = ReductionSchedule.from_config(
            t.r_schedule,
            default_r=self.cfg.model.n_frames_per_step,
            default_batch_size=t.batch_size,
            max_frames_per_step=self.model.max_frames_per_step,
        )
        self.loss_fn = Tacotron2Loss(self.cfg.loss).to(self.device)
        if init_from is not None:
            self._warm_start(Path(init_from), init_skip)

    def _setup_optimizer(self) -> None:
        from tacotron.train.optim import LRSchedule, build_optimizer
        from tacotron.train.precision import Precision, enable_tf32, resolve_precision

        enable_tf32(self.device, self.cfg.train.tf32)
        self.optimizer = build_optimizer(self.model, self.cfg.train, self.device)
        self.lr_schedule = LRSchedule(self.optimizer, self.cfg.train)
        self.precision = Precision(
            resolve_precision(self.cfg.train.precision, self.device),
            self.device,
            self.cfg.train.fp16_init_scale,
        )
        self.best: dict[str, Any] = {"value": None, "step": None, "bad_evals": 0}
        self.val_metrics: dict[str, float] = {}

    def _setup_graphs(self) -> None:
        """train.cuda_graphs: forward+loss+backward replayed as one CUDA graph per length bucket.

        Not combined with DDP (its gradient hooks cannot run inside a captured graph) or fp16 (the
        GradScaler's dynamic scale is host state): those are clear errors, never a silent fallback.
        """
        self._graphed = None
        if not self.cfg.train.cuda_graphs or self.device.type != "cuda":
            if self.cfg.train.cuda_graphs:
                log.warning("train.cuda_graphs needs a CUDA device; training eagerly on %s", self.device)
            return
        if self.dist.enabled:
            raise ConfigError(
                "train.cuda_graphs does not work with multi-GPU (DDP) training yet; set it false"
            )
        if self.precision.name == "fp16":
            raise ConfigError("train.cuda_graphs supports precision fp32 or bf16, not fp16")
        from tacotron.train.graphs import GraphedTrainStep

        self._graphed = GraphedTrainStep(self.model, self.loss_fn, precision=self.precision.name)

    def _zero_grad(self) -> None:
        """CUDA graphs accumulate into .grad tensors allocated before capture: zero them, keep them."""
        self.optimizer.zero_grad(set_to_none=self._graphed is None)

    def _setup_checkpoints(self, resume: bool) -> None:
        self.checkpoints = CheckpointManager(self.run_dir / "checkpoints", self.cfg.train.keep_last)
        self._healthy: list[Path] = []
        self._anomaly_since_save = False
        self._last_saved_step: int | None = None
        self._resume_state: dict[str, Any] | None = None
        self._rollback_generation = 0  # +1 per rollback: the step's post-processing checks it
        self._pending_rollback: Path | None = None  # DDP: rank 0's rollback, not yet sent to the others
        self._synced_steering: tuple[float, str, float] | None = None
        if self.is_main:
            self.checkpoints.remove_stale_temp_files()
        latest = self.checkpoints.latest() if resume else None
        if latest is not None:
            self._resume(latest)

    def _setup_stream(self) -> None:
        self._stage = self.schedule.at(self.step)
        self._stream = self._make_stream(epoch=0)
        self._val_batches = None
        if self._resume_state is not None:
            self._stream.load_state_dict(self._resume_state["sampler"])
            from tacotron.train.checkpoint import restore_rng_state

            restore_rng_state(self._resume_state["rng"])  # last: building things above may draw numbers
            self._resume_state = None

    def _setup_ddp(self) -> None:
        self._ddp = None
        if self.dist.enabled:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._ddp = DistributedDataParallel(self.model, device_ids=ids)

    def _make_stream(self, epoch: int):
        from tacotron.train.loader import BatchStream

        return BatchStream(
            self.train_set,
            batch_size=self._stage.batch_size,
            r=self._stage.r,
            bucket_size=self.cfg.data.bucket_size,
            seed=self.cfg.train.seed,
            dist=self.dist,
            workers=self.cfg.data.loader_workers,
            pin_memory=self.device.type == "cuda",
            epoch=epoch,
        )

    # ---- public hooks for callbacks ------------------------------------------------------------------
    def current_lr(self) -> float:
        return self.lr_schedule.lr(self.step)

    def scale_lr(self, factor: float) -> float:
        """Multiply the LR (now and for the rest of the schedule) by `factor`; returns the new LR."""
        if not factor > 0:
            raise ValueError(f"scale_lr: factor must be > 0, got {factor}")
        self.lr_schedule.scale *= factor
        lr = self.lr_schedule.apply(self.step)
        self.events.log(self.step, "lr_scaled", reason=f"x{factor:g}", action=f"lr={lr:.3g}")
        return lr

    def set_precision(self, precision: str) -> None:
        """Switch fp32/bf16/fp16 from the next step on (e.g. fp16 -> bf16 after overflow)."""
        old = self.precision.name
        if self._graphed is not None and precision == "fp16":
            raise ConfigError("train.cuda_graphs supports precision fp32 or bf16, not fp16")
        self.precision.set(precision)
        if self._graphed is not None:  # captured graphs bake the precision in: capture anew
            from tacotron.train.graphs import GraphedTrainStep

            self._graphed = GraphedTrainStep(self.model, self.loss_fn, precision=precision)
        self.cfg.train.precision = precision
        self.events.log(
            self.step, "precision_changed", reason=f"{old} -> {precision}", action="set_precision"
        )

    def request_stop(self, reason: str) -> None:
        """Stop after the current step (all ranks agree at the next step); a checkpoint is saved."""
        if self._stop_reason is None:
            self._stop_reason = reason
            self.events.log(self.step, "stop_requested", reason=reason, action="stop")

    def report_anomaly(self, kind: str, **details: Any) -> dict[str, Any]:
        """Record a problem (events.jsonl), mark checkpoints from now on as unhealthy, tell callbacks."""
        anomaly = {"kind": kind, "step": self.step, **details}
        self._anomaly_since_save = True
        action = details.pop("action", "")
        self.events.log(
            self.step,
            kind,
            reason=details.get("reason", ""),
            action=action,
            level=logging.WARNING,
            **{k: v for k, v in details.items() if k != "reason"},
        )
        self.callbacks.call("on_anomaly", self, anomaly)
        return anomaly

    def last_healthy_checkpoint(self) -> Path | None:
        """Newest checkpoint saved with no anomaly since the one before (still on disk), or None."""
        for path in reversed(self._healthy):
            if path.is_file():
                return path
        return None

    def close(self) -> None:
        """Close log files and the process group; `fit()` calls it, call it yourself if you skip fit()."""
        self.metrics.close()
        self.events.close()
        self.tensorboard.close()
        if self._log_handler is not None:
            detach_file_log(self._log_handler)
            self._log_handler = None
        distributed.teardown(self.dist)

    def _result(self) -> TrainResult:
        best = self.checkpoints.dir / "best.pt"
        return TrainResult(
            step=self.step,
            epoch=self.epoch,
            stop_reason=self._stop_reason or "max_steps",
            last_checkpoint=self.checkpoints.latest(),
            best_checkpoint=best if best.is_file() else None,
            best_metric=self.best["value"],
            skipped_steps=self.skipped_steps,
            val_metrics=dict(self.val_metrics),
        )


def seed_everything(seed: int) -> None:
    """Python, NumPy and torch (all devices) RNGs from one seed."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
