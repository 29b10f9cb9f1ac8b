"""benchmarks/tune_compare.py: the recipe runs as the study's first trial, the pick never compares the
recipe with itself, and a comparison run's summary reads alignment and loss at the right step and minute."""

from __future__ import annotations

import importlib
import json

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from tacotron.config import load_config
from tacotron.configs import find_config
from tacotron.tune.runner import TuneJob
from tacotron.tune.space import SearchSpace

DISTS = {
    "train.lr": FloatDistribution(4e-4, 3e-3, log=True),
    "model.n_frames_per_step": CategoricalDistribution([3, 4, 5, 6]),
}
RECIPE = {"train.lr": 1.0e-3, "model.n_frames_per_step": 4}  # ljspeech.yaml's values


@pytest.fixture
def tc(monkeypatch):
    from tacotron.commands.bench import BENCH_DIR

    monkeypatch.syspath_prepend(str(BENCH_DIR))
    return importlib.import_module("tune_compare")


@pytest.fixture
def recipe():
    return load_config("ljspeech.yaml")


def _trial(params, value=None, state=TrialState.COMPLETE, reports=None):
    return create_trial(
        state=state,
        value=value if state == TrialState.COMPLETE else None,
        params=params,
        distributions=DISTS,
        intermediate_values=reports or {},
    )


def test_the_recipe_runs_first_in_its_own_space_and_is_queued_once(tc, recipe, tmp_path):
    space = SearchSpace.load(find_config("space-natural.yaml"))
    job = TuneJob(cfg=recipe, dataset_dir=tmp_path, space=space, study_name="s", out_dir=tmp_path)
    assert tc.enqueue_baseline(job) is True
    assert tc.enqueue_baseline(job) is False  # a resumed study keeps its one recipe trial
    study = optuna.load_study(study_name="s", storage=job.storage_url)
    (queued,) = study.get_trials(states=(TrialState.WAITING,))
    assert queued.system_attrs["fixed_params"] == {
        "train.lr": 1.0e-3,
        "loss.guided_attn_weight": 300.0,
        "loss.guided_attn_sigma": 0.3,
        "model.n_frames_per_step": 4,
    }
    recipe.train.lr = 1.0e-2  # outside the space: the recipe could not be its own trial
    with pytest.raises(ValueError, match="train.lr"):
        tc.base_params(job)


def test_when_the_recipe_wins_the_study_the_best_other_trial_is_compared(tc, recipe):
    trials = [
        _trial(RECIPE, 1.0),
        _trial({"train.lr": 2e-3, "model.n_frames_per_step": 6}, 3.0),
        _trial({"train.lr": 5e-4, "model.n_frames_per_step": 4}, 2.0),
    ]
    study = optuna.create_study()
    for t in trials:
        study.add_trial(t)
    chosen, why = tc.choose_tuned(study.get_trials(), recipe)
    assert chosen.number == 2
    assert "the recipe's own values won the study (trial 0)" in why


def test_without_a_completed_sampled_trial_the_pruned_one_that_got_furthest_is_compared(tc, recipe):
    study = optuna.create_study()
    study.add_trial(_trial(RECIPE, 1.0))
    study.add_trial(_trial({"train.lr": 2e-3, "model.n_frames_per_step": 6}, state=TrialState.PRUNED,
                           reports={200: 4.0}))  # fmt: skip
    study.add_trial(_trial({"train.lr": 5e-4, "model.n_frames_per_step": 5}, state=TrialState.PRUNED,
                           reports={200: 5.0, 600: 6.0}))  # fmt: skip
    chosen, why = tc.choose_tuned(study.get_trials(), recipe)
    assert chosen.number == 2 and "got furthest (step 600)" in why
    only_recipe = optuna.create_study()
    only_recipe.add_trial(_trial(RECIPE, 1.0))
    assert tc.choose_tuned(only_recipe.get_trials(), recipe)[0] is None


def test_a_run_summary_finds_each_alignment_measure_at_its_own_step_and_minute(tc, tmp_path):
    start = 1000.0
    val = [  # (step, seconds after launch, diagonality, alignment, val mel)
        (100, 60, 0.2, 0.1, 3.0),
        (200, 90, 0.55, 0.4, 2.0),
        (300, 120, 0.7, 0.6, 1.5),
    ]
    records = [{"step": 50, "time": start + 40, "split": "train", "loss": 9.0}]
    records += [
        {"step": s, "time": start + t, "split": "val", "val/attn/diagonality": d, "val/attn/alignment": a,
         "val/mel/after": m}
        for s, t, d, a, m in val
    ]  # fmt: skip
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "events.jsonl").write_text(
        json.dumps({"step": 333, "time": start + 150, "event": "train_end"})
    )
    summary = tc.summarize_run(tmp_path, start)
    assert (summary["steps"], summary["minutes"], summary["finished"]) == (333, 2.5, True)
    assert (summary["diag_step"], summary["diag_minutes"]) == (200, 1.5)
    assert (summary["align_step"], summary["align_minutes"]) == (300, 2.0)
    assert tc.val_mel_at(summary["curve"], 1.9) == 2.0  # the latest validation at or before the minute
    assert tc.val_mel_at(summary["curve"], 0.5) is None


def test_the_table_shows_held_out_mcd_where_there_is_no_recogniser(tc):
    curve = [{"minutes": 1.0, "step": 100, "diagonality": 0.6, "alignment": 0.55, "val_mel": 0.9}]
    run = {"name": "fine-tuned", "seed": 1, "steps": 100, "minutes": 1.0, "curve": curve,
           "diag_step": 100, "diag_minutes": 1.0, "align_step": None, "align_minutes": None,
           "eval": {"wer": None, "cer": None, "mcd_db": 3.456, "length_ratio": 0.91}}  # fmt: skip
    row = next(
        line for line in tc.table([run], None, "GPU", "").splitlines() if line.startswith("| fine-tuned")
    )
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[4:6] == ["100 (1.00 min)", "not by 100"]
    assert cells[-4:] == ["- (-)", "-", "3.46", "0.910"]
