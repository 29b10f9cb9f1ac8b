"""Multi-fidelity pruning by default: clearly bad trials are pruned early and recorded PRUNED."""

from __future__ import annotations

from optuna.trial import TrialState
from tests.helpers.configs import trial_base_config, trial_job
from tests.tune.fake_trainer import fake_trainer_factory

from tacotron.config import TuneConfig
from tacotron.tune.pruning import pruner_kind
from tacotron.tune.runner import open_job_study, run_trials

GOOD, BAD = 2.0e-3, 1.0e-5  # train.lr: the fake trainer aligns at >= 1e-4, is stuck below


def _study(tmp_path, order: list[float], steps: int = 27, progress=None):
    cfg = trial_base_config()
    cfg.tune.pruner = "auto"  # the default
    cfg.tune.steps_per_trial, cfg.tune.report_every = steps, 1
    job = trial_job(
        cfg, tmp_path, tmp_path, "asha", len(order),
        objective_kwargs={"trainer_factory": fake_trainer_factory()}, progress=progress,
    )  # fmt: skip
    study = open_job_study(job)
    for lr in order:
        study.enqueue_trial({"train.lr": lr, "loss.guided_attn_weight": 1.0})
    run_trials(job)
    return open_job_study(job).get_trials()


def test_the_default_pruner_is_multi_fidelity_for_trials_with_several_evaluations():
    assert TuneConfig().pruner == "auto" and pruner_kind(TuneConfig()) == "asha"
    assert pruner_kind(TuneConfig(steps_per_trial=100, report_every=50)) == "median"  # no second rung
    assert pruner_kind(TuneConfig(direction_speed=True)) == "none"


def test_clearly_bad_trials_are_pruned_at_their_first_report(tmp_path):
    trials = _study(tmp_path, [GOOD, BAD, GOOD, BAD, BAD, GOOD, BAD])
    good = [t for t in trials if t.params["train.lr"] == GOOD]
    bad = [t for t in trials if t.params["train.lr"] == BAD]
    assert all(t.state == TrialState.COMPLETE and t.user_attrs["steps"] == 27 for t in good)
    assert all(t.state == TrialState.PRUNED for t in bad)  # not COMPLETE, not FAIL
    for t in bad:
        assert list(t.intermediate_values) == [1], t.intermediate_values  # pruned at step 1 of 27
        assert t.user_attrs["prune_reason"].startswith("asha pruner at step 1")
        assert t.user_attrs["steps_to_align"] is None and t.user_attrs["seconds_to_align"] is None
    assert len(good[0].intermediate_values) == 27  # every evaluation is reported


def test_steps_and_seconds_to_alignment_are_recorded(tmp_path):
    (trial,) = _study(tmp_path, [GOOD], steps=9)
    assert trial.user_attrs["steps_to_align"] == 5  # the fake run's alignment passes 0.5 at step 5
    assert 0 <= trial.user_attrs["seconds_to_align"] <= trial.user_attrs["seconds"]


def test_progress_hears_the_finished_count_after_every_trial(tmp_path):
    """`tacotron tune`'s bar: the study's finished trials out of those wanted, from the start on."""
    heard: list[tuple[int, int]] = []
    _study(tmp_path, [GOOD, BAD, GOOD], steps=3, progress=lambda done, total: heard.append((done, total)))
    assert heard == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_tune_takes_no_progress():
    from tacotron.cli import build_parser

    argv = ["tune", "--config", "c.yaml", "--data", "d"]
    assert build_parser().parse_args([*argv, "--no-progress"]).no_progress is True
    assert build_parser().parse_args(argv).no_progress is False
