"""Processes: kill -9 anywhere and SIGTERM leave a study that resumes under the same name with no trial
RUNNING and no parameters lost; two workers share one study (SQLite; PostgreSQL, one worker killed)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from tests.helpers.configs import trial_base_config

from tacotron.tune.storage import INTERRUPTED, RETRY_OF, sqlite_url
from tacotron.tune.study import count_finished

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


def _env(**extra: str) -> dict[str, str]:
    """One torch thread, the source tree on the path; the tuner's variables only where a test sets them."""
    env = {k: v for k, v in os.environ.items() if k not in ("TACOTRON_TUNE_STORAGE", "TACOTRON_TUNE_FAULT")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"), **extra)
    return env


def _trials(url: str, study: str) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=url).get_trials()


def _wait_for(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"tuner exited early with {proc.returncode}"
        assert time.monotonic() < deadline, "timed out waiting for the study"
        time.sleep(0.3)


def _lost(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    return [t for t in trials if t.state == TrialState.FAIL and INTERRUPTED in t.user_attrs]


def _assert_no_params_lost(trials: list[optuna.trial.FrozenTrial]) -> None:
    """Each cut or lost trial with parameters has exactly one retry with the same parameters; one lost
    before it sampled any was created in the heartbeat race window and needs none."""
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    for t in _lost(trials):
        retries = [r for r in trials if r.user_attrs.get(RETRY_OF) == t.number]
        if t.params or t.system_attrs.get("fixed_params"):
            assert len(retries) == 1, (t.number, t.user_attrs)
            assert retries[0].params == t.params and retries[0].state in FINISHED
        else:
            assert not retries and "before the trial" in t.user_attrs[INTERRUPTED], t.user_attrs


@pytest.mark.slow
def test_workers_killed_anywhere_leave_no_running_trial_and_lose_no_params(
    tiny_dataset, base_config_file, space_file, tmp_path
):
    """kill -9 at seeded random points of the trial life cycle (`TACOTRON_TUNE_FAULT`), the first one in
    the race window (trial created, no heartbeat yet, no params); then the same command resumes the study.
    """
    out, study, wanted = tmp_path / "out", "killme", 5
    url = sqlite_url(out / "study.db")
    extra = ("--steps", "2", "--set", "tune.report_every=2", "--set", "tune.pruner=none")
    extra += ("--set", "tune.max_retry=10")  # every lost trial is re-queued, however often it is lost
    cmd = _tune_cmd(base_config_file, space_file, tiny_dataset, out, study, wanted, *extra)
    rng = random.Random(22)
    points = ["params_sampled", "train_step", "trial_scored"]
    rng.shuffle(points)
    plan = [("trial_created", 1)] + [(point, rng.randint(1, 2)) for point in points]
    # A restarted worker can only tell a dead worker's trial from a live one after the grace period
    # (SQLite's clock has 1 s resolution): each restart waits past it, so it must fail the trial the
    # previous kill left RUNNING. (Without the wait a fast restart rightly leaves it alone.)
    past_grace = trial_base_config().tune.heartbeat_grace + 1.5
    for i, (point, nth) in enumerate(plan):
        if i:
            time.sleep(past_grace)
        killed = subprocess.run(
            cmd, env=_env(TACOTRON_TUNE_FAULT=f"{point}@{nth}"), capture_output=True, text=True, timeout=120
        )
        assert killed.returncode == -signal.SIGKILL, (point, nth, killed.stderr[-3000:])
    at_kill = _trials(url, study)
    assert [t.state for t in at_kill].count(TrialState.RUNNING) <= 1  # the last kill's; earlier ones failed

    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert optuna.get_all_study_names(url) == [study]  # resumed, not a new study
    trials = _trials(url, study)
    assert len(_lost(trials)) == len(plan)  # one trial per kill, every one failed with its reason
    assert not _lost(trials)[0].params  # the race-window orphan: failed, not left RUNNING
    _assert_no_params_lost(trials)
    assert count_finished(optuna.load_study(study_name=study, storage=url)) >= wanted
    assert all(t.user_attrs["steps"] == 2 for t in trials if t.state == TrialState.COMPLETE)
    assert (out / "best.yaml").is_file() and (out / "report.html").is_file()


def _running_in_training(db: Path) -> int:
    """RUNNING trials that reported an evaluation (so are inside `fit`), read with plain sqlite3."""
    if not db.is_file():
        return 0
    with sqlite3.connect(db, timeout=30) as conn:
        try:
            rows = conn.execute(
                "SELECT count(DISTINCT t.trial_id) FROM trials t JOIN trial_intermediate_values v "
                "ON v.trial_id = t.trial_id WHERE t.state = 'RUNNING'"
            )
        except sqlite3.OperationalError:
            return 0
        return rows.fetchone()[0]


def _running_numbers(db: Path) -> list[int]:
    """Numbers of the RUNNING trials, read with plain sqlite3 (the moment before a signal)."""
    with sqlite3.connect(db, timeout=30) as conn:
        return [n for (n,) in conn.execute("SELECT number FROM trials WHERE state = 'RUNNING'")]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_sigterm_stops_every_worker_records_cut_trials_as_interrupted_and_resumes(
    tiny_dataset, base_config_file, space_file, tmp_path
):
    out, study, steps = tmp_path / "out", "stopme", 12
    url = sqlite_url(out / "study.db")

    def command(trials: int) -> list[str]:
        extra = ("--workers", "2", "--steps", str(steps), "--set", "tune.pruner=none")
        return _tune_cmd(
            base_config_file,
            space_file,
            tiny_dataset,
            out,
            study,
            trials,
            *extra,
            "--set",
            "tune.report_every=2",
        )

    cmd = command(8)  # more than get done before the signal: both workers keep starting trials
    log = tmp_path / "first.log"
    with log.open("w") as sink:
        first = subprocess.Popen(cmd, env=_env(), stdout=sink, stderr=subprocess.STDOUT)
        try:
            _wait_for(lambda: _running_in_training(out / "study.db") >= 2, first)  # both workers mid-trial
            running = _running_numbers(out / "study.db")
            signalled = time.time()
            first.send_signal(signal.SIGTERM)
            first.wait(timeout=60)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
    stopped_after = time.time() - signalled
    output = log.read_text()
    assert first.returncode == 128 + signal.SIGTERM, output[-3000:]
    assert "stopped (signal SIGTERM)" in output and "Run the same command to resume" in output
    assert stopped_after < 30, f"took {stopped_after:.0f} s to stop"

    trials = _trials(url, study)
    assert not [t.number for t in trials if t.state == TrialState.RUNNING]
    assert not [t.number for t in trials if _alive(t.user_attrs.get("pid", 0) or 10**7)]  # workers gone
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert all(t.user_attrs["steps"] == steps for t in complete)  # none cut short
    cut = [t for t in _lost(trials) if t.params]
    # the trials running at the signal: cut (re-queued below), or finished their last step in full
    by_number = {t.number: t for t in trials}
    assert all(by_number[n] in cut or by_number[n].state == TrialState.COMPLETE for n in running), running
    assert cut and len(running) >= 2
    for t in cut:
        reason = t.user_attrs[INTERRUPTED]
        assert "signal SIGTERM" in reason and f"of {steps}" in reason, reason
        assert t.datetime_start.timestamp() < signalled
    for t in trials:  # no trial ran after the signal (one created in that instant ends at once)
        if t.datetime_start is not None and t.datetime_start.timestamp() > signalled:
            assert t in _lost(trials) and not t.params and "steps" not in t.user_attrs, t
    waiting = [t for t in trials if t.state == TrialState.WAITING]
    assert sorted(t.user_attrs[RETRY_OF] for t in waiting) == sorted(t.number for t in cut)

    # Resume, asking for just the cut trials more: the re-queued parameters run first.
    wanted = count_finished(optuna.load_study(study_name=study, storage=url)) + len(cut)
    second = subprocess.run(command(wanted), env=_env(), capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    after = _trials(url, study)
    _assert_no_params_lost(after)
    assert all(t.user_attrs["steps"] == steps for t in after if t.state == TrialState.COMPLETE)
    assert count_finished(optuna.load_study(study_name=study, storage=url)) >= wanted
    assert (out / "best.yaml").is_file()


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
    """Two `tacotron tune` processes on one PostgreSQL study, as on two machines; the second is killed
    (SIGKILL) in its first trial, and the first fails and re-runs that trial with the same parameters.
    The URL (with a password) travels in TACOTRON_TUNE_STORAGE and is never printed."""
    import sqlalchemy

    from tacotron.config import TuneConfig
    from tacotron.tune.storage import make_storage
    from tacotron.tune.study import open_study

    cfg = TuneConfig(heartbeat_interval=1, heartbeat_grace=2)
    open_study("pg", make_storage(postgres_url, cfg), cfg)  # create once, then start workers
    password = sqlalchemy.engine.make_url(postgres_url).password
    assert password
    faults = [{}, {"TACOTRON_TUNE_FAULT": "train_step@2"}]
    procs = [
        subprocess.Popen(
            _tune_cmd(
                base_config_file,
                space_file,
                tiny_dataset,
                tmp_path / f"m{i}",
                "pg",
                4,
                "--worker-id",
                str(i),
                "--parallel",
                "--no-export",
                "--set",
                "tune.steps_per_trial=4",
            ),
            env=_env(TACOTRON_TUNE_STORAGE=postgres_url, **faults[i]),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    assert procs[0].returncode == 0, outputs[0][-3000:]
    assert procs[1].returncode == -signal.SIGKILL, outputs[1][-3000:]
    assert "tuner:***@127.0.0.1" in outputs[0]
    assert not [o for o in outputs if password in o]
    _assert_shared(postgres_url, "pg", 4)
    trials = _trials(postgres_url, "pg")
    lost = _lost(trials)
    assert [t.user_attrs["pid"] for t in lost] == [procs[1].pid]
    assert "worker lost" in lost[0].user_attrs[INTERRUPTED]
    _assert_no_params_lost(trials)
    assert count_finished(optuna.load_study(study_name="pg", storage=postgres_url)) >= 4
