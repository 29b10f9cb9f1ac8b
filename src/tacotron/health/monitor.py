"""HealthMonitor: the Debug Reporter's trainer callback. Detect, explain, act, and write it all down.

Why a callback: it watches every run without the training loop knowing about it (house rule 6).
Each step it checks finiteness, loss spikes and gradient explosions (cheap: a few floats); every
`health.detail_every` steps it adds per-module gradient/parameter norms, update ratios and attention
health, which also feed the collapse and deadline rules. Every finding is an event in events.jsonl
(what, when, why, what was done) and a log line; nothing is silent.

Recovery policy (`HealthConfig`): an anomaly is counted (the trainer has already skipped a non-finite
update; a loss spike's update is skipped through the `on_before_optimizer_step` veto, so one bad batch
does not move the weights); `max_anomalies` within `anomaly_window` steps, or non-finite parameters or
buffers (which no skip can fix), trigger a rollback to the last healthy checkpoint, an LR cut by
`rollback_lr_factor` and, under fp16, a switch to `fp16_fallback`. After `max_rollbacks` rollbacks it
stops the run with a message. A gradient explosion whose update `train.grad_clip` bounded counts only
when the loss has risen since the explosions began (`clipped_explosion_loss_rise`, `LossRise`): else it
is an event that says why it was not counted.

Under DDP only rank 0's monitor detects, acts and writes files (events, metrics, alignments, report):
it alone sees validation and knows the healthy checkpoints; the trainer carries its veto, rollback,
LR cut and precision switch to the other ranks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tacotron.config import HealthConfig
from tacotron.frames import decoder_steps
from tacotron.health.detectors import (
    AlignmentDeadline,
    Anomaly,
    AnomalyWindow,
    CollapseDetector,
    LossRise,
    RatioDetector,
    check_step_finite,
)
from tacotron.health.localize import localize_nonfinite
from tacotron.health.metrics import GradNormRecorder, param_norms, snapshot_parameters, update_ratios
from tacotron.metrics.attention import ALIGNMENT_KEY, VAL_ALIGNMENT_KEY
from tacotron.metrics.outputs import health_metrics
from tacotron.model.checkpoint import STEP_PATTERN
from tacotron.train.callbacks import Callback, StepResult, UpdateInfo

if TYPE_CHECKING:
    from tacotron.train.schedule import SchedulePoint
    from tacotron.train.trainer import Trainer

logger = logging.getLogger(__name__)

ALIGNMENT_DIR = "health/alignments"  # run_dir-relative: one .npy [T_dec, L] per checkpoint
FIXES = {
    "nonfinite": "lower train.lr, keep train.grad_clip on, check the named utterances; under fp16 use bf16",
    "loss_spike": "lower train.lr or train.grad_clip; check the batch's utterances for bad audio or text",
    "grad_explosion": "lower train.lr, set train.grad_clip (e.g. 1.0), add warm-up (train.warmup_steps)",
    "attention_collapse": "lower train.lr; keep guided attention longer (loss.guided_attn_decay_start)",
    "no_alignment": "raise train.batch_size or model.n_frames_per_step (r), raise loss.guided_attn_weight",
    "loss_scale_collapse": "fp16 loss scale collapsed: train in bf16 or fp32 (train.precision)",
}


class HealthMonitor(Callback):
    """Anomaly detection, NaN localisation and the recovery policy, driven by `cfg.health`.

    cfg: the health section; None reads `trainer.cfg.health` at train start.
    Public after a run: `anomalies` (list of dicts), `rollbacks` (count), `gave_up` (bool).
    """

    def __init__(self, cfg: HealthConfig | None = None):
        self._cfg_override = cfg
        self.cfg = cfg or HealthConfig()
        self.anomalies: list[dict[str, Any]] = []
        self.rollbacks = 0
        self.gave_up = False
        self._reset_detectors()
        self._before: dict[str, torch.Tensor] | None = None
        self._grads = GradNormRecorder()
        self._grad_scale = 1.0
        self._last_alignment: np.ndarray | None = None
        self._reported: list[str] = []  # kinds other callbacks / the trainer reported since the last step
        self._spike: Anomaly | None = None  # found by the veto hook, handled at the step's end
        self._spike_checked_step: int | None = None

    def _reset_detectors(self) -> None:
        c = self.cfg
        self._reset_ratio_detectors()
        self.collapse = CollapseDetector(c.align_threshold, c.collapse_ratio)
        self.deadline = AlignmentDeadline(c.align_deadline_step, c.align_threshold)
        self.window = AnomalyWindow(c.anomaly_window)

    def _reset_ratio_detectors(self) -> None:
        c = self.cfg
        self.loss_spike = RatioDetector("loss_spike", "loss", c.spike_factor, c.spike_window, c.min_history)
        self.grad_explosion = RatioDetector(
            "grad_explosion", "gradient norm", c.grad_explode_factor, c.spike_window, c.min_history
        )
        rise = c.clipped_explosion_loss_rise
        self.loss_rise = LossRise(rise, c.spike_window) if rise > 0 else None

    # ---- callback hooks -------------------------------------------------------------------------
    def on_train_start(self, trainer: Trainer) -> None:
        if self._cfg_override is None:
            self.cfg = trainer.cfg.health
            self._reset_detectors()
        if self._acting(trainer):
            logger.info("health monitor on: detail every %d steps", self.cfg.detail_every)
            self._arm_if_next_is_detail(trainer)

    def _acting(self, trainer: Trainer) -> bool:
        """Enabled, not given up, and the main rank (under DDP the others follow rank 0's decisions)."""
        return self.cfg.enabled and not self.gave_up and trainer.is_main

    def on_anomaly(self, trainer: Trainer, anomaly: dict[str, Any]) -> None:
        """Problems others reported (already logged by `trainer.report_anomaly`).

        The trainer's checkpoint keeper already counts them against the next checkpoint; a "nonfinite_*"
        one is explained (localised) at the following `on_step_end`. Others are their reporter's to act
        on, so they are not counted here.
        """
        if anomaly.get("source") == "health" or not trainer.is_main:
            return  # our own report, echoed back by `trainer.report_anomaly`; or a passive rank
        self._reported.append(str(anomaly.get("kind", "")))

    def on_stage_change(self, trainer: Trainer, stage: SchedulePoint) -> None:
        """Start the loss and gradient-norm medians afresh: they belong to the previous r / batch size.

        Right after an r switch the gradient norm reads tens of times its previous median for a few steps
        (benchmarks/RESULTS.md); judged against the old median those are "explosions", and the monitor
        would roll back or give up for what is only a new scale (clipping bounds those updates anyway).
        """
        self._reset_ratio_detectors()

    def on_before_optimizer_step(self, trainer: Trainer, info: UpdateInfo) -> bool | None:
        """Skip the update of a loss-spike step, so one bad batch does not move the weights.

        The spike is still counted at `on_step_end` like any anomaly: repeated ones roll back.
        """
        if not self._acting(trainer):
            return None
        self._spike_checked_step = info.step
        self._spike = self.loss_spike.update(info.step, info.losses.get("loss", float("nan")))
        if self._spike is None:
            return None
        info.reason = f"loss_spike: {self._spike.reason}"
        return False

    def on_step_end(self, trainer: Trainer, result: StepResult) -> None:
        if not self._acting(trainer):
            return
        found = self._step_anomalies(trainer, result)
        if self._is_detail_step(result.step):
            found += self._detail(trainer, result)
        for anomaly in found:
            if self._handle(trainer, anomaly):
                break  # rolled back or stopped: the remaining findings belong to the discarded steps
        self._arm_if_next_is_detail(trainer)

    def _arm_if_next_is_detail(self, trainer: Trainer) -> None:
        """Before a detail step: hook the gradients (the trainer zeroes them before callbacks run) and
        snapshot the weights for the update ratio."""
        if not self._is_detail_step(trainer.step + 1):
            return
        if not getattr(trainer, "uses_cuda_graphs", False):  # hooks do not run inside replayed CUDA graphs
            self._grads.arm(trainer.model)
        self._grad_scale = trainer.precision.loss_scale()
        self._before = snapshot_parameters(trainer.model)

    def on_eval_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        if not self._acting(trainer) or VAL_ALIGNMENT_KEY not in metrics:
            return
        anomaly = self.deadline.update(trainer.step, metrics[VAL_ALIGNMENT_KEY])
        if anomaly is not None:
            self._handle(trainer, anomaly)

    def on_checkpoint(self, trainer: Trainer, path: Path) -> None:
        """Keep the last detail step's alignment beside each step checkpoint (for the report).

        Whether the checkpoint is healthy (a rollback target) is the trainer's checkpoint keeper's call.
        """
        if not self.cfg.enabled or not trainer.is_main or not STEP_PATTERN.match(Path(path).name):
            return
        if self._last_alignment is not None:
            out = Path(trainer.run_dir) / ALIGNMENT_DIR / f"step_{trainer.step:08d}.npy"
            out.parent.mkdir(parents=True, exist_ok=True)
            np.save(out, self._last_alignment)

    def on_train_end(self, trainer: Trainer) -> None:
        self._grads.collect()  # remove the gradient hooks armed for a step that will not come
        self._before = None
        if not self.cfg.enabled or not self.cfg.report_on_end or not trainer.is_main:
            return
        from tacotron.health.report import write_report

        html, md = write_report(trainer.run_dir)
        logger.info("health report: %s (summary %s)", html, md)

    # ---- detection ------------------------------------------------------------------------------
    def _is_detail_step(self, step: int) -> bool:
        return self.cfg.detail_every > 0 and step % self.cfg.detail_every == 0

    def _step_anomalies(self, trainer: Trainer, result: StepResult) -> list[Anomaly]:
        step = result.step
        reported, self._reported = self._reported, []
        nonfinite = check_step_finite(step, result.losses, result.grad_norm)
        if nonfinite is None and any(kind.startswith("nonfinite") for kind in reported):
            nonfinite = Anomaly("nonfinite", step, f"reported non-finite values ({', '.join(reported)})")
        if nonfinite is not None:
            nonfinite.details["skipped"] = result.skipped
            nonfinite.details["reported_by_others"] = reported
            if self.cfg.localize_nonfinite:
                info = localize_nonfinite(trainer.model, result.batch, autocast=trainer.precision.autocast)
                nonfinite.details.update(info)
                nonfinite.reason += f"; {info['summary']}"
            return [nonfinite]
        found = [
            a for a in (self._loss_spike(result), self.grad_explosion.update(step, result.grad_norm)) if a
        ]
        if self.loss_rise is not None:
            self.loss_rise.add_loss(result.losses.get("loss", float("nan")))
        for anomaly in found:
            anomaly.details["batch_ids"] = list(result.batch.ids)
            anomaly.details["update_applied"] = not result.skipped
            anomaly.details["skipped"] = result.skipped
            if anomaly.kind == "grad_explosion" and not result.skipped:
                self._judge_clipped(anomaly, trainer.cfg.train.grad_clip)
        scale = self._loss_scale(trainer)
        if scale is not None and scale < self.cfg.min_loss_scale:
            found.append(
                Anomaly(
                    "loss_scale_collapse",
                    step,
                    f"fp16 loss scale fell to {scale:g}",
                    value=scale,
                    threshold=self.cfg.min_loss_scale,
                )
            )
        return found

    def _judge_clipped(self, anomaly: Anomaly, grad_clip: float) -> None:
        """With clipping on (the update's norm is at most `grad_clip`): whether the loss has risen since the
        explosions began (`counted`), with the two loss medians, into the anomaly's details."""
        if grad_clip <= 0 or self.loss_rise is None:
            return
        verdict = self.loss_rise.judge(anomaly.step, self.loss_spike.baseline())
        if verdict is None:
            return
        harmful, recent, before = verdict
        anomaly.details.update(grad_clip=grad_clip, loss_recent=recent, loss_before=before, counted=harmful)

    def _loss_spike(self, result: StepResult) -> Anomaly | None:
        """The veto hook's finding for this step; detected here when the hook did not see the step."""
        spike, self._spike = self._spike, None
        if self._spike_checked_step == result.step:
            return spike
        return self.loss_spike.update(result.step, result.losses.get("loss", float("nan")))

    @staticmethod
    def _loss_scale(trainer: Trainer) -> float | None:
        if trainer.precision.name != "fp16":
            return None
        return trainer.precision.loss_scale()

    def _detail(self, trainer: Trainer, result: StepResult) -> list[Anomaly]:
        """The every-N-steps metrics; logged to metrics.jsonl with split "health"."""
        model = trainer.model
        metrics = {**self._grads.collect(self._grad_scale), **param_norms(model)}
        if self._before is not None:
            metrics.update(update_ratios(model, self._before))
            self._before = None
        found: list[Anomaly] = []
        if result.output is not None and not result.skipped:
            metrics.update(health_metrics(result.output, result.batch))
            self._keep_alignment(result)
            alignment = metrics[ALIGNMENT_KEY]
            found = [
                a
                for a in (
                    self.collapse.update(result.step, alignment),
                    self.deadline.update(result.step, alignment),
                )
                if a is not None
            ]
        trainer.metrics.log(result.step, "health", metrics)
        return found

    def _keep_alignment(self, result: StepResult) -> None:
        """First item's alignment cropped to its lengths, saved at the next checkpoint for the report."""
        align = result.output.alignments
        steps = decoder_steps(int(result.batch.mel_lengths[0]), result.output.r)
        symbols = int(result.batch.text_lengths[0])
        self._last_alignment = align[0, :steps, :symbols].detach().float().cpu().numpy().astype(np.float16)

    # ---- recovery policy ------------------------------------------------------------------------
    def _handle(self, trainer: Trainer, anomaly: Anomaly) -> bool:
        """Record `anomaly`, decide the action, act. True when the run was rolled back or stopped."""
        record = anomaly.to_dict()
        self.anomalies.append(record)
        fix = FIXES.get(anomaly.kind, "")
        if anomaly.kind == "no_alignment":
            self._event(trainer, anomaly, "warn: " + fix, record)
            return False
        if anomaly.details.get("counted") is False:
            d = anomaly.details
            self._event(
                trainer,
                anomaly,
                f"continue: the update is bounded by train.grad_clip={d['grad_clip']:g} and the loss has "
                f"not risen (median {d['loss_recent']:.4g} over the last steps, {d['loss_before']:.4g} "
                "before the first explosion); not counted toward a rollback",
                record,
            )
            return False
        count = self.window.add(anomaly.step)
        corrupted = bool(anomaly.details.get("bad_parameters") or anomaly.details.get("bad_buffers"))
        if corrupted or count >= self.cfg.max_anomalies:
            why = (
                "non-finite weights" if corrupted else f"{count} anomalies in {self.cfg.anomaly_window} steps"
            )
            self._event(trainer, anomaly, f"roll back ({why})", record)
            self._rollback(trainer, why, anomaly)
            return True
        skipped = "update skipped" if anomaly.details.get("skipped") else "continue"
        self._event(
            trainer, anomaly, f"{skipped}; anomaly {count}/{self.cfg.max_anomalies} in window", record
        )
        return False

    @staticmethod
    def _event(trainer: Trainer, anomaly: Anomaly, action: str, record: dict[str, Any]) -> None:
        """Through `trainer.report_anomaly`: one event line, and the trainer stops counting checkpoints
        from here on as healthy; other callbacks (the tuner's controller) hear of it via `on_anomaly`."""
        details = {k: v for k, v in record.items() if k not in ("step", "kind")}
        trainer.report_anomaly(
            anomaly.kind, action=action, source="health", fix=FIXES.get(anomaly.kind, ""), **details
        )

    @staticmethod
    def _rollback_target(trainer: Trainer) -> Path | None:
        return trainer.last_healthy_checkpoint()

    def _rollback(self, trainer: Trainer, why: str, anomaly: Anomaly) -> None:
        step = trainer.step
        if self.rollbacks >= self.cfg.max_rollbacks:
            self._give_up(
                trainer,
                f"{why} after {self.rollbacks} rollbacks (health.max_rollbacks="
                f"{self.cfg.max_rollbacks}); last problem: {anomaly.reason}",
            )
            return
        target = self._rollback_target(trainer)
        if target is None:
            self._give_up(
                trainer, f"{why} and no healthy checkpoint to roll back to; last problem: {anomaly.reason}"
            )
            return
        lr_before = trainer.current_lr()
        trainer.rollback(target)  # restores the checkpoint's precision too: switch after it
        trainer.scale_lr(self.cfg.rollback_lr_factor)
        self.rollbacks += 1
        action = f"rolled back to {target.name} (step {trainer.step}); lr {lr_before:.3g} -> {trainer.current_lr():.3g}"
        if trainer.precision.name == "fp16" and self.cfg.fp16_fallback != "none":
            trainer.set_precision(self.cfg.fp16_fallback)
            action += f"; precision fp16 -> {self.cfg.fp16_fallback}"
        trainer.events.log(
            step,
            "recovery",
            reason=why,
            action=action,
            level=logging.WARNING,
            kind="rollback",
            target=str(target),
            to_step=trainer.step,
            lr_before=lr_before,
            lr_after=trainer.current_lr(),
            rollbacks=self.rollbacks,
            max_rollbacks=self.cfg.max_rollbacks,
        )
        self.window.clear()
        if self.loss_rise is not None:
            self.loss_rise.end_episode()
        self._grads.collect()  # drop hooks and half-recorded norms of the discarded step
        self._before = None
        self._anomaly_since_checkpoint = False

    def _give_up(self, trainer: Trainer, message: str) -> None:
        self.gave_up = True
        trainer.events.log(
            trainer.step, "give_up", reason=message, action="stop training", level=logging.ERROR
        )
        trainer.request_stop(f"health monitor gave up: {message}")
