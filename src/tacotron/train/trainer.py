"""`Trainer`: one training run, composed of named parts with explicit handoff.

The parts (each its own module): `TrainState` (progress record), `CheckpointKeeper` (the only owner of
checkpoint files, resume point and healthy checkpoints), `Steering` (LR scale, precision and
guided-attention weight, changed only through logged setters and broadcast whole under DDP), a step
runner (`EagerStep` or `GraphedStep`: forward + loss + backward), `Validator` (validation losses,
health, samples), the `BatchStream` of the current r-schedule stage, and the run logs. The config is
frozen once the dataset's audio/text settings are in it. Extensions plug in through `Callback`s
(assembled by `tacotron.tune.callbacks.run_callbacks`) and the public methods below.

One host sync per optimizer step: a packed vector (non-finite flag, stop flag, grad norm, loss terms),
all-reduced under DDP, decides whether the update is applied and makes every rank agree on it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import tacotron.train.distributed as distributed
from tacotron.config import Config
from tacotron.losses import LossNorm
from tacotron.model.checkpoint import STEP_PATTERN
from tacotron.model.speakers import check_speaker_table
from tacotron.train.callbacks import Callback, CallbackList, StepResult, UpdateInfo
from tacotron.train.checkpoint import restore_rng_state
from tacotron.train.keeper import CheckpointKeeper, RunIdentity, RunParts
from tacotron.train.logging import RunLogs
from tacotron.train.run_control import RunControl
from tacotron.train.state import TrainState
from tacotron.train.steering import Steering
from tacotron.train.step import apply_update, check_graph_precision, clip_gradients, global_norm
from tacotron.train.validate import check_best_metric
from tacotron.train.window import MetricsWindow

log = logging.getLogger(__name__)

NONFINITE = "non-finite gradient"  # StepResult.skip_reason of a step skipped for inf/nan gradients


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


class Trainer:
    """Train a Tacotron 2 on a prepared dataset folder, writing everything into `run_dir`.

    cfg: the full config (its audio/text sections are replaced by the dataset's own, so model and data
        cannot drift); the trainer keeps a frozen copy. resume: continue from the newest
        `run_dir/checkpoints/step_*.pt` if there is one. init_from: warm-start weights from a checkpoint
        (weights only), skipping parameters whose names start with a prefix in `init_skip`.
    For callbacks: cfg, model (unwrapped), optimizer, precision, step, epoch, stage, device, run_dir,
    dataset_dir, events, metrics, tensorboard, dist, is_main, uses_cuda_graphs, and the methods
    current_lr, scale_lr, set_precision, set_guided_attn_weight, rollback, last_healthy_checkpoint,
    save_checkpoint, request_stop, report_anomaly, evaluate.
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
        self.state = TrainState()
        self.control = RunControl()
        self.dist, self.device = distributed.init_distributed(device, cfg.train.ddp_timeout_s)
        self.logs: RunLogs | None = None
        self._setup_logs(resume)
        try:
            self._setup_data()
            self.cfg.freeze()
            self._setup_model(init_from, tuple(init_skip))
            self._setup_optimizer()
            resumed = self._resume() if resume else None
            self._check_ranks_start_alike()
            self._setup_runner()
            self._setup_stream(resumed)
        except BaseException:
            self.close()  # release log files and the process group, then re-raise
            raise

    # ---- read-only views for callbacks ----------------------------------------------------------------
    @property
    def step(self) -> int:
        return self.state.step

    @property
    def epoch(self) -> int:
        return self.stream.epoch

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    @property
    def uses_cuda_graphs(self) -> bool:
        """True when steps replay captured CUDA graphs (Python hooks on parameters do not run then)."""
        return self.runner.uses_cuda_graphs

    # ---- setup ---------------------------------------------------------------------------------------
    def _setup_logs(self, resume: bool) -> None:
        main = self.is_main
        self.checkpoints = CheckpointKeeper(
            self.run_dir, self.cfg.train.keep_last, is_main=main, log_event=self._log_event
        )
        found = self.checkpoints.newest_intact() if resume else None
        self._resume_from, self._resume_ckpt = found if found is not None else (None, None)
        tensorboard = "tensorboard" in self.cfg.train.loggers
        self.logs = RunLogs(self.run_dir, main=main, tensorboard=tensorboard, resume_step=self._resume_step())
        self.events, self.metrics, self.tensorboard = (
            self.logs.events,
            self.logs.metrics,
            self.logs.tensorboard,
        )
        self.events.listeners.append(lambda record: self.callbacks.call("on_event", self, record))
        if self.device.type == "cpu" and self.cfg.train.precision == "fp16":
            log.warning("fp16 on CPU: autocast and GradScaler work but are slow; bf16 is the CPU choice")

    def _log_event(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self.events.log(*args, **kwargs)

    def _resume_step(self) -> int:
        path = self._resume_from
        return int(STEP_PATTERN.match(path.name).group(1)) if path is not None else 0

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
        self.speakers = self.train_set.speakers
        check_speaker_table(self.speakers, self.cfg.model.n_speakers, self.dataset_dir)
        self.cfg.validate()
        if self.is_main:
            self.cfg.save(self.run_dir / "config.yaml")

    def _setup_model(self, init_from: str | Path | None, init_skip: tuple[str, ...]) -> None:
        from tacotron.losses import Tacotron2Loss
        from tacotron.model import build_model
        from tacotron.train.schedule import ReductionSchedule
        from tacotron.train.warm_start import warm_start

        t = self.cfg.train
        seed_everything(t.seed)
        self.model = build_model(self.cfg.model, len(self.train_set.symbols), self.cfg.audio.n_mels)
        self.model.to(self.device)
        if t.compile_decoder_step:
            from tacotron.model.tacotron2 import use_compiled_decoder_step

            use_compiled_decoder_step(self.model)
            log.info(
                "train.compile_decoder_step: the decoder's attention step runs torch.compile'd; the first "
                "training step, the first evaluation and each new precision compile it (tens of seconds)"
            )
        if t.init_frame_bias and self._resume_from is None:  # a resume or warm start overwrites it
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
        terms = [k for k in self.loss_fn.weights(0) if self.model.has_ddc or not k.startswith("ddc/")]
        check_best_metric(t.best_metric, terms, t.n_val_synth)
        if init_from is not None:
            warm_start(self.model, Path(init_from), init_skip, self._log_event, self.train_set.symbols)

    def _setup_optimizer(self) -> None:
        from tacotron.train.optim import LRSchedule, build_optimizer
        from tacotron.train.precision import Precision, enable_tf32, resolve_precision

        t = self.cfg.train
        enable_tf32(self.device, t.tf32)
        self.optimizer = build_optimizer(self.model, t, self.device)
        self.lr_schedule = LRSchedule(self.optimizer, t)
        self.precision = Precision(
            resolve_precision(t.precision, self.device), self.device, t.fp16_init_scale
        )
        self.steering = Steering(self.lr_schedule, self.precision, self._log_event)
        self.parts = RunParts(self.model, self.optimizer, self.lr_schedule, self.precision, self.steering)
        self._pending_rollback: Path | None = None  # DDP: rank 0's rollback, not yet sent to the others

    def _resume(self) -> dict[str, Any] | None:
        """The newest checkpoint into the built parts; sampler and RNG follow in `_setup_stream`."""
        self.checkpoints.remove_stale_temp_files()
        if self._resume_from is None:
            for damaged in self.checkpoints.skipped_damaged:
                self.events.log(
                    0, "checkpoint_skipped", reason=f"{damaged.name} is unreadable", action="starting from step 0",
                    level=logging.WARNING, path=str(damaged),
                )  # fmt: skip
            return None
        self.state, ckpt = self.checkpoints.resume(
            self._resume_from, self._resume_ckpt, self.parts, self._identity()
        )
        self._resume_ckpt = None  # the sampler and RNG entries travel on through the return value
        return ckpt

    def _check_ranks_start_alike(self) -> None:
        """DDP: every rank must start from the same step, or they train different numbers of steps and
        one waits forever in a collective. Rank 0 writes the checkpoints and every rank resumes from its
        own run folder, so a multi-node run needs that folder on storage all nodes share."""
        if not self.dist.enabled:
            return
        steps = torch.tensor([self.step, -self.step], dtype=torch.float64, device=self.device)
        highest, minus_lowest = (int(v) for v in distributed.agree(steps, self.dist).tolist())
        if highest != -minus_lowest:
            raise RuntimeError(
                f"ranks start from different steps ({-minus_lowest} to {highest}): this rank found "
                f"{self._resume_from or 'no checkpoint'}; under multi-node training the run folder must "
                "be on storage every node shares"
            )

    def _identity(self) -> RunIdentity:
        return RunIdentity(self.cfg.to_dict(), self.symbols, self.dist.world_size, list(self.speakers))

    def _setup_stream(self, resumed: dict[str, Any] | None) -> None:
        self.stage = self.schedule.at(self.step)
        self.stream = self._make_stream(epoch=0)
        if resumed is not None:
            self.stream.load_state_dict(resumed["sampler"])
            restore_rng_state(resumed["rng"])  # last: building things above may draw numbers

    def _make_stream(self, epoch: int) -> Any:
        from tacotron.train.loader import BatchStream

        return BatchStream(
            self.train_set,
            batch_size=self.stage.batch_size,
            r=self.stage.r,
            bucket_size=self.cfg.data.bucket_size,
            seed=self.cfg.train.seed,
            dist=self.dist,
            workers=self.cfg.data.loader_workers,
            pin_memory=self.device.type == "cuda",
            epoch=epoch,
            drop_last=self._drops_short_batches(),
        )

    def _drops_short_batches(self) -> bool:
        """With the graph step, each bucket's one short batch is dropped (different items each epoch,
        see `BucketBatchSampler`): its batch size would give every mel bucket a second graph to capture.
        Kept when the training split has no full batch per rank."""
        full = self.stage.batch_size * self.dist.world_size
        return self.runner.uses_cuda_graphs and len(self.train_set) >= full

    def _setup_runner(self) -> None:
        from tacotron.train.step import build_runner
        from tacotron.train.validate import Validator

        self.runner = build_runner(
            self.cfg.train, self.model, self.loss_fn, self.precision, self.device, self.dist,
            lengths=(self.train_set.text_lengths, self.train_set.lengths),
        )  # fmt: skip
        self.validator = Validator(
            self.val_set,
            self.loss_fn,
            device=self.device,
            audio_cfg=self.cfg.audio,
            n_val_synth=self.cfg.train.n_val_synth,
            samples_dir=self.run_dir / "samples",
            tensorboard=self.tensorboard,
            write_files=self.is_main,
        )

    # ---- the loop --------------------------------------------------------------------------------------
    def fit(self) -> TrainResult:
        """Train until max_steps, a stop request, early stopping, the time budget or a signal.

        Always leaves a resumable checkpoint of the final step. Returns a `TrainResult`.
        """
        self._window = MetricsWindow()
        self.control.start(self.cfg.train.max_minutes, self.request_stop)
        bar = self.control.progress_bar(self.cfg.train.max_steps, self.step, enabled=self.is_main)
        try:
            self.callbacks.call("on_train_start", self)
            self._sync_steering()
            self.lr_schedule.apply(self.step)
            while not self._should_stop():
                self._maybe_switch_stage()
                result = self._train_step(self.stream.take(self.cfg.train.grad_accum_steps))
                bar.update(1)
                self._after_step(result, bar)
            if self.checkpoints.last_saved_step != self.step or not self.checkpoints.latest():
                self.save_checkpoint()
            self.events.log(
                self.step, "train_end", reason=self.control.stop_reason or "max_steps", action="checkpoint"
            )
            self.callbacks.call("on_train_end", self)
            return self._result()
        except BaseException as error:
            self.callbacks.call("on_crash", self, error)
            raise
        finally:
            bar.close()
            self.control.stop()
            self.close()

    def _train_step(self, micro: list[Any]) -> StepResult:
        """One optimizer step over k micro-batches; the update is skipped for non-finite gradients or a veto."""
        self.model.train()
        for host_batch in micro:
            self._window.count(host_batch)
        norm = global_norm(LossNorm.from_batches(micro), self.dist, self.device)
        outputs = self.runner.run(micro, norm, self.step, self.steering.guided_attn_weight)
        self.precision.scaler.unscale_(self.optimizer)
        grad_norm = clip_gradients(self.model, self.cfg.train.grad_clip)
        names = list(outputs.totals)
        stop = grad_norm.new_tensor(1.0 if self.control.stop_reason is not None else 0.0)
        nonfinite = (~torch.isfinite(grad_norm)).float()
        packed = torch.stack([nonfinite, stop, grad_norm, *(outputs.totals[n] for n in names)])
        host = distributed.all_sum(packed, self.dist).tolist()  # every rank decides alike
        skipped = host[0] > 0
        self.control.stop_agreed = self.control.stop_agreed or host[1] > 0
        if skipped:
            grad_norm_value = float("nan") if math.isnan(host[2]) else float("inf")
        else:
            grad_norm_value = host[2] / self.dist.world_size  # every rank holds the same averaged grads
        lr = self.lr_schedule.lr(self.step)
        losses = dict(zip(names, host[3:], strict=True))
        info = UpdateInfo(self.step + 1, losses, grad_norm_value, lr, outputs.batch)
        reason = NONFINITE if skipped else self.callbacks.veto(self, info, self.dist, self.device)
        apply_update(
            self.optimizer, self.precision, skipped=bool(reason), vetoed=bool(reason) and not skipped
        )
        self.runner.zero_grad(self.optimizer)
        self.state.step += 1
        self.lr_schedule.apply(self.step)
        return StepResult(
            self.step, losses, grad_norm_value, lr, bool(reason), outputs.batch, outputs.output, reason
        )

    def _after_step(self, result: StepResult, bar: Any) -> None:
        """Callbacks, the train log row, evaluation, checkpoint, then (DDP) the steering sync.

        `step` is captured first: a rollback in a callback moves `self.step`, but the row belongs to the
        step that ran, and evaluating or checkpointing the restored state under that step would be wrong.
        """
        step, generation = self.step, self.control.rollback_generation
        if result.skipped:
            self.state.skipped_steps += 1
            self._report_skip(result)
        self._window.add(result)
        self.callbacks.call("on_step_end", self, result)
        t = self.cfg.train
        if step % t.log_every == 0:
            self._log_train(bar, step)
        if self.control.rollback_generation == generation and step % t.eval_every == 0:
            if self.checkpoints.last_saved_step is None:
                self.save_checkpoint()  # an evaluation that fails must not take the steps before it along
            self.evaluate()
        if self.control.rollback_generation == generation and step % t.checkpoint_every == 0:
            self.save_checkpoint()
        self._sync_steering()

    def _report_skip(self, result: StepResult) -> None:
        """A non-finite gradient is an anomaly; a callback's veto is logged (the callback reports its why)."""
        details = {
            "batch_ids": list(result.batch.ids),
            "grad_norm": result.grad_norm,
            "losses": result.losses,
        }
        if result.skip_reason != NONFINITE:
            self.events.log(
                result.step, "update_skipped", reason=result.skip_reason, action="skip_step",
                level=logging.WARNING, **details,
            )  # fmt: skip
            return
        self.report_anomaly(
            "nonfinite_grad", reason=NONFINITE, action="skip_step", precision=self.precision.name, **details
        )

    def _log_train(self, bar: Any, step: int) -> None:
        t = self.cfg.train
        record = self._window.flush(self.dist.world_size)
        record.update(
            lr=self.lr_schedule.lr(step),
            effective_batch_size=self.stage.batch_size * t.grad_accum_steps * self.dist.world_size,
            skipped_steps=self.state.skipped_steps,
            epoch=self.epoch,
            r=self.stage.r,
        )
        if self.precision.scaler.is_enabled():
            record["loss_scale"] = self.precision.loss_scale()
        if self.device.type == "cuda":
            record["memory/max_allocated_gb"] = torch.cuda.max_memory_allocated(self.device) / 2**30
        self.metrics.log(step, "train", record)
        self.tensorboard.scalars(step, record, prefix="train/")
        bar.set_postfix(loss=f"{record.get('loss', float('nan')):.4f}", fps=f"{record['frames_per_s']:.0f}")

    def _should_stop(self) -> bool:
        if self.control.out_of_time():
            self.request_stop(f"time budget of {self.cfg.train.max_minutes:g} min reached")
        reason = self.control.should_stop(distributed=self.dist.enabled)
        return reason or self.step >= self.cfg.train.max_steps

    def _maybe_switch_stage(self) -> None:
        stage = self.schedule.at(self.step)
        if stage == self.stage:
            return
        epoch = self.epoch
        self.stage = stage
        self.stream = self._make_stream(epoch=epoch)
        self.events.log(
            self.step,
            "r_schedule",
            reason=f"r={stage.r}, batch_size={stage.batch_size}",
            action="new data stream",
        )
        self.callbacks.call("on_stage_change", self, stage)

    # ---- validation ------------------------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """Validation on rank 0 (losses, health, samples); early-stopping bookkeeping. Other ranks skip it."""
        if not self.is_main or len(self.val_set) == 0:
            return {}
        metrics = self.validator.run(
            self.model,
            step=self.step,
            batch_size=self.stage.batch_size,
            r=self.stage.r,
            autocast=self.precision.autocast,
            guided_attn_weight=self.steering.guided_attn_weight,
        )
        self.state.val_metrics = metrics
        self.metrics.log(self.step, "val", metrics)
        self.tensorboard.scalars(self.step, metrics)
        self.update_best(metrics)
        self.callbacks.call("on_eval_end", self, metrics)
        return metrics

    def update_best(self, metrics: dict[str, float]) -> None:
        """Track `train.best_metric` (best.pt on a new best); stop after `early_stop_patience` without one."""
        t = self.cfg.train
        if self.state.best.update_from(metrics, t.best_metric, self.step):
            self.save_checkpoint(tag="best")
        elif self.state.best.exhausted(t.early_stop_patience):
            best = self.state.best
            self.request_stop(
                f"early_stop: {t.best_metric} not better than {best.value:.4g} (step {best.step}) "
                f"for {t.early_stop_patience} evaluations"
            )

    # ---- checkpoints, rollback -------------------------------------------------------------------------
    def save_checkpoint(self, tag: str | None = None) -> Path:
        """Write `checkpoints/step_XXXXXXXX.pt` (or `<tag>.pt`) atomically; only rank 0 writes.

        Other ranks return the path rank 0 writes, without waiting for it.
        """
        if not self.is_main:
            return self.checkpoints.save({}, self.step, self.model, tag)
        position = {"epoch": self.epoch, "sampler": self.stream.state_dict(), "r": self.stage.r}
        content = self.checkpoints.content(self.parts, self.state, self._identity(), **position)
        path = self.checkpoints.save(content, self.step, self.model, tag)
        self.callbacks.call("on_checkpoint", self, path)
        return path

    def last_healthy_checkpoint(self) -> Path | None:
        """Newest checkpoint saved with no anomaly since the one before and finite weights, or None."""
        return self.checkpoints.last_healthy()

    def rollback(self, path: str | Path) -> None:
        """Return model, optimizer, scaler and step to checkpoint `path`; the data stream moves on.

        The steering values (LR scale, guided-attention weight) are kept (a recovery policy typically
        rolls back, then lowers the LR), and the batches after the checkpoint are not replayed, so a bad
        batch is not met again. The rest of the step's post-processing (evaluation, checkpoint) is
        skipped. Under DDP rank 0 decides, as only it knows which checkpoints are healthy: its call acts
        at once there and on the other ranks at the end of the step; a call on another rank is ignored.
        """
        path = Path(path)
        if self.dist.enabled and not self.is_main:
            log.info("rank %d: rollback to %s ignored: under DDP rank 0 decides", self.dist.rank, path)
            return
        self._load_rollback(path)
        if self.dist.enabled:
            self._pending_rollback = path

    def _load_rollback(self, path: Path) -> int:
        self.state.step = self.checkpoints.rollback(path, self.parts, from_step=self.step)
        self.runner.zero_grad(self.optimizer)
        self.control.rollback_generation += 1
        return self.step

    # ---- steering --------------------------------------------------------------------------------------
    def current_lr(self) -> float:
        return self.lr_schedule.lr(self.step)

    def scale_lr(self, factor: float) -> float:
        """Multiply the LR (now and for the rest of the schedule) by `factor`; returns the new LR."""
        return self.steering.scale_lr(factor, self.step)

    def set_precision(self, precision: str) -> None:
        """Switch fp32/bf16/fp16 from the next step on (e.g. fp16 -> bf16 after overflow)."""
        if self.runner.uses_cuda_graphs:
            check_graph_precision(precision)
        self.steering.set_precision(precision, self.step)

    def set_guided_attn_weight(self, weight: float) -> None:
        """New guided-attention base weight from the next step on (the live controller raises it)."""
        self.steering.set_guided_attn_weight(weight, self.step)

    def guided_attn_weight(self) -> float:
        """The guided-attention base weight in force (steered, else `loss.guided_attn_weight`)."""
        steered = self.steering.guided_attn_weight
        return self.cfg.loss.guided_attn_weight if steered is None else steered

    def _sync_steering(self) -> None:
        """DDP: rank 0's pending rollback and steering values reach every rank (see `Steering.sync`)."""
        rollback, self._pending_rollback = self._pending_rollback, None
        self.steering.sync(self.dist, self.device, self.step, rollback, self._load_rollback)

    # ---- stopping and reporting ------------------------------------------------------------------------
    def request_stop(self, reason: str) -> None:
        """Stop after the current step (all ranks agree at the next step); a checkpoint is saved."""
        if self.control.request_stop(reason):
            self.events.log(self.step, "stop_requested", reason=reason, action="stop")

    def report_anomaly(self, kind: str, **details: Any) -> dict[str, Any]:
        """Record a problem (events.jsonl), mark the next checkpoint unhealthy, tell callbacks."""
        anomaly = {"kind": kind, "step": self.step, **details}
        self.checkpoints.note_anomaly()
        action = details.pop("action", "")
        reason = details.pop("reason", "")
        self.events.log(self.step, kind, reason=reason, action=action, level=logging.WARNING, **details)
        self.callbacks.call("on_anomaly", self, anomaly)
        return anomaly

    def close(self) -> None:
        """Close log files and the process group; `fit()` calls it, call it yourself if you skip fit()."""
        if self.logs is not None:
            self.logs.close()
        distributed.teardown(self.dist)

    def _result(self) -> TrainResult:
        best = self.checkpoints.dir / "best.pt"
        return TrainResult(
            step=self.step,
            epoch=self.epoch,
            stop_reason=self.control.stop_reason or "max_steps",
            last_checkpoint=self.checkpoints.latest(),
            best_checkpoint=best if best.is_file() else None,
            best_metric=self.state.best.value,
            skipped_steps=self.state.skipped_steps,
            val_metrics=dict(self.state.val_metrics),
        )


def seed_everything(seed: int) -> None:
    """Python, NumPy and torch (all devices) RNGs from one seed."""
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
