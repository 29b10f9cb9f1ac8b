"""Storage settings, pruner choice, seeds on resume, and the multi-objective (score vs speed) mode."""

from __future__ import annotations

import sqlite3

import optuna
import pytest
from optuna.trial import TrialState
from tests.helpers.configs import TRIAL_SPACE, trial_base_config

from tacotron.config import ConfigError, TuneConfig
from tacotron.tune.runner import TuneJob, finish, run_trials
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
    job = TuneJob(
        cfg=cfg,
        dataset_dir=tiny_dataset,
        space=SearchSpace.from_dict(TRIAL_SPACE),
        study_name="mo",
        out_dir=tmp_path,
        trials=2,
        device="cpu",
    )
    assert run_trials(job) == 2
    paths = finish(job)
    trials = optuna.load_study(study_name="mo", storage=job.storage_url).get_trials()
    assert all(t.state == TrialState.COMPLETE and len(t.values) == 2 for t in trials)
    assert all(t.values[1] > 0 for t in trials)  # seconds per step
    assert paths["best_yaml"].is_file()
    assert "Pareto front" in paths["report_html"].read_text()
