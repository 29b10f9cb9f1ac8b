"""Optuna storage: SQLite (WAL, lock timeout) by default, any SQLAlchemy URL to share a study.

Why this matters: with SQLite's default settings two workers writing at once die with "database is
locked". So SQLite runs in WAL mode (readers never block the writer) with a
busy timeout, which is safe for a few local workers. For workers on several machines pass a server
URL (`postgresql://user@host/db`); every worker then runs `tacotron tune --storage URL` on the same
`--study` name.

Heartbeats and lost trials: every worker's running trial sends a heartbeat every
`tune.heartbeat_interval` seconds; a trial silent for `tune.heartbeat_grace` seconds (its worker was
killed) is marked FAILED ("interrupted" and "fail_reason" user attributes say why) by the next worker
that starts a trial or finishes its share, and re-queued with its parameters (`tune.max_retry` times).
Optuna creates a trial before its heartbeat thread records the first beat, and its own stale-trial
check skips a trial without any beat, so a worker killed in that window left the trial RUNNING for
ever. `TunerStorage` also counts a RUNNING trial without a beat as silent since its start
(`datetime_start`, this machine's clock: machines sharing a study need clocks within the grace period).
Such a trial has not sampled its parameters yet (the objective samples them inside the heartbeat), so
it is failed without a retry: nothing was lost, and `study.count_finished` does not count it.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tacotron.config import TuneConfig

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted"  # trial user attribute: why the trial was cut short (signal, budget, lost worker)
RETRY_OF = "retry_of"  # user attribute of a re-queued trial: the number of the trial it repeats


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).resolve()}"


def _prepare_sqlite(url: str, timeout: float) -> None:
    """Create the folder and switch the file to WAL once (the journal mode persists in the file)."""
    path = Path(url.removeprefix("sqlite:///"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path, timeout=timeout) as conn:
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode.lower() != "wal":
        log.warning("SQLite %s stays in journal mode %s (WAL unsupported here)", path, mode)


def make_storage(url: str, cfg: TuneConfig) -> Any:
    """A `TunerStorage` (an `optuna.storages.RDBStorage`) with heartbeats and retries; any SQLAlchemy URL."""
    from optuna.exceptions import ExperimentalWarning

    from tacotron.extras import require

    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:///"):
        _prepare_sqlite(url, cfg.sqlite_timeout)
        engine_kwargs["connect_args"] = {"timeout": cfg.sqlite_timeout}
    else:
        engine_kwargs["pool_pre_ping"] = True  # a server restart must not kill long-lived workers
    if url.startswith(("postgresql://", "postgresql+psycopg2://")):
        require("psycopg2", "postgres", "PostgreSQL storage for tacotron tune")  # SQLAlchemy's driver
    heartbeat = cfg.heartbeat_interval if cfg.heartbeat_interval > 0 else None
    storage_class = tuner_storage_class()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeats are "experimental" since 2.8
        kwargs = dict(
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat,
            grace_period=cfg.heartbeat_grace if heartbeat else None,
            heartbeat_stale_trial_callback=RequeueLostTrial(cfg.max_retry) if heartbeat else None,
        )
        return _create_schema_once(lambda: storage_class(url, **kwargs), url)


def requeue_trial(study: Any, trial: Any, reason: str, max_retry: int | None = None) -> int | None:
    """Queue `trial`'s parameters again as a WAITING trial; returns its number, or None when not queued.

    Not queued: the trial sampled no parameter (nothing to repeat), it was retried `max_retry` times
    already, or a retry of it exists (another worker or an earlier call queued it). The system
    attributes follow `optuna.storages.RetryFailedTrialCallback` ("failed_trial": the first trial of
    the chain, "retry_history"), so Optuna's helpers read them; the user attribute `retry_of` names
    the trial repeated. An enqueued trial's fixed parameters are carried over even if it was lost
    before it sampled them.
    """
    import optuna
    from optuna.trial import TrialState

    fixed = trial.system_attrs.get("fixed_params")
    if not trial.params and not fixed:
        return None
    history = [*trial.system_attrs.get("retry_history", []), trial.number]
    if max_retry is not None and len(history) > max_retry:
        log.warning("trial %d: %s; retried %d times already, not re-queued", trial.number, reason, max_retry)
        return None
    if any(retried_number(t) == trial.number for t in study.get_trials(deepcopy=False)):
        return None
    system_attrs: dict[str, Any] = {"failed_trial": history[0], "retry_history": history}
    if fixed:
        system_attrs["fixed_params"] = fixed
    study.add_trial(
        optuna.trial.create_trial(
            state=TrialState.WAITING,
            params=trial.params,
            distributions=trial.distributions,
            user_attrs={RETRY_OF: trial.number, "retry_reason": reason},
            system_attrs=system_attrs,
        )
    )
    number = max(t.number for t in study.get_trials(deepcopy=False))
    log.warning("trial %d: %s; its parameters are re-queued (trial %d)", trial.number, reason, number)
    return number


def retried_number(trial: Any) -> int | None:
    """The number of the trial that `trial` repeats (None for a trial that is no retry)."""
    history = trial.system_attrs.get("retry_history")
    return int(history[-1]) if history else None


class RequeueLostTrial:
    """Optuna's heartbeat-stale callback: the lost trial's parameters are queued again (`requeue_trial`)."""

    def __init__(self, max_retry: int):
        self.max_retry = max_retry

    def __call__(self, study: Any, trial: Any) -> None:
        reason = trial.user_attrs.get(INTERRUPTED, "worker lost (heartbeat expired)")
        if requeue_trial(study, trial, reason, self.max_retry) is None and not trial.params:
            log.warning(
                "trial %d: %s before it sampled parameters; nothing to re-queue", trial.number, reason
            )


_STORAGE_CLASS: Any = None


def tuner_storage_class() -> Any:
    """`TunerStorage`, defined on first use so that importing this module does not import optuna."""
    global _STORAGE_CLASS
    if _STORAGE_CLASS is None:
        _STORAGE_CLASS = _define_tuner_storage()
    return _STORAGE_CLASS


def _define_tuner_storage() -> Any:
    from datetime import datetime, timezone

    import sqlalchemy
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.storages import RDBStorage
    from optuna.storages._rdb import models
    from optuna.trial import TrialState

    class TunerStorage(RDBStorage):
        """RDBStorage whose stale-trial check also fails trials that died before their first heartbeat."""

        def silent_seconds(self, study_id: int) -> dict[int, tuple[int, float, bool]]:
            """{trial_id: (number, seconds without a sign of life, has a heartbeat)} of RUNNING trials.

            A sign of life is the last heartbeat (database clock, as Optuna compares them) or, for a
            trial without one, its start (`datetime_start`, UTC, against this machine's clock).
            """
            session = self.scoped_session()
            try:
                db_now = session.execute(sqlalchemy.func.now()).scalar().replace(tzinfo=None)
                rows = (
                    session.query(
                        models.TrialModel.trial_id,
                        models.TrialModel.number,
                        models.TrialModel._datetime_start_utc,
                        models.TrialHeartbeatModel.heartbeat,
                    )
                    .outerjoin(
                        models.TrialHeartbeatModel,
                        models.TrialHeartbeatModel.trial_id == models.TrialModel.trial_id,
                    )
                    .filter(models.TrialModel.study_id == study_id)
                    .filter(models.TrialModel.state == TrialState.RUNNING)
                    .all()
                )
                session.commit()
            finally:
                session.close()
            utc_now = datetime.now(timezone.utc).replace(tzinfo=None)
            silent = {}
            for trial_id, number, started, beat in rows:
                if beat is not None:
                    silent[trial_id] = (number, (db_now - beat).total_seconds(), True)
                elif started is not None:
                    silent[trial_id] = (number, (utc_now - started).total_seconds(), False)
            return silent

        def grace_seconds(self) -> float:
            return float(self.grace_period or 2 * (self.heartbeat_interval or 0))

        def _get_stale_trial_ids(self, study_id: int) -> list[int]:
            grace = self.grace_seconds()
            stale = []
            for trial_id, (number, seconds, beat) in self.silent_seconds(study_id).items():
                if seconds <= grace:
                    continue
                reason = (
                    f"worker lost: no heartbeat for {seconds:.0f} s (grace {grace:g} s)"
                    if beat
                    else f"worker lost before the trial's first heartbeat ({seconds:.0f} s ago)"
                )
                try:  # the reason first: a finished trial takes no attributes
                    self.set_trial_user_attr(trial_id, INTERRUPTED, reason)
                    self.set_trial_user_attr(trial_id, "fail_reason", reason)
                except UpdateFinishedTrialError:
                    continue  # another worker finished or failed it meanwhile
                log.warning("trial %d: %s; failing it", number, reason)
                stale.append(trial_id)
            return stale

    return TunerStorage


def _create_schema_once(make: Callable[[], Any], url: str) -> Any:
    """Workers started together on a fresh database race to create its schema; the loser retries.

    The second attempt finds the tables and the schema version the winner wrote. Any other error,
    or a second failure, propagates.
    """
    import sqlalchemy.exc

    try:
        return make()
    except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as err:
        log.warning(
            "creating the study schema in %s raced another worker (%s); retrying",
            describe_url(url),
            type(err).__name__,
        )
        time.sleep(1.0)
        return make()


def describe_url(url: str) -> str:
    """The URL without a password, for logs and reports."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url
