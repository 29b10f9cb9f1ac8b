"""The Trainer's loop: one optimizer step over k micro-batches, then logging, validation, checkpoints, stops.

Host syncs: one per optimizer step (a packed vector of grad norm, stop flag and loss terms, all-reduced
under DDP). It decides whether the update is applied, makes all ranks agree, and gives callbacks float
losses. Everything else (frames/s, padding) is counted from CPU tensors and written every `log_every`.
Under DDP two small flag all-reduces are added: the steering sync at the end of each step (rank 0's
rollback / LR scale reach every rank) and, only while a callback overrides `on_before_optimizer_step`,
the agreement on its veto.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import threading
import time
from typing import Any

import torch

import tacotron.train.distributed as distributed
from tacotron.train.callbacks import StepResult, UpdateInfo
from tacotron.train.loader import move, padding_stats

log = logging.getLogger(__name__)

NONFINITE = "non-finite gradient"  # StepResult.skip_reason of a step skipped for inf/nan gradients


class TrainLoopMixin:
    """`fit()` and the step of `Trainer`."""

    def fit(self):
        """Train until max_steps, a stop request, early stopping, the time budget or a signal.

        Always leaves a resumable checkpoint of the final step. Returns a `TrainResult`.
        """
        self._stop_reason: str | None = None
        self._stop_agreed = False
        self._start_time = time.monotonic()
        self._window = _Window()
        previous = self._install_signal_handlers()
        bar = self._progress_bar()
        try:
            self._synced_steering = self._steering()
            self.callbacks.call("on_train_start", self)
            self._sync_steering()
            self.lr_schedule.apply(self.step)
            while not self._should_stop():
                self._maybe_switch_stage()
                result = self._train_step(self._stream.take(self.cfg.train.grad_accum_steps))
                bar.update(1)
                self._after_step(result, bar)
            if self._last_saved_step != self.step or not self.checkpoints.latest():
                self.save_checkpoint()
            self.events.log(
                self.step, "train_end", reason=self._stop_reason or "max_steps", action="checkpoint"
            )
            self.callbacks.call("on_train_end", self)
            return self._result()
        except BaseException as error:
            self.callbacks.call("on_crash", self, error)
            raise
        finally:
            bar.close()
            self._restore_signal_handlers(previous)
            self.close()

    # ---- one optimizer step ----------------------------------------------------------------------------
    def _train_step(self, micro: list[Any]) -> StepResult:
        from tacotron.losses import LossNorm

        self.model.train()
        norm = self._global_norm(LossNorm.from_batches(micro))
        totals, batch, out = self._forward_backward(micro, norm)
        self.precision.scaler.unscale_(self.optimizer)
        grad_norm = self._clip_gradients()
        names = list(totals)
        stop = grad_norm.new_tensor(1.0 if self._stop_reason is not None else 0.0)
        nonfinite = (~torch.isfinite(grad_norm)).float()
        host = self._agree(torch.stack([nonfinite, stop, grad_norm, *(totals[n] for n in names)]))
        skipped = host[0] > 0
        self._stop_agreed = self._stop_agreed or host[1] > 0
        if skipped:
            grad_norm_value = float("nan") if math.isnan(host[2]) else float("inf")
        else:
            grad_norm_value = host[2] / self.dist.world_size  # every rank holds the same averaged grads
        lr = self.lr_schedule.lr(self.step)
        losses = dict(zip(names, host[3:], strict=True))
        info = UpdateInfo(self.step + 1, losses, grad_norm_value, lr, batch)
        reason = NONFINITE if skipped else self._veto(info)
        self._apply_update(skipped=bool(reason), vetoed=bool(reason) and not skipped)
        self.step += 1
        self.lr_schedule.apply(self.step)
        return StepResult(self.step, losses, grad_norm_value, lr, bool(reason), batch, out.detach(), reason)

    def _veto(self, info: UpdateInfo) -> str:
        """Ask `on_before_optimizer_step`: "" applies the update, else why it is skipped (all ranks alike).

        Nothing is called, and under DDP nothing is all-reduced, unless a callback overrides the hook.
        """
        if not self.callbacks.implements("on_before_optimizer_step"):
            return ""
        vetoed_by = self.callbacks.vetoes("on_before_optimizer_step", self, info)
        if self.dist.enabled:
            flag = torch.tensor([1.0 if vetoed_by else 0.0], device=self.device)
            if distributed.agree(flag, self.dist).item() == 0:
                return ""
            if not vetoed_by:
                return "update vetoed on another rank"
        if not vetoed_by:
            return ""
        return info.reason or f"vetoed by {', '.join(vetoed_by)}"

    def _forward_backward(self, micro: list[Any], norm: Any) -> tuple[dict[str, torch.Tensor], Any, Any]:
        """Accumulate gradients of k micro-batches; DDP all-reduces only on the last one (no_sync)."""
        net = self._ddp if self._ddp is not None else self.model
        totals: dict[str, torch.Tensor] = {}
        if self._graphed is not None:
            return self._graphed_forward_backward(micro, norm)
        for i, host_batch in enumerate(micro):
            self._window.count(host_batch)
            batch = move(host_batch, self.device)
            last = i == len(micro) - 1
            sync = contextlib.nullcontext() if self._ddp is None or last else self._ddp.no_sync()
            with sync:
                with self.precision.autocast():
                    out = net(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=batch.r)
                    losses = self.loss_fn(out, batch, self.step, norm)
                # the loss is normalised by all ranks' counts and DDP averages: scale back to a sum
                self.precision.scaler.scale(losses["loss"] * self.dist.world_size).backward()
            for name, value in losses.items():
                value = value.detach().float()
                totals[name] = totals[name] + value if name in totals else value
        return totals, batch, out

    def _graphed_forward_backward(
        self, micro: list[Any], norm: Any
    ) -> tuple[dict[str, torch.Tensor], Any, Any]:
        """`_forward_backward` through captured CUDA graphs (single process, fp32/bf16; see `_setup_graphs`).

        Batches are padded to length buckets (masked: the loss is unchanged); the graph's outputs are
        static buffers that the next replay overwrites, so what leaves this method is cloned.
        """
        from dataclasses import replace

        from tacotron.train.graphs import pad_to_bucket

        t = self.cfg.train
        totals: dict[str, torch.Tensor] = {}
        for host_batch in micro:
            self._window.count(host_batch)
            padded = pad_to_bucket(
                host_batch, text_multiple=t.graph_text_multiple, mel_multiple=t.graph_mel_multiple
            )
            losses, out = self._graphed(padded, self.step, norm)
            for name, value in losses.items():
                value = value.detach().float().clone()
                totals[name] = totals[name] + value if name in totals else value
        out = replace(
            out,
            mel=out.mel.detach().clone(),
            mel_postnet=out.mel_postnet.detach().clone(),
            gate_logits=out.gate_logits.detach().clone(),
            alignments=out.alignments.detach().clone(),
        )
        return totals, move(padded, self.device), out

    def _apply_update(self, skipped: bool, vetoed: bool) -> None:
        """skipped: no update this step; vetoed: skipped by a callback although the gradients are finite."""
        scaler = self.precision.scaler
        if scaler.is_enabled():
            if not vetoed:
                scaler.step(self.optimizer)  # skips by itself: unscale_ recorded the same inf/nan
            scaler.update()  # also after a veto: it closes the unscale_ of this step
        elif not skipped:
            self.optimizer.step()
        self._zero_grad()

    def _global_norm(self, norm: Any) -> Any:
        """Under DDP the loss is normalised by the counts of all ranks' micro-batches together, so the
        summed update over ranks equals one process training on the union (one extra sync under DDP)."""
        if not self.dist.enabled:
            return norm
        counts = torch.tensor(
            [norm.mel_elements, norm.frames, norm.attn_cells, norm.items],
            dtype=torch.float64,
            device=self.device,
        )
        mel_elements, frames, attn_cells, items = distributed.all_sum(counts, self.dist).tolist()
        return type(norm)(mel_elements, frames, attn_cells, int(items))

    def _clip_gradients(self) -> torch.Tensor:
        """Global grad norm before clipping (clipping off when train.grad_clip <= 0)."""
        params = [p for p in self.model.parameters() if p.grad is not None]
        if self.cfg.train.grad_clip > 0:
            return torch.nn.utils.clip_grad_norm_(params, self.cfg.train.grad_clip).float()
        return torch.nn.utils.get_total_norm([p.grad for p in params]).float()

    def _agree(self, packed: torch.Tensor) -> list[float]:
        """All-reduce (sum) [nonfinite, stop, grad_norm, losses...] so every rank decides alike."""
        distributed.all_sum(packed, self.dist)
        return packed.tolist()

    # ---- after a step ------------------------------------------------------------------------------------
    def _after_step(self, result: StepResult, bar: Any) -> None:
        """Callbacks, the train log row, evaluation, checkpoint, then (DDP) the steering sync.

        `step` is captured first: a rollback in a callback moves `self.step`, but the row belongs to the
        step that ran, and evaluating or checkpointing the restored state under that step would be wrong.
        """
        step = self.step
        generation = self._rollback_generation
        if result.skipped:
            self.skipped_steps += 1
            self._report_skip(result)
        self._window.add(result)
        self.callbacks.call("on_step_end", self, result)
        t = self.cfg.train
        if step % t.log_every == 0:
            self._log_train(bar, step)
        if self._rollback_generation == generation and step % t.eval_every == 0:
            self.evaluate()
        if self._rollback_generation == generation and step % t.checkpoint_every == 0:
            self.save_checkpoint()
        self._sync_steering()

    def _report_skip(self, result: StepResult) -> None:
        """A non-finite gradient is an anomaly; a callback's veto is logged (the callback reports its why)."""
        if result.skip_reason != NONFINITE:
            self.events.log(
                result.step,
                "update_skipped",
                reason=result.skip_reason,
                action="skip_step",
                level=logging.WARNING,
                batch_ids=list(result.batch.ids),
                grad_norm=result.grad_norm,
                losses=result.losses,
            )
            return
        self.report_anomaly(
            "nonfinite_grad",
            batch_ids=list(result.batch.ids),
            grad_norm=result.grad_norm,
            losses=result.losses,
            reason=NONFINITE,
            action="skip_step",
            precision=self.precision.name,
        )

    def _log_train(self, bar: Any, step: int) -> None:
        t = self.cfg.train
        record = self._window.flush(self.dist.world_size)
        record.update(
            lr=self.lr_schedule.lr(step),
            effective_batch_size=self._stage.batch_size * t.grad_accum_steps * self.dist.world_size,
            skipped_steps=self.skipped_steps,
            epoch=self.epoch,
            r=self._stage.r,
        )
        if self.precision.scaler.is_enabled():
            record["loss_scale"] = self.precision.loss_scale()
        if self.device.type == "cuda":
            record["memory/max_allocated_gb"] = torch.cuda.max_memory_allocated(self.device) / 2**30
        self.metrics.log(step, "train", record)
        self.tensorboard.scalars(step, record, prefix="train/")
        bar.set_postfix(loss=f"{record.get('loss', float('nan')):.4f}", fps=f"{record['frames_per_s']:.0f}")

    def evaluate(self) -> dict[str, float]:
        """Validation on rank 0 (losses, health, samples); early-stopping bookkeeping. Other ranks skip it."""
        if not self.is_main or len(self.val_set) == 0:
            return {}
        from tacotron.train.validate import run_validation

        metrics = run_validation(self)
        self.val_metrics = metrics
        self.metrics.log(self.step, "val", metrics)
        self.tensorboard.scalars(self.step, metrics)
        self._update_best(metrics)
        self.callbacks.call("on_eval_end", self, metrics)
        return metrics

    def _update_best(self, metrics: dict[str, float]) -> None:
        name = self.cfg.train.best_metric
        if name not in metrics:
            raise KeyError(
                f"train.best_metric {name!r} is not among the validation metrics {sorted(metrics)}"
            )
        value = metrics[name]
        if math.isfinite(value) and (self.best["value"] is None or value < self.best["value"]):
            self.best.update(value=value, step=self.step, bad_evals=0)
            self.save_checkpoint(tag="best")
            return
        self.best["bad_evals"] += 1
        patience = self.cfg.train.early_stop_patience
        if patience and self.best["bad_evals"] >= patience:
            self.request_stop(
                f"early_stop: {name} not better than {self.best['value']:.4g} "
                f"(step {self.best['step']}) for {patience} evaluations"
            )

    # ---- stopping, stages, signals -------------------------------------------------------------------
    def _should_stop(self) -> bool:
        t = self.cfg.train
        if t.max_minutes > 0 and (time.monotonic() - self._start_time) / 60 >= t.max_minutes:
            self.request_stop(f"time budget of {t.max_minutes:g} min reached")
        if not self.dist.enabled and self._stop_reason is not None:
            return True
        if self._stop_agreed:
            self._stop_reason = self._stop_reason or "stop requested on another rank"
            return True
        return self.step >= t.max_steps

    def _maybe_switch_stage(self) -> None:
        stage = self.schedule.at(self.step)
        if stage == self._stage:
            return
        epoch = self.epoch
        self._stage = stage
        self._stream = self._make_stream(epoch=epoch)
        self._val_batches = None
        self.events.log(
            self.step,
            "r_schedule",
            reason=f"r={stage.r}, batch_size={stage.batch_size}",
            action="new data stream",
        )
        self.callbacks.call("on_stage_change", self, stage)

    def _install_signal_handlers(self) -> dict[int, Any]:
        """SIGTERM / first Ctrl+C: stop after this step and save; second Ctrl+C: default behaviour."""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def handler(signum: int, frame: Any) -> None:
            if signum == signal.SIGINT and self._stop_reason is not None:
                raise KeyboardInterrupt
            self.request_stop(f"signal {signal.Signals(signum).name}")

        return {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}

    @staticmethod
    def _restore_signal_handlers(previous: dict[int, Any]) -> None:
        for signum, old in previous.items():
            signal.signal(signum, old)

    def _progress_bar(self) -> Any:
        from tqdm import tqdm

        return tqdm(
            total=self.cfg.train.max_steps,
            initial=self.step,
            unit="step",
            dynamic_ncols=True,
            disable=None if self.is_main else True,
        )


class _Window:
    """Sums over the steps since the last train log line (host floats and CPU counts only)."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.losses: dict[str, float] = {}
        self.steps = self.finite_norms = 0
        self.grad_norm = 0.0
        self.real = self.padded = self.items = 0
        self.start = time.monotonic()

    def count(self, host_batch: Any) -> None:
        real, padded = padding_stats(host_batch)
        self.real += real
        self.padded += padded
        self.items += host_batch.size

    def add(self, result: StepResult) -> None:
        self.steps += 1
        for name, value in result.losses.items():
            self.losses[name] = self.losses.get(name, 0.0) + value
        if math.isfinite(result.grad_norm):
            self.grad_norm += result.grad_norm
            self.finite_norms += 1

    def flush(self, world_size: int) -> dict[str, float]:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        record = {name: total / max(self.steps, 1) for name, total in self.losses.items()}
        record["grad_norm"] = self.grad_norm / self.finite_norms if self.finite_norms else float("nan")
        record["frames_per_s"] = self.real * world_size / elapsed
        record["padding_fraction"] = 1.0 - self.real / max(self.padded, 1)
        record["items_per_step"] = self.items * world_size / max(self.steps, 1)
        self._reset()
        return record
