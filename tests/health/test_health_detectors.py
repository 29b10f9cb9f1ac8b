"""Anomaly rules fed with plain numbers."""

from __future__ import annotations

import json
import math

import pytest

from tacotron.health.detectors import (
    AlignmentDeadline,
    AnomalyWindow,
    CollapseDetector,
    DiscriminatorCollapse,
    LossRise,
    RatioDetector,
    check_step_finite,
)


def test_spike_needs_history_then_fires():
    det = RatioDetector("loss_spike", "loss", factor=5.0, window=10, min_history=5)
    assert all(det.update(s, 1.0) is None for s in range(4))
    assert det.update(4, 100.0) is None  # only 4 values of history: still warming up
    for s in range(5, 12):
        assert det.update(s, 1.0 + 0.01 * s) is None
    anomaly = det.update(12, 9.0)
    assert anomaly is not None and anomaly.kind == "loss_spike" and anomaly.step == 12
    assert anomaly.value == 9.0 and "running median" in anomaly.reason
    assert det.update(13, 1.2) is None


def test_spike_ignores_nonfinite_and_rejects_bad_factor():
    det = RatioDetector("loss_spike", "loss", factor=3.0, window=5, min_history=1)
    det.update(0, 1.0)
    assert det.update(1, math.nan) is None
    assert det.update(2, 2.0) is None
    with pytest.raises(ValueError, match="factor"):
        RatioDetector("x", "x", factor=1.0, window=5, min_history=1)


def test_anomaly_window_counts_recent_only():
    win = AnomalyWindow(window=10)
    assert win.add(1) == 1
    assert win.add(5) == 2
    assert win.add(5) == 2  # a second finding on the same step
    assert win.add(20) == 1  # 1 and 5 are more than 10 steps old
    win.clear()
    assert win.add(21) == 1


def test_collapse_after_rise_fires_once():
    det = CollapseDetector(threshold=0.5, ratio=0.6, smooth=1)
    assert det.update(0, 0.1) is None  # never aligned: low is not a collapse
    assert det.update(1, 0.7) is None
    anomaly = det.update(2, 0.3)
    assert anomaly is not None and anomaly.kind == "attention_collapse"
    assert det.update(3, 0.2) is None  # fires once
    assert det.update(4, 0.8) is None
    assert det.update(5, 0.2) is not None  # re-armed after recovery


def test_deadline():
    det = AlignmentDeadline(deadline_step=100, threshold=0.5)
    assert det.update(50, 0.2) is None
    anomaly = det.update(100, 0.3)
    assert anomaly is not None and anomaly.kind == "no_alignment" and "step 100" in anomaly.reason
    assert det.update(150, 0.3) is None
    aligned = AlignmentDeadline(deadline_step=100, threshold=0.5)
    aligned.update(60, 0.7)
    assert aligned.update(120, 0.4) is None
    assert AlignmentDeadline(0, 0.5).update(10_000, 0.0) is None


def test_check_step_finite_and_json():
    assert check_step_finite(3, {"loss": 1.0}, 2.0) is None
    anomaly = check_step_finite(3, {"loss": math.nan, "gate": 0.5}, math.inf)
    assert anomaly is not None and anomaly.kind == "nonfinite"
    assert anomaly.details["values"] == {"loss": "nan", "grad_norm": "inf"}
    json.dumps(anomaly.to_dict(), allow_nan=False)  # valid strict JSON


def test_collapse_needs_a_long_low_streak_and_a_growing_adversarial_loss():
    detector = DiscriminatorCollapse(floor=0.01, steps=3, growth=1.5)
    # low but the adversarial loss flat: a discriminator that is merely good
    assert [detector.update(s, 0.001, 2.0) for s in range(5)] == [None] * 5
    detector = DiscriminatorCollapse(floor=0.01, steps=3, growth=1.5)
    found = [
        detector.update(s, d, a)
        for s, (d, a) in enumerate([(0.5, 1), (0.001, 2), (0.002, 2.5), (0.001, 3.2)])
    ]
    assert found[:3] == [None] * 3 and found[3].kind == "discriminator_collapse" and found[3].step == 3
    assert detector.update(4, 0.001, 5.0) is None  # once per streak
    assert detector.update(5, 0.3, 5.0) is None  # streak broken: re-armed
    assert [detector.update(s, 0.001, 9.0 * (s - 5)) for s in (6, 7)] == [None, None]
    assert detector.update(8, 0.001, 40.0) is not None
    assert detector.update(9, float("nan"), math.inf) is None


class _Losses:
    """A `LossRise` fed as the monitor feeds it, beside the loss-spike detector's running median."""

    def __init__(self, judge: LossRise, window: int):
        self.judge, self.spikes = judge, RatioDetector("loss_spike", "loss", 5.0, window, min_history=1)

    def add(self, *losses: float) -> None:
        for step, loss in enumerate(losses):
            self.spikes.update(step, loss)
            self.judge.add_loss(loss)

    def at_explosion(self, step: int):
        return self.judge.judge(step, self.spikes.baseline())


def test_loss_rise_judges_an_episode_against_the_loss_before_its_first_explosion():
    losses = _Losses(LossRise(rise=0.05, window=20, recent=4), window=20)
    assert losses.at_explosion(1) is None  # no loss seen yet: cannot tell
    losses.add(*[0.40] * 20)
    losses.add(0.39, 0.39, 0.38, 0.39)  # still falling through the spikes
    harmful, recent, before = losses.at_explosion(30)
    assert not harmful and recent == pytest.approx(0.39) and before == pytest.approx(0.40)
    losses.add(0.45, 0.46, 0.47, 0.46)  # now the loss climbs 15%
    harmful, recent, before = losses.at_explosion(40)
    assert harmful and recent == pytest.approx(0.46) and before == pytest.approx(0.40)  # same episode


def test_loss_rise_starts_a_new_episode_after_a_quiet_window_or_a_rollback():
    losses = _Losses(LossRise(rise=0.05, window=10, recent=2), window=10)
    losses.add(*[1.0] * 10)
    assert losses.at_explosion(5)[2] == pytest.approx(1.0)
    losses.add(*[2.0] * 10)  # a new, higher level, reached without explosions
    assert losses.at_explosion(14)[0]  # 9 steps after the last explosion: the same episode, a rise
    assert losses.at_explosion(30) == (
        False,
        pytest.approx(2.0),
        pytest.approx(2.0),
    )  # 16 steps later: a new one
    losses.add(*[3.0] * 6)
    assert losses.at_explosion(31)[0]  # within the episode begun at step 30: a rise
    losses.judge.end_episode()
    assert losses.at_explosion(32) == (
        False,
        pytest.approx(3.0),
        pytest.approx(3.0),
    )  # after a rollback: afresh
    with pytest.raises(ValueError, match="rise must be > 0"):
        LossRise(rise=0.0, window=10)
