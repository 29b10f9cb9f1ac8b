"""The live controller: reads validation health during any training run and acts, with a logged reason.

Why: restarting a whole run because it looks unhealthy wastes the run and hides the reason. Here
the policy is `decide(...)`, a pure function of the evaluation history and of the actions already
taken, so every rule is unit-tested; `LiveController` (a trainer `Callback`) only applies the decision
and writes it to `events.jsonl` as {"event": "controller/<action>", "reason", "action", ...}.

Rules, checked after each evaluation in this order (at most one action per evaluation):
1. divergence: val loss not finite or above `controller_divergence_factor` x its best so far
   -> roll back to the last healthy checkpoint and multiply the LR by `controller_lr_factor`;
2. no alignment: val alignment (`attn/alignment`, the same scale at every r) below
   `health.align_threshold` at or after `controller_align_step`
   -> first raise the guided-attention weight by `controller_guided_attn_factor`, then (if still not
   aligned `controller_cooldown_evals` evaluations later) cut the LR, alternating, at most
   `controller_max_align_actions` times;
3. plateau: no relative improvement of `controller_plateau_min_delta` in the last
   `controller_plateau_evals` evaluations -> multiply the LR by `controller_lr_factor`.

The guided-attention weight is changed through `trainer.set_guided_attn_weight` (a logged steering
setter: the next step's loss uses it as the base of its decay schedule, checkpoints keep it, and under
DDP it reaches every rank). Under DDP the controller decides on rank 0 (the only rank that evaluates)
and its LR cuts, guided-attention changes and rollbacks reach every rank through the trainer's steering
broadcast at the end of the step; decisions are logged once, by rank 0. Enabled by `tune.controller`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tacotron.config import TuneConfig
from tacotron.metrics.attention import VAL_ALIGNMENT_KEY
from tacotron.train.callbacks import Callback

if TYPE_CHECKING:
    from tacotron.train.trainer import Trainer

log = logging.getLogger(__name__)

Action = Literal["rollback_cut_lr", "raise_guided_attn", "lower_lr", "decay_lr"]
LOSS_KEY = "val/loss"
ALIGN_ACTIONS = ("raise_guided_attn", "lower_lr")


@dataclass(frozen=True)
class EvalPoint:
    """One evaluation: the numbers the policy reads (alignment None when not measured)."""

    step: int
    val_loss: float
    alignment: float | None = None


@dataclass(frozen=True)
class Decision:
    """An action, why it was taken, and the factor applied (to the LR or the guided-attention weight)."""

    action: Action
    reason: str
    factor: float
    step: int
    eval_index: int  # position in the history when decided (cool-downs count evaluations)


def decide(
    history: list[EvalPoint], taken: list[Decision], cfg: TuneConfig, align_threshold: float
) -> Decision | None:
    """The controller's policy; `history` latest last, `taken` the decisions already applied."""
    if not history:
        return None
    for rule in (_divergence, _no_alignment, _plateau):
        decision = rule(history, taken, cfg, align_threshold)
        if decision is not None:
            return decision
    return None


def _divergence(history, taken, cfg: TuneConfig, _threshold) -> Decision | None:
    latest, n = history[-1], len(history) - 1
    rollbacks = sum(d.action == "rollback_cut_lr" for d in taken)
    if rollbacks >= cfg.controller_max_rollbacks:
        return None
    previous = [p.val_loss for p in history[:-1] if math.isfinite(p.val_loss)]
    if not math.isfinite(latest.val_loss):
        reason = f"val loss is {latest.val_loss} at step {latest.step}"
    elif previous and latest.val_loss > cfg.controller_divergence_factor * min(previous):
        reason = (
            f"val loss {latest.val_loss:.4f} at step {latest.step} > "
            f"{cfg.controller_divergence_factor} x best {min(previous):.4f} (divergence)"
        )
    else:
        return None
    return Decision("rollback_cut_lr", reason, cfg.controller_lr_factor, latest.step, n)


def _no_alignment(history, taken, cfg: TuneConfig, threshold: float) -> Decision | None:
    latest, n = history[-1], len(history) - 1
    if latest.alignment is None or latest.step < cfg.controller_align_step:
        return None
    if latest.alignment >= threshold:
        return None
    done = [d for d in taken if d.action in ALIGN_ACTIONS]
    if len(done) >= cfg.controller_max_align_actions:
        return None
    if done and n - done[-1].eval_index < cfg.controller_cooldown_evals:
        return None
    reason = (
        f"no alignment by step {latest.step}: alignment {latest.alignment:.3f} < {threshold} "
        f"(deadline step {cfg.controller_align_step})"
    )
    if len(done) % 2 == 0:
        return Decision("raise_guided_attn", reason, cfg.controller_guided_attn_factor, latest.step, n)
    return Decision("lower_lr", reason, cfg.controller_lr_factor, latest.step, n)


