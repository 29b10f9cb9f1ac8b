"""Reduction-factor schedule ("gradual training"): which r and batch size apply from which step.

Why: a large r early (few decoder steps, bigger batches) makes attention align fast; a small r later
gives detail. The trainer calls `schedule.at(step)` and, when r changes, builds a new data stream with
`TextMelCollate(r)`; r then travels on every `Batch` into the model call, and the checkpoint's "r"
records it, so a resumed run keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tacotron import frames


@dataclass(frozen=True)
class SchedulePoint:
    """From optimizer step `step` on, use reduction factor `r` and `batch_size`."""

    step: int
    r: int
    batch_size: int


class ReductionSchedule:
    """An ordered list of `SchedulePoint`s; before the first point the defaults apply."""

    def __init__(self, points: list[SchedulePoint], default: SchedulePoint, max_frames_per_step: int):
        self.default = default
        self.points = list(points)
        self.max_frames_per_step = max_frames_per_step
        self._validate()

    @classmethod
    def from_config(
        cls, r_schedule: list[list[int]], *, default_r: int, default_batch_size: int, max_frames_per_step: int
    ) -> ReductionSchedule:
        """`r_schedule` is `train.r_schedule`: [[from_step, r, batch_size], ...] (may be empty).

        An entry [from_step, r] keeps `default_batch_size` (train.batch_size), so a batch-size override
        on the command line still applies to every stage of an r-only schedule.
        """
        points = []
        for i, entry in enumerate(r_schedule):
            if len(entry) not in (2, 3):
                raise ValueError(
                    f"train.r_schedule[{i}] must be [from_step, r, batch_size] or [from_step, r], got {entry!r}"
                )
            batch_size = int(entry[2]) if len(entry) == 3 else default_batch_size
            points.append(SchedulePoint(int(entry[0]), int(entry[1]), batch_size))
        default = SchedulePoint(0, default_r, default_batch_size)
        return cls(points, default, max_frames_per_step or default_r)

    def _validate(self) -> None:
        for i, p in enumerate([self.default, *self.points]):
            where = "defaults" if i == 0 else f"train.r_schedule[{i - 1}]"
            try:
                frames.check_r(p.r, self.max_frames_per_step)
            except ValueError:
                raise ValueError(
                    f"{where}: r={p.r} must be in 1..{min(self.max_frames_per_step, frames.MAX_R)}; "
                    f"set model.max_frames_per_step to the largest r of the schedule"
                ) from None
            if p.batch_size < 1 or p.step < 0:
                raise ValueError(f"{where}: need step >= 0 and batch_size >= 1, got {p}")
        steps = [p.step for p in self.points]
        if steps != sorted(set(steps)):
            raise ValueError(f"train.r_schedule steps must be strictly increasing, got {steps}")

    def at(self, step: int) -> SchedulePoint:
        """The point in force at `step` (the last one whose from_step <= step)."""
        current = self.default
        for point in self.points:
            if point.step <= step:
                current = point
        return current

    @property
    def max_r(self) -> int:
        return max(p.r for p in [self.default, *self.points])
