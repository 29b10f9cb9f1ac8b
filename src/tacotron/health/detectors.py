"""Anomaly detectors: small, pure state machines fed one number at a time.

Why pure: each rule (spike, explosion, collapse, deadline) must be testable with a list of numbers,
without a model or a trainer. `HealthMonitor` feeds them and decides what to do about their findings.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Anomaly:
    """Something wrong at `step`: `kind` names the rule, `reason` says it in words a user understands."""

    kind: str  # "nonfinite", "loss_spike", "grad_explosion", "attention_collapse", "no_alignment", ...
    step: int
    reason: str
    value: float | None = None
    threshold: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; non-finite values become strings ("nan", "inf") so the JSON stays valid."""
        out: dict[str, Any] = {"kind": self.kind, "step": self.step, "reason": self.reason}
        for key in ("value", "threshold"):
            val = getattr(self, key)
            if val is not None:
                out[key] = val if math.isfinite(val) else str(val)
        out.update(self.details)
        return out


def is_finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def nonfinite_values(values: dict[str, float]) -> dict[str, str]:
    """The entries of `values` that are NaN or infinite, as strings (for messages and JSON)."""
    return {k: str(v) for k, v in values.items() if isinstance(v, (int, float)) and not math.isfinite(v)}


class RunningMedian:
    """Median of the last `window` finite values; the robust baseline for spike rules."""

    def __init__(self, window: int):
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self._values: deque[float] = deque(maxlen=window)

    def add(self, value: float) -> None:
        if is_finite(value):
            self._values.append(float(value))

    def __len__(self) -> int:
        return len(self._values)

    def median(self) -> float:
        if not self._values:
            raise ValueError("median of an empty window")
        return statistics.median(self._values)


class RatioDetector:
    """Flags a value above `factor` x the running median of the previous values (loss spikes, grad explosions).

    Silent until `min_history` finite values have been seen, because early training is legitimately wild.
    Every finite value joins the history, so a genuine new level (e.g. after an r change) stops being
    flagged once it fills half the window.
    """

    def __init__(self, kind: str, label: str, factor: float, window: int, min_history: int):
        if factor <= 1:
            raise ValueError(f"{kind}: factor must be > 1, got {factor}")
        self.kind, self.label, self.factor, self.min_history = kind, label, factor, min_history
        self._median = RunningMedian(window)

    def update(self, step: int, value: float) -> Anomaly | None:
        if not is_finite(value):
            return None  # non-finite values are the finiteness rule's business
        anomaly = None
        if len(self._median) >= self.min_history:
            median = self._median.median()
            limit = self.factor * median
            if median > 0 and value > limit:
                anomaly = Anomaly(
                    kind=self.kind,
                    step=step,
                    reason=f"{self.label} {value:.4g} is {value / median:.1f}x its running median {median:.4g} "
                    f"(limit {self.factor:g}x)",
                    value=float(value),
                    threshold=float(limit),
                )
        self._median.add(value)
        return anomaly

    def baseline(self) -> float | None:
        """The running median of the values seen so far (None before the first finite one)."""
        return self._median.median() if self._median else None


class AnomalyWindow:
    """Counts anomalous steps within the last `window` steps: M of them there means "roll back".

    Several findings on one step (a loss spike and the gradient explosion behind it) count once.
    """

    def __init__(self, window: int):
        self.window = window
        self._steps: deque[int] = deque()

    def add(self, step: int) -> int:
        """Record an anomaly at `step`; returns how many anomalous steps fall in the window ending at `step`."""
        if not self._steps or self._steps[-1] != step:
            self._steps.append(step)
        while self._steps and self._steps[0] <= step - self.window:
            self._steps.popleft()
        return len(self._steps)

    def clear(self) -> None:
        self._steps.clear()


class LossRise:
    """Whether the loss has risen since an episode of gradient explosions began: the judge of explosions
    whose updates gradient clipping bounded.

    Why: a clipped update moves the weights no further than any step of norm `train.grad_clip`, and under
    Adam one large gradient mostly raises the second-moment estimate. Such spikes come and go in Tacotron
    training once the guided-attention prior decays; rolling back for them while the loss keeps falling
    costs minutes for nothing (benchmarks/RESULTS.md: 920 steps of an 18-minute run). So a clipped
    explosion counts toward a rollback only when the loss shows harm: the median of the last `recent`
    losses above (1 + `rise`) x the loss's running median when the episode's first explosion came (the
    loss-spike detector's, passed in). An episode ends `window` steps after its last explosion.
    """

    def __init__(self, rise: float, window: int, recent: int = 10):
        if rise <= 0:
            raise ValueError(f"rise must be > 0, got {rise}")
        self.rise, self.window = rise, window
        self._recent = RunningMedian(recent)
        # (the episode's last explosion's step, the loss median before its first explosion)
        self._episode: tuple[int, float] | None = None

    def add_loss(self, value: float) -> None:
        self._recent.add(value)

    def judge(self, step: int, running_median: float | None) -> tuple[bool, float, float] | None:
        """At a clipped explosion, given the loss's running median now: (harmful, recent loss median, loss
        median before the episode); None when too few losses were seen to tell (the explosion then counts,
        as it would unclipped)."""
        if running_median is None or not self._recent:
            return None
        if self._episode is None or step - self._episode[0] >= self.window:
            before = running_median
        else:
            before = self._episode[1]
        self._episode = (step, before)
        now = self._recent.median()
        return now > (1 + self.rise) * before, now, before

    def end_episode(self) -> None:
        """After a rollback: the next explosion starts a new episode from the loss as it is then."""
        self._episode = None


