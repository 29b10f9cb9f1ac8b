"""Trial score and hard pruning rules."""

from __future__ import annotations

import pytest

from tacotron.config import TuneConfig
from tacotron.tune.score import TrialFailed, hard_prune_reason, score_parts, steps_to_alignment, trial_score


def _m(mel: float, align: float = 0.5, f1: float = 0.5) -> dict[str, float]:
    return {"val/mel/after": mel, "val/attn/alignment": align, "val/gate/f1": f1}


def test_score_combines_loss_and_health_with_weights():
    cfg = TuneConfig(score_mel_weight=1.0, score_alignment_weight=2.0, score_gate_f1_weight=0.5)
    assert trial_score(_m(0.3, align=0.8, f1=0.6), cfg) == pytest.approx(0.3 + 2 * 0.2 + 0.5 * 0.4)
    assert score_parts(_m(0.3, align=0.8, f1=0.6), cfg) == pytest.approx(
        {"mel": 0.3, "alignment": 0.4, "gate": 0.2}
    )
    # better alignment at equal loss scores lower
    assert trial_score(_m(0.3, align=0.9), cfg) < trial_score(_m(0.3, align=0.1), cfg)


@pytest.mark.parametrize(
    ("aligned_mel", "unaligned_mel"),
    [(1.25, 1.0), (5.6, 4.9)],  # CPU-scale (small model, r = 6) and GPU-scale early val mel losses
)
def test_at_default_weights_an_aligned_trial_beats_an_unaligned_one_with_lower_mel_loss(
    aligned_mel, unaligned_mel
):
    cfg = TuneConfig()
    aligned = trial_score(_m(aligned_mel, align=0.7, f1=0.5), cfg)
    unaligned = trial_score(_m(unaligned_mel, align=0.05, f1=0.5), cfg)
    assert aligned < unaligned


def test_raw_diagonality_is_off_by_default_and_still_available():
    assert "val/attn/diagonality" not in str(score_parts(_m(1.0), TuneConfig()))
    cfg = TuneConfig(score_diagonality_weight=1.0)
    assert score_parts({**_m(1.0), "val/attn/diagonality": 0.25}, cfg)["diagonality"] == pytest.approx(0.75)


def test_zero_weight_terms_are_not_required():
    cfg = TuneConfig(score_alignment_weight=0.0, score_gate_f1_weight=0.0)
    assert trial_score({"val/mel/after": 0.7}, cfg) == pytest.approx(0.7)


def test_nonfinite_or_missing_metrics_fail_the_trial():
    with pytest.raises(TrialFailed, match="non-finite"):
        trial_score(_m(float("nan")), TuneConfig())
    with pytest.raises(TrialFailed, match="val/gate/f1"):
        trial_score({"val/mel/after": 1.0, "val/attn/alignment": 0.5}, TuneConfig())


def test_hard_prune_rules():
    cfg = TuneConfig(prune_unaligned_step=100, prune_divergence_factor=3.0, alignment_threshold=0.5)
    assert hard_prune_reason([_m(1.0, align=0.1)], 50, cfg) is None  # before the deadline
    assert "no alignment by step 100" in hard_prune_reason([_m(1.0, align=0.1)], 100, cfg)
    assert hard_prune_reason([_m(1.0, align=0.6)], 100, cfg) is None
    assert "diverged" in hard_prune_reason([_m(1.0, 0.6), _m(0.5, 0.6), _m(2.0, 0.6)], 150, cfg)
    assert hard_prune_reason([_m(1.0, 0.6), _m(1.2, 0.6)], 150, cfg) is None


def test_steps_to_alignment():
    assert steps_to_alignment([(100, 0.2), (200, 0.55), (300, 0.7)], 0.5) == 200
    assert steps_to_alignment([(100, 0.2), (200, float("nan"))], 0.5) is None


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("tune.alignment_threshold=1.5", r"in \[0, 1\]"),
        ("tune.proxy_sentences=-1", ">= 0"),
        ("tune.score_alignment_weight=-2", ">= 0"),
        ("tune.pruner=sha", "must be one of"),
    ],
)
def test_score_settings_are_checked_when_a_config_loads(override, message):
    from tacotron.config import ConfigError, load_config

    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])
