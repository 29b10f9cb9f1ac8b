"""Creating or resuming an Optuna study: seeded TPE sampler, configurable pruner, trial counting.

Why resume by name: a study lives in its storage, not in a process. `open_study` loads an existing
study of that name (after a kill, or from another machine) or creates it, and refuses to mix a
single- and a multi-objective study under one name. `--trials N` means N finished trials in the whole
study (all workers together), so a restarted or extra worker only runs what is left.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from tacotron.config import ConfigError, TuneConfig

log = logging.getLogger(__name__)

FINISHED_STATES = ("COMPLETE", "PRUNED", "FAIL")


def build_sampler(cfg: TuneConfig, parallel: bool, worker_id: int = 0, resumed_trials: int = 0) -> Any:
    """Multivariate TPE, seeded; `constant_liar` when several workers share the study.

    The seed is `sampler_seed` offset by the worker id and by the trials the study already holds:
    identical seeds would make parallel workers, or a resumed study, propose the same start-up trials
    again. A given study state and worker still give the same proposals.
    """
    import optuna

    seed = cfg.sampler_seed + 1_000_003 * worker_id + resumed_trials
    return optuna.samplers.TPESampler(multivariate=True, constant_liar=parallel, seed=seed)


def build_pruner(cfg: TuneConfig) -> Any:
    """`tune.pruner`: median (after `pruner_startup_trials`), Hyperband over `steps_per_trial`, or none."""
    import optuna

    if cfg.direction_speed or cfg.pruner == "none":
        return optuna.pruners.NopPruner()  # Optuna cannot prune multi-objective studies
    if cfg.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=cfg.pruner_startup_trials,
            n_warmup_steps=cfg.pruner_warmup_steps,
        )
    return optuna.pruners.HyperbandPruner(
        min_resource=max(1, cfg.report_every),
        max_resource=max(cfg.steps_per_trial, cfg.report_every),
        reduction_factor=3,
    )


def directions(cfg: TuneConfig) -> list[str]:
    """Score (lower is better), plus seconds per training step when `tune.direction_speed`."""
    return ["minimize", "minimize"] if cfg.direction_speed else ["minimize"]


def open_study(name: str, storage: Any, cfg: TuneConfig, parallel: bool = False, worker_id: int = 0) -> Any:
    """Load the study `name` from `storage`, or create it; the sampler/pruner belong to this process."""
    import optuna

    study = optuna.create_study(
        storage=storage,
        study_name=name,
        sampler=build_sampler(cfg, parallel, worker_id),
        pruner=build_pruner(cfg),
        directions=directions(cfg),
        load_if_exists=True,
    )
    study.sampler = build_sampler(
        cfg, parallel, worker_id, resumed_trials=len(study.get_trials(deepcopy=False))
    )
    if len(study.directions) != len(directions(cfg)):
        raise ConfigError(
            f"study '{name}' has {len(study.directions)} objective(s) but tune.direction_speed="
            f"{cfg.direction_speed} asks for {len(directions(cfg))}; use another --study name"
        )
    return study


def count_finished(study: Any) -> int:
    """Trials that ended (complete, pruned or failed) in the whole study."""
    from optuna.trial import TrialState

    states = tuple(TrialState[s] for s in FINISHED_STATES)
    return len(study.get_trials(deepcopy=False, states=states))


class BudgetGuard:
    """Optuna callback: stop starting trials that cannot reach a first evaluation before `deadline`.

    Why: trials are cut to fit the study's time budget, so a trial started with less time left than
    any trial so far needed for its first evaluation ends unscored (FAILED) and only burns the budget.
    The estimate is the quickest `first_eval_seconds` among the study's trials (all workers).
    """

    def __init__(self, deadline: float, clock: Callable[[], float] = time.time):
        self.deadline = deadline
        self.clock = clock

    def __call__(self, study: Any, trial: Any) -> None:
        from tacotron.tune.objective import FIRST_EVAL_SECONDS

        needed = [
            float(t.user_attrs[FIRST_EVAL_SECONDS])
            for t in study.get_trials(deepcopy=False)
            if FIRST_EVAL_SECONDS in t.user_attrs
        ]
        left = self.deadline - self.clock()
        if needed and left < min(needed):
            log.info(
                "study '%s': %.0f s of the time budget left, a trial needs ~%.0f s to its first "
                "evaluation: starting no more trials in this worker",
                study.study_name,
                max(left, 0.0),
                min(needed),
            )
            study.stop()


def run_worker(study: Any, objective: Any, total_trials: int, deadline: float | None = None) -> int:
    """Run trials until the study holds `total_trials` finished ones (or the time budget ends).

    Exceptions inside a trial are recorded by the objective as FAILED with a reason, and the worker
    moves on; the count includes failed trials so a broken setup cannot loop forever. With a
    `deadline` (time.time()), no trial starts after it, nor one that could not reach its first
    evaluation before it.
    """
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    remaining = total_trials - count_finished(study)
    if remaining <= 0:
        log.info("study '%s' already has %d finished trials", study.study_name, count_finished(study))
        return 0
    states = tuple(TrialState[s] for s in FINISHED_STATES)
    before = count_finished(study)
    study.optimize(
        objective,
        n_trials=remaining,
        timeout=None if deadline is None else max(0.0, deadline - time.time()),
        catch=(Exception,),
        callbacks=[MaxTrialsCallback(total_trials, states=states)]
        + ([BudgetGuard(deadline)] if deadline is not None else []),
        gc_after_trial=True,
    )
    return count_finished(study) - before
