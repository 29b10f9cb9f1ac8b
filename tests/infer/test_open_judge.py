"""The open-vocabulary judge: character error rate, the CER summary, and the general-model mode."""

from __future__ import annotations

import pytest

from tacotron.infer.evaluate import _judge_for, summarise
from tacotron.infer.judge import char_error_rate, char_errors, paired_gap_interval


def test_char_error_rate_counts_edits_over_the_joined_words():
    assert char_errors(["cat", "sat"], ["cat", "sat"]) == 0
    assert char_errors(["cat"], ["cut"]) == 1
    assert char_errors(["cat", "sat"], ["catsat"]) == 1  # the missing space
    assert char_error_rate(["abcd"], ["abed"]) == 0.25
    assert char_error_rate(["cat"], []) == 1.0
    assert char_error_rate([], ["ab"]) == 2.0


def test_summary_reports_corpus_level_cer_next_to_wer():
    base = {"stop_reason": "gate", "frames_per_char": 1.0, "rtf": 0.1}
    records = [
        {
            **base,
            "ref_words": ["a", "bc"],
            "word_errors": 1,
            "char_errors": 1,
            "ceiling_word_errors": 0,
            "ceiling_char_errors": 0,
        },
        {
            **base,
            "ref_words": ["defg"],
            "word_errors": 0,
            "char_errors": 0,
            "ceiling_word_errors": 0,
            "ceiling_char_errors": 0,
        },
    ]
    summary = summarise(records)
    assert summary["wer"] == pytest.approx(1 / 3)
    assert summary["cer"] == pytest.approx(1 / 8)  # "a bc" (4) + "defg" (4)
    assert summary["cer_ceiling"] == 0.0


def test_open_mode_uses_the_general_model_and_ignores_training_text(tmp_path):
    judge, info = _judge_for(tmp_path / "never_read.csv", str.lower, seed=0, mode="open")
    assert judge.mode == "open" and judge.lm is None
    assert info["mode"] == "open" and "general" in info["lm"]
    assert len(judge.vocabulary) > 100_000  # CMUdict, not a handful of training words
    with pytest.raises(ValueError, match="closed' or 'open"):
        _judge_for(None, str.lower, seed=0, mode="typo")


def test_the_gap_to_the_ceiling_comes_with_a_paired_bootstrap_interval():
    base = {"stop_reason": "gate", "char_errors": 0, "ceiling_char_errors": 0}
    records = [
        {**base, "ref_words": ["a"] * 10, "word_errors": 4, "ceiling_word_errors": 2},
        {**base, "ref_words": ["b"] * 10, "word_errors": 6, "ceiling_word_errors": 2},
        {**base, "ref_words": ["c"] * 20, "word_errors": 2, "ceiling_word_errors": 2},
    ]
    summary = summarise(records)
    assert summary["wer_gap"] == pytest.approx(12 / 40 - 6 / 40)
    low, high = summary["wer_gap_ci95"]
    # resampled sentence mixes: from three copies of the third sentence (gap 0) to three of the second (0.4)
    assert 0.0 <= low < summary["wer_gap"] < high <= 0.4
    assert summarise(records)["wer_gap_ci95"] == [low, high]  # seeded


def test_a_summary_without_a_ceiling_has_no_gap():
    records = [{"stop_reason": "gate", "ref_words": ["a"], "word_errors": 1, "char_errors": 1}]
    assert "wer_gap" not in summarise(records)


def test_the_interval_refuses_mismatched_lists():
    with pytest.raises(ValueError, match="one entry per sentence"):
        paired_gap_interval([1, 2], [1], [3, 3])
