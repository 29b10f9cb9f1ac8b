"""Word timings from an attention alignment: known boundaries on a hand-made diagonal."""

from __future__ import annotations

import numpy as np
import pytest

from tacotron.infer.timings import WordTime, shifted, word_spans, word_timings


def _diagonal(columns_per_step: list[int], n_columns: int) -> np.ndarray:
    """One-hot alignment: step t attends column columns_per_step[t]."""
    alignment = np.zeros((len(columns_per_step), n_columns), dtype=np.float32)
    alignment[np.arange(len(columns_per_step)), columns_per_step] = 1.0
    return alignment


def test_word_spans_drop_punctuation_and_keep_stress_marks():
    assert word_spans("hi, you!") == [("hi", 0, 2), ("you", 4, 7)]
    assert word_spans(" - м+ама ...") == [("м+ама", 3, 8)]


def test_diagonal_alignment_gives_known_boundaries():
    cleaned = "ab cd"  # columns 0..4, EOS at 5
    # two steps per symbol: a a b b _ _ c c d d EOS EOS
    steps = [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    r, hop, rate = 2, 100, 1000  # one step = 0.2 s
    timings = word_timings(cleaned, _diagonal(steps, 6), frames=24, r=r, hop_length=hop, sample_rate=rate)
    assert timings == [
        WordTime("ab", 0.0, pytest.approx(0.8)),  # steps 0-3
        WordTime("cd", pytest.approx(1.2), pytest.approx(2.0)),  # steps 6-9
    ]


def test_the_last_word_ends_within_the_audio_and_back_jumps_are_ignored():
    steps = [0, 1, 0, 1, 3, 4, 4]  # attention jumps back once, never reaches EOS
    timings = word_timings("ab cd", _diagonal(steps, 6), frames=6, r=1, hop_length=10, sample_rate=100)
    assert [t.word for t in timings] == ["ab", "cd"]
    assert timings[0].start == 0.0 and timings[0].end == pytest.approx(0.4)
    assert timings[1].start == pytest.approx(0.4) and timings[1].end == pytest.approx(
        0.6
    )  # capped at 6 frames


def test_timings_are_monotone_and_one_per_word_on_a_noisy_alignment():
    rng = np.random.default_rng(0)
    cleaned = "the quick brown fox jumps over the lazy dog."
    n, steps = len(cleaned) + 1, 120
    centre = np.linspace(0, n - 1, steps)
    alignment = np.exp(-((np.arange(n)[None, :] - centre[:, None]) ** 2) / 4) + rng.random((steps, n)) * 0.3
    timings = word_timings(cleaned, alignment, frames=steps * 2, r=2, hop_length=256, sample_rate=22050)
    assert [t.word for t in timings] == cleaned.rstrip(".").split()
    bounds = [x for t in timings for x in (t.start, t.end)]
    assert bounds == sorted(bounds) and bounds[0] >= 0 and bounds[-1] <= steps * 2 * 256 / 22050


def test_no_timings_when_columns_are_not_the_cleaned_characters():
    assert word_timings("ab cd", np.ones((4, 3)), frames=4, r=1, hop_length=1, sample_rate=1) is None


def test_shifted_places_a_piece_and_applies_speed():
    assert shifted([WordTime("a", 0.0, 1.0)], offset=2.0, speed=2.0) == [WordTime("a", 1.0, 1.5)]
