"""Processes: a killed study resumes under the same name; two workers share one study (SQLite, PostgreSQL)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tacotron.tune.storage import sqlite_url

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def _tune_cmd(
    base: Path, space: Path, data: Path, out: Path, study: str, trials: int, *extra: str
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "tacotron",
        "tune",
        "--config",
        str(base),
        "--data",
        str(data),
        "--space",
        str(space),
        "--trials",
        str(trials),
        "--study",
        study,
        "--out",
        str(out),
        "--device",
        "cpu",
        *extra,
    ]


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
    }


def _trials(url: str, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=url).get_trials()


def _finished_so_far(db: Path) -> int:
    """Finished trials read with plain sqlite3, so polling never races the tuner creating the schema."""
    if not db.is_file():
        return 0
    with sqlite3.connect(db, timeout=30) as conn:
        try:
            rows = conn.execute("SELECT count(*) FROM trials WHERE state IN ('COMPLETE', 'PRUNED', 'FAIL')")
        except sqlite3.OperationalError:  # "no such table": the tuner has not created the schema yet
            return 0
        return rows.fetchone()[0]


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"tuner exited early with {proc.returncode}"
        assert time.monotonic() < deadline, "timed out waiting for the study"
        time.sleep(0.3)


@pytest.mark.slow
def test_killed_study_resumes_with_the_same_name(tiny_dataset, base_config_file, space_file, tmp_path):
    out, study = tmp_path / "out", "killme"
    url = sqlite_url(out / "study.db")
    cmd = _tune_cmd(base_config_file, space_file, tiny_dataset, out, study, 5)
    first = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: _finished_so_far(out / "study.db") >= 2, first)
    finally:
        first.send_signal(signal.SIGKILL)  # no clean shutdown: a trial may be left RUNNING
        first.wait()
    at_kill = _trials(url, study)
    finished_at_kill = sum(t.state in FINISHED for t in at_kill)
    assert 2 <= finished_at_kill < 5

    second = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    after = _trials(url, study)
    assert len(optuna.get_all_study_names(url)) == 1  # same study, not a new one
    assert sum(t.state in FINISHED for t in after) >= 5 and len(after) > len(at_kill)
    assert not [t for t in after if t.state == TrialState.RUNNING]  # the orphan was failed by heartbeat
    orphans = [t.number for t in at_kill if t.state == TrialState.RUNNING]
    for number in orphans:  # ... and its parameters were re-queued once
        assert after[number].state == TrialState.FAIL
        retries = [t for t in after if t.system_attrs.get("failed_trial") == number]
        assert len(retries) == 1 and retries[0].params == after[number].params
    assert {t.number for t in at_kill if t.state in FINISHED} <= {
        t.number for t in after if t.state in FINISHED
    }
    assert (out / "best.yaml").is_file() and (out / "report.html").is_file()


def _assert_shared(url: str, study: str, wanted: int) -> None:
    trials = _trials(url, study)
    done = [t for t in trials if t.state in FINISHED]
    assert len(done) >= wanted
    assert len({t.user_attrs["pid"] for t in done}) == 2, "both worker processes must have run trials"
    assert len({t.number for t in trials}) == len(trials)


@pytest.mark.slow
def test_two_local_workers_share_one_sqlite_study(tiny_dataset, base_config_file, space_file, tmp_path):
    out = tmp_path / "out"
    cmd = _tune_cmd(
        base_config_file,
        space_file,
        tiny_dataset,
        out,
        "shared",
        6,
        "--workers",
        "2",
        "--set",
        "tune.steps_per_trial=4",
    )
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_shared(sqlite_url(out / "study.db"), "shared", 6)


@pytest.mark.slow
def test_two_machines_share_one_postgresql_study(
    tiny_dataset, base_config_file, space_file, tmp_path, postgres_url
):
    """Two `tacotron tune --storage postgresql://...` processes, as on two machines."""
    from tacotron.config import TuneConfig
    from tacotron.tune.storage import make_storage
    from tacotron.tune.study import open_study

    open_study(
        "pg", make_storage(postgres_url, TuneConfig()), TuneConfig()
    )  # create once, then start workers
    procs = [
        subprocess.Popen(
            _tune_cmd(
                base_config_file,
                space_file,
                tiny_dataset,
                tmp_path / f"m{i}",
                "pg",
                4,
                "--storage",
                postgres_url,
                "--worker-id",
                str(i),
                "--parallel",
                "--no-export",
                "--set",
                "tune.steps_per_trial=4",
            ),
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    _assert_shared(postgres_url, "pg", 4)
