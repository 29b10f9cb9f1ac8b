"""A real (tiny) study in-process: completes, prunes, records failures with reasons, exports, reports."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState
from tests.helpers.configs import trial_base_config, trial_job

from tacotron.config import Config
from tacotron.train.callbacks import Callback
from tacotron.tune.runner import finish, open_job_study, run_trials


class ExplodeAtStep(Callback):
    """Fault injection: an exception from inside training, as a CUDA OOM or a bug would raise."""

    def on_step_end(self, trainer, result):
        if trainer.step == 1:
            raise RuntimeError("injected failure at step 1")


def _fail_trial_2(trial) -> list[Callback]:
    return [ExplodeAtStep()] if trial.number == 2 else []


@pytest.fixture(scope="module")
def finished_study(tiny_dataset, tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    cfg = trial_base_config()
    # From a zero frame bias the first steps learn the mel offset, so lr 1e-5 is clearly worse than 1e-3
    # after one step; from the mean-mel bias the first step barely moves the loss at either lr.
    cfg.train.init_frame_bias = False
    job = trial_job(cfg, tiny_dataset, out, "tiny", 4, objective_kwargs={"extra_callbacks": _fail_trial_2})
    study = open_job_study(job)
    study.enqueue_trial({"train.lr": 1.0e-3, "loss.guided_attn_weight": 1.0})
    study.enqueue_trial({"train.lr": 1.0e-5, "loss.guided_attn_weight": 1.0})  # worse: pruned
    study.enqueue_trial({"train.lr": 1.0e-3, "loss.guided_attn_weight": 2.0})  # raises: failed
    study.enqueue_trial({"train.lr": 2.0e-3, "loss.guided_attn_weight": 1.0})  # better: complete
    ran = run_trials(job)
    paths = finish(job)
    return job, open_job_study(job), ran, paths


def test_four_trials_finish_with_pruned_and_failed_states(finished_study):
    _, study, ran, _ = finished_study
    trials = study.get_trials()
    assert ran == 4 and len(trials) == 4
    states = [t.state for t in trials]
    assert (
        states[0] == TrialState.COMPLETE and states[1] == TrialState.PRUNED and states[2] == TrialState.FAIL
    )
    assert trials[0].value is not None and trials[0].value > 0
    assert trials[1].user_attrs["prune_reason"].startswith("median pruner at step 1")
    assert len(trials[1].intermediate_values) == 1  # stopped at its first report, not run to the end
    assert trials[0].user_attrs["steps"] == 3 and trials[1].user_attrs["steps"] < 3
    assert states[3] == TrialState.COMPLETE and trials[3].value < trials[0].value


def test_failed_trial_has_its_reason_and_no_fake_value(finished_study):
    _, study, _, _ = finished_study
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 1
    assert failed[0].values is None
    assert failed[0].user_attrs["fail_reason"] == "RuntimeError: injected failure at step 1"


def test_best_config_and_checkpoint_are_exported(finished_study):
    job, study, _, paths = finished_study
    best = study.best_trial
    cfg = Config.load(paths["best_yaml"])
    assert cfg.train.lr == pytest.approx(best.params["train.lr"])
    assert cfg.loss.guided_attn_weight == pytest.approx(best.params["loss.guided_attn_weight"])
    assert cfg.train.max_steps == job.cfg.train.max_steps  # the base schedule, not the trial's
    assert paths["best_ckpt"].is_file() and paths["best_ckpt"].stat().st_size > 0


def test_report_lists_trials_reasons_and_plots(finished_study):
    _, study, _, paths = finished_study
    md = paths["report_md"].read_text()
    html = paths["report_html"].read_text()
    assert "median pruner at step 1" in md and "injected failure at step 1" in md
    assert "complete" in md and "pruned 1" in md and "fail 1" in md
    assert html.count("data:image/png;base64,") >= 3  # history, importances or its reason, parallel coords
    assert "Parameter importances" in html and "optuna-dashboard" in html


def test_report_states_why_importances_are_missing(tmp_path):
    study = optuna.create_study()
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 1.0}, distributions={"x": optuna.distributions.FloatDistribution(0, 2)}, value=1.0
        )
    )
    from tacotron.tune.report import write_study_report

    _, md = write_study_report(study, tmp_path)
    assert "needs at least 2 completed trials, have 1" in md.read_text()


def test_best_yaml_trains_with_tacotron_train(finished_study, tiny_dataset, tmp_path):
    from tacotron.cli import main

    _, _, _, paths = finished_study
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "--config",
            str(paths["best_yaml"]),
            "--data",
            str(tiny_dataset),
            "--run",
            str(run),
            "--device",
            "cpu",
            "--set",
            "train.max_steps=2",
        ]
    )
    assert code == 0
    assert (run / "checkpoints" / "step_00000002.pt").is_file()
    assert Config.load(run / "config.yaml").train.lr == Config.load(paths["best_yaml"]).train.lr


def test_scored_trials_record_the_seconds_to_their_first_evaluation(finished_study):
    _, study, _, _ = finished_study
    trials = study.get_trials()
    for trial in (trials[0], trials[1], trials[3]):  # complete, pruned, complete: all evaluated
        assert 0 < trial.user_attrs["first_eval_seconds"] <= trial.user_attrs["seconds"]
    assert "first_eval_seconds" not in trials[2].user_attrs  # failed at step 1, before any evaluation


class _FakeStudy:
    study_name = "fake"

    def __init__(self, first_eval_seconds: list[float | None]):
        self.trials = [
            optuna.trial.create_trial(
                state=TrialState.COMPLETE,
                value=1.0,
                user_attrs={} if s is None else {"first_eval_seconds": s},
            )
            for s in first_eval_seconds
        ]
        self.stopped = False

    def get_trials(self, deepcopy=True):
        return self.trials

    def stop(self):
        self.stopped = True


@pytest.mark.parametrize(
    ("seconds_left", "history", "stops"),
    [
        (47.0, [90.0, 120.0, None], True),  # the GPU study's case: 47 s left, a first eval takes >= 90 s
        (100.0, [90.0, 120.0], False),
        (5.0, [None], False),  # nothing measured yet: keep going (the trial is cut to fit anyway)
        (-3.0, [1.0], True),
    ],
)
def test_budget_guard_starts_no_trial_that_cannot_reach_an_evaluation(seconds_left, history, stops):
    from tacotron.tune.study import BudgetGuard

    study = _FakeStudy(history)
    BudgetGuard(deadline=1000.0 + seconds_left, clock=lambda: 1000.0)(study, study.trials[-1])
    assert study.stopped is stops


class _SeeDecodingLimit(Callback):
    def __init__(self):
        self.limits: list[int] = []

    def on_eval_end(self, trainer, metrics):
        self.limits.append(int(trainer.model.max_decoder_steps))


def test_trial_evaluations_decode_at_most_twice_the_longest_reference(tiny_dataset, tmp_path):
    """An untrained model rarely stops by its gate: a trial's syntheses are capped, not the config."""
    import math

    from tacotron.data.dataset import PreparedDataset

    cfg = trial_base_config()
    cfg.train.n_val_synth, cfg.model.max_decoder_steps = 1, 1000
    cfg.tune.steps_per_trial = cfg.tune.report_every = 1
    seen = _SeeDecodingLimit()
    job = trial_job(
        cfg, tiny_dataset, tmp_path, "cap", 1, objective_kwargs={"extra_callbacks": lambda trial: [seen]}
    )
    run_trials(job)
    (trial,) = open_job_study(job).get_trials()
    cap = math.ceil(2 * max(PreparedDataset(tiny_dataset, "val").lengths) / 3)
    assert cap < 1000 and trial.state == TrialState.COMPLETE
    assert trial.user_attrs["eval_max_decoder_steps"] == cap and seen.limits == [cap]
    assert "val/infer/length_ratio" in trial.user_attrs["val_metrics"]  # the synthesis did run
    assert Config.load(tmp_path / "trials" / "trial_0000" / "config.yaml").model.max_decoder_steps == 1000
