"""Storage settings, pruner choice, seeds on resume, and the multi-objective (score vs speed) mode."""

from __future__ import annotations

import sqlite3
import time

import optuna
import pytest
from optuna.trial import TrialState
from tests.helpers.configs import TRIAL_SPACE, trial_base_config, trial_job

from tacotron.config import ConfigError, TuneConfig
from tacotron.tune.runner import finish, run_trials
from tacotron.tune.space import SearchSpace
from tacotron.tune.storage import describe_url, make_storage, sqlite_url
from tacotron.tune.study import build_pruner, open_study


def test_sqlite_storage_uses_wal_and_a_lock_timeout(tmp_path):
    db = tmp_path / "sub" / "study.db"
    storage = make_storage(sqlite_url(db), TuneConfig(sqlite_timeout=12.5))
    open_study("s", storage, TuneConfig())
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert storage.engine.dialect.name == "sqlite"
    assert storage.engine.url.database == str(db)


def test_passwords_are_hidden_in_logs():
    assert describe_url("postgresql://tuner:secret@db:5432/s") == "postgresql://tuner:***@db:5432/s"
    assert describe_url("sqlite:///x.db") == "sqlite:///x.db"


@pytest.mark.parametrize(
    ("cfg", "kind"),
    [
        (TuneConfig(pruner="median"), optuna.pruners.MedianPruner),
        (TuneConfig(pruner="hyperband"), optuna.pruners.HyperbandPruner),
        (TuneConfig(pruner="none"), optuna.pruners.NopPruner),
        (TuneConfig(pruner="asha"), optuna.pruners.SuccessiveHalvingPruner),
        (
            TuneConfig(pruner="auto", steps_per_trial=300, report_every=50),
            optuna.pruners.SuccessiveHalvingPruner,
        ),
        (TuneConfig(pruner="auto", steps_per_trial=100, report_every=50), optuna.pruners.MedianPruner),
        (TuneConfig(pruner="median", direction_speed=True), optuna.pruners.NopPruner),
    ],
)
def test_pruner_follows_config(cfg, kind):
    assert isinstance(build_pruner(cfg), kind)


def test_resumed_study_does_not_repeat_startup_proposals(tmp_path):
    url = sqlite_url(tmp_path / "s.db")
    space = SearchSpace.from_dict(TRIAL_SPACE)
    proposals = []
    for _ in range(2):  # two "processes" on the same study
        study = open_study("r", make_storage(url, TuneConfig()), TuneConfig())
        trial = study.ask()
        proposals.append(space.suggest(trial))
        study.tell(trial, 1.0)
    assert proposals[0] != proposals[1]


def test_a_study_name_keeps_its_objectives(tmp_path):
    url = sqlite_url(tmp_path / "s.db")
    open_study("x", make_storage(url, TuneConfig()), TuneConfig())
    with pytest.raises(ConfigError, match="direction_speed"):
        open_study("x", make_storage(url, TuneConfig()), TuneConfig(direction_speed=True))


def test_multi_objective_records_score_and_seconds_per_step(tiny_dataset, tmp_path):
    cfg = trial_base_config()
    cfg.tune.direction_speed = True
    job = trial_job(cfg, tiny_dataset, tmp_path, "mo", 2)
    assert run_trials(job) == 2
    paths = finish(job)
    trials = optuna.load_study(study_name="mo", storage=job.storage_url).get_trials()
    assert all(t.state == TrialState.COMPLETE and len(t.values) == 2 for t in trials)
    assert all(t.values[1] > 0 for t in trials)  # seconds per step
    assert paths["best_yaml"].is_file()
    assert "Pareto front" in paths["report_html"].read_text()


def _heartbeat_study(tmp_path, name: str = "hb"):
    cfg = TuneConfig(heartbeat_interval=1, heartbeat_grace=1)
    return open_study(name, make_storage(sqlite_url(tmp_path / "hb.db"), cfg), cfg)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_trial_lost_before_its_first_heartbeat_is_failed_without_a_retry(tmp_path):
    """Optuna's own check skips a RUNNING trial without any heartbeat: the orphan of the race window."""
    from tacotron.tune.storage import INTERRUPTED
    from tacotron.tune.study import count_finished, fail_lost_trials

    study = _heartbeat_study(tmp_path)
    study.ask()  # created, RUNNING, no heartbeat, no params: its worker "dies" here
    fail_lost_trials(study)
    assert study.get_trials()[0].state == TrialState.RUNNING  # within the grace period: alive
    time.sleep(1.5)  # past the grace period (1 s)
    fail_lost_trials(study)
    (trial,) = study.get_trials()
    assert (
        trial.state == TrialState.FAIL
        and "before the trial's first heartbeat" in trial.user_attrs[INTERRUPTED]
    )
    assert count_finished(study) == 0  # nothing ran, nothing to retry: not counted


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_lost_trial_with_params_is_requeued_once_and_replaced_in_the_count(tmp_path):
    from tacotron.tune.storage import RETRY_OF, requeue_trial
    from tacotron.tune.study import count_finished, fail_lost_trials

    study = _heartbeat_study(tmp_path)
    trial = study.ask()
    SearchSpace.from_dict(TRIAL_SPACE).suggest(trial)
    study._storage.record_heartbeat(trial._trial_id)
    time.sleep(2.2)  # the database clock has whole seconds: > 1 s grace for sure
    fail_lost_trials(study)
    lost, retry = study.get_trials()
    assert lost.state == TrialState.FAIL and "no heartbeat" in lost.user_attrs["fail_reason"]
    assert retry.state == TrialState.WAITING and retry.params == lost.params
    assert retry.user_attrs[RETRY_OF] == 0 and retry.system_attrs["failed_trial"] == 0
    assert requeue_trial(study, lost, "again") is None  # a retry exists already
    assert count_finished(study) == 0
    study.tell(study.ask(), 1.0)  # pops the retry with its parameters
    assert study.get_trials()[1].state == TrialState.COMPLETE and count_finished(study) == 1


def test_a_worker_whose_trial_was_failed_by_another_goes_on(tmp_path):
    """A stalled heartbeat got the running trial failed elsewhere: its result is dropped, no crash."""
    from tacotron.tune.storage import INTERRUPTED
    from tacotron.tune.study import run_worker

    study = _heartbeat_study(tmp_path)

    class Objective:
        last_trial_number = None

        def __call__(self, trial):
            self.last_trial_number = trial.number
            if trial.number == 0:  # as another worker's fail_lost_trials would
                trial.set_user_attr(INTERRUPTED, "worker lost: no heartbeat")
                study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
            return 1.0

    run_worker(study, Objective(), total_trials=2)
    states = [t.state for t in study.get_trials()]
    assert states[0] == TrialState.FAIL and states.count(TrialState.COMPLETE) == 2
