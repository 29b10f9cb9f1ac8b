"""The study report explains the winner in plain language: what changed versus the base config, what it bought."""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from tests.helpers.configs import trial_base_config

from tacotron.tune.report import write_study_report

DISTS = {
    "train.lr": FloatDistribution(1e-5, 3e-3, log=True),
    "loss.guided_attn_weight": FloatDistribution(0.5, 500),
}


def _trial(lr, guided, value, state=TrialState.COMPLETE, **attrs):
    return create_trial(
        state=state,
        value=value if state == TrialState.COMPLETE else None,
        params={"train.lr": lr, "loss.guided_attn_weight": guided},
        distributions=DISTS,
        user_attrs={"steps": 300, **attrs},
    )


def small_study():
    """Trial 0 ran the base config's own values, trial 1 doubled the LR and won, trial 2 was pruned."""
    study = optuna.create_study()
    study.add_trial(
        _trial(
            1.0e-3, 300.0, 4.2,
            steps_to_align=None, seconds_to_align=None,
            score_parts={"mel": 1.2, "alignment": 2.8, "gate": 0.2, "proxy": 0.0},
            proxy_kind="val_mel", proxy_value=1.2, proxy_detail="validation mel loss (no ASR judge)",
        )
    )  # fmt: skip
    study.add_trial(
        _trial(
            2.0e-3, 300.0, 2.1,
            steps_to_align=200, seconds_to_align=31.5,
            score_parts={"mel": 1.3, "alignment": 0.5, "gate": 0.3, "proxy": 0.0},
            proxy_kind="val_mel", proxy_value=1.3, proxy_detail="validation mel loss (no ASR judge)",
        )
    )  # fmt: skip
    study.add_trial(
        _trial(1.0e-5, 300.0, None, state=TrialState.PRUNED, prune_reason="asha pruner at step 50")
    )
    return study


def test_the_report_says_what_the_winner_changed_and_what_it_bought(tmp_path):
    _, md_path = write_study_report(small_study(), tmp_path, base=trial_base_config())
    md = md_path.read_text()
    verdict = md.split("## Why the winner", 1)[1].split("## Trials", 1)[0]
    assert "Best trial 1: score 2.1000, aligned at step 200 (31.5 s)" in md
    assert "Trial 1 won with score 2.1000" in verdict
    assert (
        "What changed versus the base config: train.lr: 0.001 -> 0.002 (x2); "
        "left at the base value: loss.guided_attn_weight." in verdict
    )
    assert (
        "What it bought: aligned at step 200 (32 s into the trial); "
        "0 of the 1 other completed trials aligned" in verdict
    )
    assert "alignment 0.5 (others' median 2.8)" in verdict and "mel 1.3 (others' median 1.2)" in verdict
    assert "proxy" not in verdict.split("Score parts", 1)[1].split("\n")[0]  # 0 everywhere: left out
    assert "Intelligibility proxy: validation mel loss 1.3 (others' median 1.2)" in verdict
    assert "Against trial 0, which ran the base config's own values: score 4.2000 vs 2.1000" in verdict
    assert "| seconds_to_align | proxy |" in md and "| 31.5 | val_mel 1.3 |" in md
    html = (tmp_path / "report.html").read_text()
    assert "Why the winner" in html and "train.lr: 0.001 -&gt; 0.002 (x2)" in html


def test_without_a_base_config_or_a_completed_trial_there_is_no_verdict(tmp_path):
    _, md_path = write_study_report(small_study(), tmp_path)
    md = md_path.read_text()
    assert "Trial 1 won" in md and "What changed versus the base config" not in md
    empty = optuna.create_study()
    _, md_path = write_study_report(empty, tmp_path / "empty", base=trial_base_config())
    assert "Why the winner" not in md_path.read_text()
