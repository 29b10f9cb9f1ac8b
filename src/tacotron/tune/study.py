"""Creating or resuming an Optuna study: seeded TPE sampler, the pruner of pruning.py, trial counting.

Why resume by name: a study lives in its storage, not in a process. `open_study` loads an existing
study of that name (after a kill, or from another machine) or creates it, and refuses to mix a
single- and a multi-objective study under one name. `--trials N` means N finished trials in the whole
study (all workers together), so a restarted or extra worker only runs what is left. A trial that was
cut short (stopped, or its worker lost) and re-queued is not counted: its retry is; nor is a trial lost
before it sampled any parameter (see `count_finished`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tacotron.config import ConfigError, TuneConfig
from tacotron.tune.pruning import build_pruner

if TYPE_CHECKING:
    from tacotron.tune.stopping import StudyStop

log = logging.getLogger(__name__)

FINISHED_STATES = ("COMPLETE", "PRUNED", "FAIL")


def build_sampler(cfg: TuneConfig, parallel: bool, worker_id: int = 0, resumed_trials: int = 0) -> Any:
    """Multivariate TPE, seeded; `constant_liar` when several workers share the study.

    The seed is `sampler_seed` offset by the worker id and by the trials the study already holds:
    identical seeds would make parallel workers, or a resumed study, propose the same start-up trials
    again. A given study state and worker still give the same proposals.
    """
    seed = cfg.sampler_seed + 1_000_003 * worker_id + resumed_trials
    return _sampler_class()(multivariate=True, constant_liar=parallel, seed=seed)


_SAMPLER_CLASS: Any = None


def _sampler_class() -> Any:
    """TPESampler with the "trial_created" fault point (see stopping.py), defined on first use."""
    global _SAMPLER_CLASS
    if _SAMPLER_CLASS is None:
        import optuna

        from tacotron.tune.stopping import fault_point

        class TunerSampler(optuna.samplers.TPESampler):
            def before_trial(self, study: Any, trial: Any) -> None:
                fault_point("trial_created")  # the trial exists, RUNNING, without heartbeat or params
                super().before_trial(study, trial)

        _SAMPLER_CLASS = TunerSampler
    return _SAMPLER_CLASS


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
    """Trials that ended (complete, pruned or failed) in the whole study, less those that do not count.

    Not counted: a FAILED trial that was re-queued (its retry counts instead) and one that ended
    "interrupted" before it sampled a parameter (nothing ran). A trial lost more often than
    `tune.max_retry` allows counts, so a config that kills its worker cannot loop for ever.
    """
    from optuna.trial import TrialState

    from tacotron.tune.storage import INTERRUPTED, retried_number

    trials = study.get_trials(deepcopy=False)
    replaced = {retried_number(t) for t in trials} - {None}
    states = tuple(TrialState[s] for s in FINISHED_STATES)

    def counts(t: Any) -> bool:
        if t.state not in states:
            return False
        if t.state != TrialState.FAIL:
            return True
        empty = INTERRUPTED in t.user_attrs and not t.params and not t.system_attrs.get("fixed_params")
        return t.number not in replaced and not empty

    return sum(1 for t in trials if counts(t))


def count_open(study: Any) -> int:
    """Counted trials plus RUNNING ones (other workers'): what a worker compares with the wanted total
    before starting a trial, so that workers finishing together do not all start one more."""
    from optuna.trial import TrialState

    return count_finished(study) + len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


class BudgetGuard:
    """Optuna callback: stop starting trials that cannot reach a first evaluation before `deadline`.

    Why: trials are cut to fit the study's time budget, so a trial started with less time left than
    any trial so far needed for its first evaluation ends unscored (FAILED) and only burns the budget.
    The estimate is the quickest `first_eval_seconds` among the study's trials (all workers).
    """

    def __init__(self, deadline: float, clock: Callable[[], float] = time.time):
        self.deadline = deadline
        self.clock = clock
        self.stopped = False

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
            self.stopped = True
            study.stop()


class _AfterTrial:
    """Optuna callback: re-queue an interrupted trial's parameters; stop when the study has enough trials
    or a stop was requested; count this process's trials."""

    def __init__(
        self, total_trials: int, stop: StudyStop | None, progress: Callable[[int, int], None] | None = None
    ):
        self.total_trials = total_trials
        self.stop = stop
        self.progress = progress
        self.ran = 0

    def __call__(self, study: Any, trial: Any) -> None:
        from optuna.trial import TrialState

        from tacotron.tune.storage import INTERRUPTED, requeue_trial

        self.ran += 1
        if trial.state == TrialState.FAIL and INTERRUPTED in trial.user_attrs:
            requeue_trial(study, trial, trial.user_attrs[INTERRUPTED])
        if self.progress is not None:
            self.progress(count_finished(study), self.total_trials)
        if (self.stop is not None and self.stop.requested) or count_open(study) >= self.total_trials:
            study.stop()


def _storage_backend(study: Any) -> Any:
    """The study's `TunerStorage` (Optuna wraps an RDBStorage in a private caching layer)."""
    storage = study._storage
    return getattr(storage, "_backend", storage)


def fail_lost_trials(study: Any, wait: bool = False) -> None:
    """Fail (and re-queue) trials whose worker is gone; with `wait`, first let suspects become stale.

    Optuna checks before every new trial; this also runs when a worker starts and when it has no
    trial left to run, so that the last worker of a study does not leave a dead trial RUNNING. A
    suspect is a RUNNING trial that missed a heartbeat; waiting for it lasts at most the grace period
    (plus an interval), and a trial whose heartbeats go on (alive, another worker's) is left alone.
    """
    import warnings

    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import fail_stale_trials

    backend = _storage_backend(study)
    if not hasattr(backend, "silent_seconds") or not backend.heartbeat_interval:
        return
    interval, grace = float(backend.heartbeat_interval), backend.grace_seconds()
    give_up = time.monotonic() + grace + interval + 5.0
    announced: set[int] = set()
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            fail_stale_trials(study)
        if not wait:
            return
        silent = backend.silent_seconds(study._study_id).values()
        suspects = [(n, s) for n, s, _ in silent if s > max(1.5 * interval, interval + 1.0)]
        if not suspects or time.monotonic() > give_up:
            return
        for number, seconds in suspects:
            if number not in announced:
                announced.add(number)
                log.info(
                    "trial %d: no sign of life for %.0f s; waiting up to the grace period (%g s) to fail "
                    "and re-queue it",
                    number,
                    seconds,
                    grace,
                )
        time.sleep(min(1.0, interval))


def _failed_elsewhere(study: Any, number: int | None) -> bool:
    """True when trial `number` was failed as lost by some worker's stale-trial check."""
    from tacotron.tune.storage import INTERRUPTED

    if number is None:
        return False
    trial = study.get_trials(deepcopy=False)[number]
    return trial.state.name == "FAIL" and INTERRUPTED in trial.user_attrs


def run_worker(
    study: Any,
    objective: Any,
    total_trials: int,
    deadline: float | None = None,
    stop: StudyStop | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Run trials until the study holds `total_trials` counted ones, the time budget ends or a stop.

    Exceptions inside a trial are recorded by the objective as FAILED with a reason, and the worker
    moves on; the count includes failed trials so a broken setup cannot loop forever. With a
    `deadline` (time.time()), no trial starts after it, nor one that could not reach its first
    evaluation before it. Trials of dead workers are failed and re-queued (`fail_lost_trials`), and
    the worker runs the re-queued ones too. Trials other workers are running count as on their way,
    so a worker stops when the rest is in other hands. Returns how many trials this process ran.
    `progress(finished, wanted)` hears the study's finished count (all workers) after each trial here.
    """
    from optuna.exceptions import UpdateFinishedTrialError

    from tacotron.tune.storage import INTERRUPTED, requeue_trial

    after = _AfterTrial(total_trials, stop, progress)
    guard = BudgetGuard(deadline) if deadline is not None else None
    if stop is not None:
        stop.study = study
    fail_lost_trials(study)
    if progress is not None:
        progress(count_finished(study), total_trials)
    if count_finished(study) >= total_trials:
        log.info("study '%s' already has %d finished trials", study.study_name, count_finished(study))
    try:
        while not (stop is not None and stop.requested):
            remaining = total_trials - count_open(study)
            if remaining <= 0:  # any trial of a dead worker among the running ones? fail and re-queue it
                fail_lost_trials(study, wait=True)
                remaining = total_trials - count_open(study)
                if remaining <= 0:
                    break
            if (guard is not None and guard.stopped) or (deadline is not None and time.time() >= deadline):
                break
            try:
                study.optimize(
                    objective,
                    n_trials=remaining,
                    timeout=None if deadline is None else max(0.0, deadline - time.time()),
                    catch=(Exception,),
                    callbacks=[after] + ([guard] if guard is not None else []),
                    gc_after_trial=True,
                )
            except (UpdateFinishedTrialError, ValueError, AssertionError) as err:
                # Telling a trial that another worker failed meanwhile (this worker was silent longer
                # than the grace period: a stalled heartbeat thread) raises inside Optuna. The other
                # worker re-queued it; drop this result and go on. Anything else propagates.
                if not _failed_elsewhere(study, getattr(objective, "last_trial_number", None)):
                    raise
                log.warning(
                    "trial %d was failed by another worker meanwhile (no heartbeat within "
                    "tune.heartbeat_grace); its result is dropped (%s)",
                    objective.last_trial_number,
                    type(err).__name__,
                )
    except KeyboardInterrupt:
        # A second Ctrl+C inside a trial: Optuna stored it as FAILED and re-raised; re-queue it here.
        last = getattr(objective, "last_trial_number", None)
        if last is not None:
            trial = study.get_trials(deepcopy=False)[last]
            if INTERRUPTED in trial.user_attrs and trial.state.name == "FAIL":
                requeue_trial(study, trial, trial.user_attrs[INTERRUPTED])
        raise
    return after.ran
