"""Which Optuna pruner a study uses: multi-fidelity (ASHA) by default, median or Hyperband on request.

Why ASHA for short budgets: a trial reports its score at every evaluation (`tune.report_every`
steps), so the steps are a fidelity axis. Asynchronous successive halving keeps, at each rung
(report_every x 3^k steps), only the best third of the trials that reached it, and it needs no
finished trials to start pruning, so a study of a few minutes spends its time on the promising
trials instead of running every bad one to the end. Hyperband runs several such brackets with
different first rungs (safer when early scores mislead, but each bracket sees only a share of the
trials, too few in a short study). The median pruner waits for `pruner_startup_trials` finished
trials. With fewer than 3 evaluations per trial there is no second rung, so "auto" falls back to
median. Pruned trials end PRUNED (never COMPLETE or FAILED) with the reason in "prune_reason".
"""

from __future__ import annotations

from typing import Any

from tacotron.config import TuneConfig

REDUCTION_FACTOR = 3  # ASHA / Hyperband keep the best 1/3 at each rung
MIN_EVALS_FOR_RUNGS = 3  # "auto" uses ASHA from this many evaluations per trial


def pruner_kind(cfg: TuneConfig) -> str:
    """The pruner `tune.pruner` means here: "asha", "hyperband", "median" or "none"."""
    if cfg.direction_speed or cfg.pruner == "none":
        return "none"  # Optuna cannot prune multi-objective studies
    if cfg.pruner != "auto":
        return cfg.pruner
    evals = cfg.steps_per_trial // max(1, cfg.report_every)
    return "asha" if evals >= MIN_EVALS_FOR_RUNGS else "median"


def build_pruner(cfg: TuneConfig) -> Any:
    """The Optuna pruner of `pruner_kind`, its resources in training steps."""
    import optuna

    kind = pruner_kind(cfg)
    min_resource = max(1, cfg.report_every)
    if kind == "none":
        return optuna.pruners.NopPruner()
    if kind == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=cfg.pruner_startup_trials,
            n_warmup_steps=cfg.pruner_warmup_steps,
        )
    if kind == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=min_resource, reduction_factor=REDUCTION_FACTOR
        )
    return optuna.pruners.HyperbandPruner(
        min_resource=min_resource,
        max_resource=max(cfg.steps_per_trial, cfg.report_every),
        reduction_factor=REDUCTION_FACTOR,
    )
