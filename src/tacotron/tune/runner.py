"""Running a study end to end: open it, run this worker's trials (plus local workers), export, report.

Used by `tacotron tune` and by `smart_tuner_main.py`. Local parallelism (`--workers K`) starts K-1
extra processes of the same command on the same storage and study; the parent creates the study
(and the database schema) before any child starts, because two processes creating it at once race.
On several machines, start `tacotron tune --storage postgresql://... --study NAME` on each.

The storage URL reaches the extra workers in the environment (`TACOTRON_TUNE_STORAGE`), never on
their command line, where `ps` would show a password; logs show it without the password.
SIGTERM / Ctrl+C stop the parent and its workers (stopping.py); the parent then waits for them
(`STOP_WAIT_SECONDS` at most) and `run_study` reports the stop instead of exporting.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tacotron.config import Config
from tacotron.tune.space import SearchSpace
from tacotron.tune.stopping import StudyStop
from tacotron.tune.storage import describe_url, make_storage, sqlite_url

log = logging.getLogger(__name__)

STORAGE_ENV = "TACOTRON_TUNE_STORAGE"  # the storage URL for extra workers (and a --storage default)
STOP_WAIT_SECONDS = 120.0  # after a stop, how long the parent waits for a worker before killing it


@dataclass
class TuneJob:
    """Everything one tuner process needs; built from the command line."""

    cfg: Config  # base config; `cfg.tune` holds the tuner's settings
    dataset_dir: Path
    space: SearchSpace
    study_name: str
    out_dir: Path  # trials/, best.yaml, best.pt, report.html
    storage_url: str = ""  # empty: sqlite in out_dir/study.db
    trials: int = 0  # finished trials wanted in the whole study; 0 = cfg.tune.trials
    budget_minutes: float = 0.0  # wall clock for this process; 0 = none
    device: str = "auto"
    worker_id: int = 0
    parallel: bool = False  # other workers share the study (constant-liar TPE)
    proxy: Any = None  # `proxy.ProxyFn`: the held-out intelligibility judge (`tacotron tune` passes one)
    objective_kwargs: dict[str, Any] = field(default_factory=dict)  # tests: trainer_factory, extra_callbacks
    progress: Any = None  # (finished, wanted) after each of this process's trials: `tacotron tune`'s bar

    def __post_init__(self) -> None:
        self.dataset_dir = Path(self.dataset_dir)
        self.out_dir = Path(self.out_dir)
        if not self.storage_url:
            self.storage_url = sqlite_url(self.out_dir / "study.db")
        if not self.trials:
            self.trials = self.cfg.tune.trials
        self.space.validate(self.cfg)


def open_job_study(job: TuneJob) -> Any:
    from tacotron.tune.study import open_study

    storage = make_storage(job.storage_url, job.cfg.tune)
    return open_study(job.study_name, storage, job.cfg.tune, parallel=job.parallel, worker_id=job.worker_id)


def run_trials(job: TuneJob, stop: StudyStop | None = None) -> int:
    """Run this process's share of the study; returns how many trials it ran.

    `stop`: the process's stop request (installed signal handlers); None = a fresh one, no handlers.
    """
    from tacotron.tune.objective import TrialObjective
    from tacotron.tune.study import run_worker

    stop = stop if stop is not None else StudyStop()
    study = open_job_study(job)
    deadline = time.time() + job.budget_minutes * 60 if job.budget_minutes > 0 else None
    objective = TrialObjective(
        job.cfg,
        job.dataset_dir,
        job.space,
        job.out_dir,
        device=job.device,
        deadline=deadline,
        stop=stop,
        proxy=job.proxy,
        **job.objective_kwargs,
    )
    log.info(
        "worker %d: study '%s' in %s, %d trials wanted",
        job.worker_id,
        job.study_name,
        describe_url(job.storage_url),
        job.trials,
    )
    return run_worker(study, objective, job.trials, deadline, stop=stop, progress=job.progress)


def run_study(job: TuneJob, child_argv: list[str], workers: int) -> StudyStop:
    """This process's trials plus `workers - 1` local extra workers, under one SIGTERM/Ctrl+C handler.

    Returns the stop request: `requested` tells whether a signal cut the study short.
    """
    with StudyStop() as stop:
        open_job_study(job)  # create study and schema once, before any extra worker starts
        procs = spawn_workers(child_argv, workers - 1, job.storage_url)
        stop.children = procs
        try:
            run_trials(job, stop)
        finally:
            codes = wait_workers(procs, STOP_WAIT_SECONDS if stop.requested else None)
        if any(code != 0 for code in codes) and not stop.requested:
            print("some workers failed; see their logs above", file=sys.stderr)
    return stop


def spawn_workers(child_argv: list[str], count: int, storage_url: str = "") -> list[subprocess.Popen]:
    """Start `count` more `python -m tacotron tune ...` processes; worker ids 1..count.

    The storage URL goes in the environment (`TACOTRON_TUNE_STORAGE`), not on the command line.
    """
    procs = []
    env = {**os.environ, STORAGE_ENV: storage_url} if storage_url else None
    for worker_id in range(1, count + 1):
        cmd = [
            sys.executable,
            "-m",
            "tacotron",
            "tune",
            *child_argv,
            "--worker-id",
            str(worker_id),
            "--parallel",
            "--no-export",
        ]
        log.info("starting worker %d: %s", worker_id, " ".join(cmd))
        procs.append(subprocess.Popen(cmd, env=env))
    return procs


def wait_workers(procs: list[subprocess.Popen], timeout: float | None = None) -> list[int]:
    """Wait for every worker; returns their exit codes (non-zero ones are logged).

    With a `timeout` (after a stop), a worker still running after it is killed.
    """
    codes = []
    give_up = None if timeout is None else time.monotonic() + timeout
    for proc in procs:
        try:
            code = proc.wait(None if give_up is None else max(0.1, give_up - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("worker pid %d did not stop within %.0f s; killing it", proc.pid, timeout)
            proc.kill()
            code = proc.wait()
        if code != 0:
            stopped = timeout is not None and code in (128 + signal.SIGTERM, 128 + signal.SIGINT)
            (log.info if stopped else log.error)("worker pid %d exited with %d", proc.pid, code)
        codes.append(code)
    return codes


def finish(job: TuneJob) -> dict[str, Path | None]:
    """Export the best trial (if any completed) and write the study report."""
    from tacotron.tune.export import NoCompletedTrial, export_best
    from tacotron.tune.report import write_study_report

    study = open_job_study(job)
    paths: dict[str, Path | None] = {"best_yaml": None, "best_ckpt": None}
    try:
        paths["best_yaml"], paths["best_ckpt"] = export_best(study, job.cfg, job.out_dir)
    except NoCompletedTrial as err:
        log.warning("%s", err)  # the report states it too; nothing to export is not an error
    paths["report_html"], paths["report_md"] = write_study_report(
        study, job.out_dir, describe_url(job.storage_url), base=job.cfg
    )
    return paths