class CollapseDetector:
    """Attention collapse: alignment had risen past `threshold`, then fell below `ratio` x its best.

    The score is metrics/attention.py's r-independent alignment (`attn/alignment`): diagonality of a
    correct alignment is ~0.3-0.5 at r = 4-6, so one threshold on it could not serve an r schedule.

    Scores are smoothed by the median of the last `smooth` measurements, as single batches are noisy.
    Fires once per collapse; re-arms after the score recovers above the threshold.
    """

    def __init__(self, threshold: float, ratio: float, smooth: int = 3):
        self.threshold, self.ratio = threshold, ratio
        self._recent = RunningMedian(smooth)
        self.best = 0.0
        self._fired = False

    def update(self, step: int, alignment: float) -> Anomaly | None:
        if not is_finite(alignment):
            return None
        self._recent.add(alignment)
        smoothed = self._recent.median()
        if smoothed >= self.threshold:
            self._fired = False
        self.best = max(self.best, smoothed)
        limit = self.ratio * self.best
        if self.best >= self.threshold and smoothed < limit and not self._fired:
            self._fired = True
            return Anomaly(
                kind="attention_collapse",
                step=step,
                reason=f"attention alignment fell to {smoothed:.3f} after reaching {self.best:.3f}",
                value=smoothed,
                threshold=limit,
            )
        return None


class AlignmentDeadline:
    """No alignment by `deadline_step`: best alignment (`attn/alignment`) so far is still under `threshold`.
    Fires once."""

    def __init__(self, deadline_step: int, threshold: float):
        self.deadline_step, self.threshold = deadline_step, threshold
        self.best = 0.0
        self._fired = False

    def update(self, step: int, alignment: float) -> Anomaly | None:
        if is_finite(alignment):
            self.best = max(self.best, alignment)
        if self.deadline_step <= 0 or self._fired or step < self.deadline_step or self.best >= self.threshold:
            return None
        self._fired = True
        return Anomaly(
            kind="no_alignment",
            step=step,
            reason=f"attention not aligned by step {step}: best alignment {self.best:.3f} "
            f"< {self.threshold:g}",
            value=self.best,
            threshold=self.threshold,
        )


class DiscriminatorCollapse:
    """GAN collapse: the discriminator's loss stays under `floor` for `steps` steps in a row while the
    generator's adversarial loss grows to `growth` x its value when that streak began.

    Why both: a near-zero discriminator loss alone is normal for a moment; with the adversarial loss
    rising the discriminator has won, its gradients no longer guide the generator. Fires once per streak.
    """

    def __init__(self, floor: float, steps: int, growth: float):
        self.floor, self.steps, self.growth = floor, steps, growth
        self._start: tuple[int, float] | None = None  # (step, adversarial loss) where the streak began
        self._length = 0
        self._fired = False

    def update(self, step: int, discriminator: float, adversarial: float) -> Anomaly | None:
        if not (is_finite(discriminator) and is_finite(adversarial)):
            return None
        if discriminator >= self.floor:
            self._start, self._length, self._fired = None, 0, False
            return None
        if self._start is None:
            self._start = (step, adversarial)
        self._length += 1
        since, first = self._start
        if self._fired or self._length < self.steps or adversarial < self.growth * first:
            return None
        self._fired = True
        return Anomaly(
            kind="discriminator_collapse",
            step=step,
            reason=f"discriminator loss under {self.floor:g} for {self._length} steps (since step {since}) "
            f"while the adversarial loss grew {first:.4g} -> {adversarial:.4g}",
            value=float(discriminator),
            threshold=self.floor,
        )


def check_step_finite(step: int, losses: dict[str, float], grad_norm: float | None) -> Anomaly | None:
    """Non-finite loss terms or gradient norm at `step`, else None."""
    bad = nonfinite_values(losses)
    if grad_norm is not None and not math.isfinite(grad_norm):
        bad["grad_norm"] = str(grad_norm)
    if not bad:
        return None
    listed = ", ".join(f"{k}={v}" for k, v in bad.items())
    return Anomaly(
        kind="nonfinite", step=step, reason=f"non-finite values: {listed}", details={"values": bad}
    )
