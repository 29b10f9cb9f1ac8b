"""ReductionSchedule: gradual training's [from_step, r, batch_size] list, validated up front."""

from __future__ import annotations

import pytest

from tacotron.train.schedule import ReductionSchedule, SchedulePoint


def test_at_returns_point_in_force():
    schedule = ReductionSchedule.from_config(
        [[0, 5, 64], [1000, 3, 48], [5000, 2, 32]], default_r=2, default_batch_size=32, max_frames_per_step=5
    )
    assert schedule.at(0) == SchedulePoint(0, 5, 64)
    assert schedule.at(999).r == 5
    assert schedule.at(1000) == SchedulePoint(1000, 3, 48)
    assert schedule.at(10**6) == SchedulePoint(5000, 2, 32)
    assert schedule.max_r == 5


def test_defaults_apply_before_first_point_and_for_empty_schedule():
    schedule = ReductionSchedule.from_config(
        [[100, 1, 16]], default_r=2, default_batch_size=32, max_frames_per_step=2
    )
    assert schedule.at(50) == SchedulePoint(0, 2, 32)
    assert schedule.at(100).r == 1
    r_only = ReductionSchedule.from_config(
        [[100, 1]], default_r=2, default_batch_size=24, max_frames_per_step=2
    )
    assert r_only.at(100) == SchedulePoint(100, 1, 24)  # [from_step, r] keeps train.batch_size
    empty = ReductionSchedule.from_config([], default_r=3, default_batch_size=8, max_frames_per_step=0)
    assert empty.at(123) == SchedulePoint(0, 3, 8)


@pytest.mark.parametrize(
    ("entries", "match"),
    [
        ([[0, 6, 32]], r"r_schedule\[0\]: r=6 must be in 1\.\.5.*max_frames_per_step"),
        ([[0, 0, 32]], r"r=0"),
        ([[0, 2, 0]], "batch_size >= 1"),
        ([[10, 2, 8], [5, 1, 8]], "strictly increasing"),
        ([[10]], r"\[from_step, r, batch_size\] or \[from_step, r\]"),
        ([[10, 2, 8, 1]], r"\[from_step, r, batch_size\] or \[from_step, r\]"),
    ],
)
def test_invalid_schedules_raise(entries, match):
    with pytest.raises(ValueError, match=match):
        ReductionSchedule.from_config(entries, default_r=1, default_batch_size=8, max_frames_per_step=5)
