"""Optuna storage: SQLite (WAL, lock timeout) by default, any SQLAlchemy URL to share a study.

Why this matters: with SQLite's default settings two workers writing at once die with "database is
locked". So SQLite runs in WAL mode (readers never block the writer) with a
busy timeout, which is safe for a few local workers. For workers on several machines pass a server
URL (`postgresql://user@host/db`); every worker then runs `tacotron tune --storage URL` on the same
`--study` name.

Heartbeats: every worker's running trial sends a heartbeat every `tune.heartbeat_interval` seconds; a
trial silent for `tune.heartbeat_grace` seconds (its worker was killed) is marked FAILED by the next
worker that starts a trial, and `RetryFailedTrialCallback` re-queues its parameters once
(`tune.max_retry`).
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
    """An `optuna.storages.RDBStorage` with heartbeats and retries; `url` any SQLAlchemy URL."""
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

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
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeats are "experimental" since 2.8
        retry = RetryHeartbeatStaleTrialCallback(max_retry=cfg.max_retry) if heartbeat else None
        kwargs = dict(
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat,
            grace_period=cfg.heartbeat_grace if heartbeat else None,
            heartbeat_stale_trial_callback=retry,
        )
        return _create_schema_once(lambda: RDBStorage(url, **kwargs), url)


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
