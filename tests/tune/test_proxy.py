"""The held-out intelligibility proxy at the end of a trial: the judge's WER enters the final score,
validation mel loss stands in when there is no judge."""

from __future__ import annotations

import importlib.util

import pytest
from optuna.trial import TrialState
from tests.helpers.configs import trial_base_config, trial_job
from tests.tune.fake_trainer import fake_trainer_factory

from tacotron.tune.proxy import WER, ProxyResult
from tacotron.tune.runner import open_job_study, run_trials


def _one_trial(tmp_path, dataset_dir, proxy, fake: bool = True):
    cfg = trial_base_config()
    cfg.tune.proxy_sentences = 2 if fake else 1
    cfg.model.max_decoder_steps = 40  # an untrained model does not stop: keep its babble short
    cfg.tune.steps_per_trial, cfg.tune.report_every = (9, 3) if fake else (2, 2)
    kwargs = {"trainer_factory": fake_trainer_factory()} if fake else {}
    job = trial_job(cfg, dataset_dir, tmp_path, "proxy", 1, proxy=proxy, objective_kwargs=kwargs)
    open_job_study(job).enqueue_trial({"train.lr": 1.0e-3, "loss.guided_attn_weight": 1.0})
    run_trials(job)
    (trial,) = open_job_study(job).get_trials()
    return trial


# the fake trainer's last evaluation (step 9): mel 0.91, alignment 0.9, gate F1 0.6
LAST_SCORE = 0.91 + 5.0 * (1 - 0.9) + 0.5 * (1 - 0.6)


def test_the_judges_wer_is_added_to_the_final_score_and_recorded(tmp_path):
    seen = []

    def judge(run_dir, cfg, dataset_dir, device):
        seen.append((run_dir.name, cfg.tune.proxy_sentences, device))  # the trial's own folder and config
        return ProxyResult(WER, 0.2, "fake judge")

    trial = _one_trial(tmp_path, tmp_path, judge)
    assert trial.state == TrialState.COMPLETE and seen == [("trial_0000", 2, "cpu")]
    assert trial.value == pytest.approx(LAST_SCORE + 5.0 * 0.2)  # default tune.score_proxy_weight 5
    assert trial.user_attrs["proxy_kind"] == "wer" and trial.user_attrs["proxy_value"] == 0.2
    assert trial.user_attrs["score_parts"]["proxy"] == pytest.approx(1.0)
    assert trial.intermediate_values[9] == pytest.approx(LAST_SCORE)  # the pruner sees the score only


@pytest.mark.parametrize("judge", [None, lambda *args: None, lambda *args: 1 / 0])
def test_without_a_working_judge_the_proxy_is_validation_mel_loss(tmp_path, judge):
    trial = _one_trial(tmp_path, tmp_path, judge)
    assert trial.value == pytest.approx(LAST_SCORE)  # mel loss is in the score already: nothing added
    assert trial.user_attrs["proxy_kind"] == "val_mel"
    assert trial.user_attrs["proxy_value"] == pytest.approx(0.91)
    assert trial.user_attrs["score_parts"]["proxy"] == 0.0


@pytest.mark.skipif(importlib.util.find_spec("pocketsphinx") is None, reason="pocketsphinx not installed")
def test_judge_proxy_transcribes_held_out_sentences_of_a_real_trial(tiny_dataset, tmp_path):
    from tacotron.infer.trial_proxy import judge_proxy

    trial = _one_trial(tmp_path, tiny_dataset, judge_proxy, fake=False)
    assert trial.state == TrialState.COMPLETE, trial.user_attrs
    assert trial.user_attrs["proxy_kind"] == "wer", trial.user_attrs["proxy_detail"]
    assert (
        trial.user_attrs["proxy_value"] >= 0.0
        and "on 1 validation sentences" in trial.user_attrs["proxy_detail"]
    )
    assert trial.value == pytest.approx(sum(trial.user_attrs["score_parts"].values()), rel=1e-4)