def _plateau(history, taken, cfg: TuneConfig, _threshold) -> Decision | None:
    window = cfg.controller_plateau_evals
    n = len(history) - 1
    if window <= 0 or len(history) <= window:
        return None
    last_decay = max((d.eval_index for d in taken if d.action == "decay_lr"), default=-(10**9))
    if n - last_decay < window:
        return None
    before = [p.val_loss for p in history[:-window] if math.isfinite(p.val_loss)]
    recent = [p.val_loss for p in history[-window:] if math.isfinite(p.val_loss)]
    if not before or not recent:
        return None
    best_before, best_recent = min(before), min(recent)
    if best_recent < best_before * (1.0 - cfg.controller_plateau_min_delta):
        return None
    reason = (
        f"plateau: best val loss of the last {window} evaluations {best_recent:.4f} is not "
        f"{cfg.controller_plateau_min_delta:.0%} below the earlier best {best_before:.4f}"
    )
    return Decision("decay_lr", reason, cfg.controller_lr_factor, history[-1].step, n)


class LiveController(Callback):
    """Applies `decide(...)` after every evaluation and logs each decision as an event."""

    def __init__(self, cfg: TuneConfig, align_threshold: float):
        self.cfg = cfg
        self.align_threshold = align_threshold
        self.history: list[EvalPoint] = []
        self.taken: list[Decision] = []

    def on_train_start(self, trainer: Trainer) -> None:
        dist = getattr(trainer, "dist", None)
        if dist is not None and dist.enabled and trainer.is_main:
            # Evaluations run on rank 0 only, so decisions are made there; every action goes through the
            # trainer's steering setters and rollback, which rank 0 broadcasts to the other ranks at the
            # end of the step (Steering.sync), so all ranks keep the same LR, weights and guided weight.
            log.info("controller: DDP run, decisions on rank 0, applied on all %d ranks", dist.world_size)

    def on_eval_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        if not getattr(trainer, "is_main", True):
            return  # under DDP only rank 0 evaluates and decides
        if LOSS_KEY not in metrics:
            raise KeyError(f"LiveController needs '{LOSS_KEY}' in evaluation metrics, got {sorted(metrics)}")
        alignment = metrics.get(VAL_ALIGNMENT_KEY)
        self.history.append(EvalPoint(trainer.step, float(metrics[LOSS_KEY]), alignment))
        decision = decide(self.history, self.taken, self.cfg, self.align_threshold)
        if decision is None:
            return
        self.taken.append(decision)
        details = self._apply(trainer, decision)
        log.info("controller: %s (%s) %s", decision.action, decision.reason, details)
        trainer.events.log(
            step=decision.step,
            event=f"controller/{decision.action}",
            reason=decision.reason,
            action=details.pop("action"),
            source="controller",
            **details,
        )

    def _apply(self, trainer: Trainer, decision: Decision) -> dict:
        if decision.action == "raise_guided_attn":
            old = trainer.guided_attn_weight()
            raised = min(max(old, 1e-3) * decision.factor, self.cfg.controller_max_guided_attn_weight)
            new = max(old, raised)  # a cap below the current weight must not turn "raise" into a cut
            trainer.set_guided_attn_weight(new)
            return {"action": f"loss.guided_attn_weight {old:g} -> {new:g}", "old": old, "new": new}
        details: dict = {}
        if decision.action == "rollback_cut_lr":
            path = trainer.last_healthy_checkpoint()
            if path is not None:
                trainer.rollback(path)
                details["rollback_to"] = str(path)
            else:
                details["rollback_to"] = None  # nothing saved yet: only the LR is cut
        old_lr = trainer.current_lr()
        trainer.scale_lr(decision.factor)
        new_lr = trainer.current_lr()
        prefix = f"rolled back to {details['rollback_to']}; " if details.get("rollback_to") else ""
        details.update(action=f"{prefix}lr {old_lr:.3g} -> {new_lr:.3g}", old=old_lr, new=new_lr)
        return details
