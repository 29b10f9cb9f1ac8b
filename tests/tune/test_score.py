"""Trial score and hard pruning rules."""

from __future__ import annotations

import pytest

from tacotron.config import TuneConfig
from tacotron.tune.score import TrialFailed, hard_prune_reason, steps_to_alignment, trial_score


def _m(mel: float, diag: float = 0.5, f1: float = 0.5) -> dict[str, float]:
    return {"val/mel/after": mel, "val/attn/diagonality": diag, "val/gate/f1": f1}


def test_score_combines_loss_and_health_with_weights():
    cfg = TuneConfig(score_mel_weight=1.0, score_diagonality_weight=2.0, score_gate_f1_weight=0.5)
    assert trial_score(_m(0.3, diag=0.8, f1=0.6), cfg) == pytest.approx(0.3 + 2 * 0.2 + 0.5 * 0.4)
    # better alignment at equal loss scores lower
    assert trial_score(_m(0.3, diag=0.9), cfg) < trial_score(_m(0.3, diag=0.1), cfg)


def test_zero_weight_terms_are_not_required():
    cfg = TuneConfig(score_diagonality_weight=0.0, score_gate_f1_weight=0.0)
    assert trial_score({"val/mel/after": 0.7}, cfg) == pytest.approx(0.7)


def test_nonfinite_or_missing_metrics_fail_the_trial():
    with pytest.raises(TrialFailed, match="non-finite"):
        trial_score(_m(float("nan")), TuneConfig())
    with pytest.raises(TrialFailed, match="val/gate/f1"):
        trial_score({"val/mel/after": 1.0, "val/attn/diagonality": 0.5}, TuneConfig())


def test_hard_prune_rules():
    cfg = TuneConfig(prune_unaligned_step=100, prune_divergence_factor=3.0)
    assert hard_prune_reason([_m(1.0, diag=0.1)], 50, cfg, 0.5) is None  # before the deadline
    assert "no alignment by step 100" in hard_prune_reason([_m(1.0, diag=0.1)], 100, cfg, 0.5)
    assert hard_prune_reason([_m(1.0, diag=0.6)], 100, cfg, 0.5) is None
    assert "diverged" in hard_prune_reason([_m(1.0, 0.6), _m(0.5, 0.6), _m(2.0, 0.6)], 150, cfg, 0.5)
    assert hard_prune_reason([_m(1.0, 0.6), _m(1.2, 0.6)], 150, cfg, 0.5) is None


def test_steps_to_alignment():
    assert steps_to_alignment([(100, 0.2), (200, 0.55), (300, 0.7)], 0.5) == 200
    assert steps_to_alignment([(100, 0.2), (200, float("nan"))], 0.5) is None
