"""`AlertCallback`: notify a person of health events (rollback, no alignment, give-up, finished, crash).

It hears every event as the trainer logs it (`on_event`), keeps the kinds listed in `train.alerts`,
rate-limits them and hands them to a `BackgroundSender`. Alerting is a side channel: a slow, refusing or broken endpoint
costs a warning in the log and a count, never a training step. "crash" is not an event line: it comes
from `on_crash(trainer, error)`, which the trainer calls when `fit()` raises.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tacotron.tracking.senders import BackgroundSender, Destination, Message
from tacotron.train.callbacks import Callback

if TYPE_CHECKING:
    from tacotron.train.trainer import Trainer

log = logging.getLogger(__name__)

FINAL_KINDS = ("train_end", "crash")  # once per process: exempt from the hourly cap


class RateLimiter:
    """At most one alert per kind every `min_interval_s`, and `max_per_hour` in all (FINAL_KINDS exempt)."""

    def __init__(self, min_interval_s: float, max_per_hour: int, clock: Callable[[], float] = time.monotonic):
        self.min_interval_s = min_interval_s
        self.max_per_hour = max_per_hour
        self.clock = clock
        self._last: dict[str, float] = {}
        self._recent: deque[float] = deque()

    def allow(self, kind: str) -> bool:
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.min_interval_s:
            return False
        while self._recent and now - self._recent[0] >= 3600.0:
            self._recent.popleft()
        if kind not in FINAL_KINDS and len(self._recent) >= self.max_per_hour:
            return False
        self._last[kind] = now
        self._recent.append(now)
        return True


def format_alert(run: str, record: dict[str, Any]) -> str:
    """One or two lines a person can act on from a phone."""
    kind, step = record.get("event", "?"), record.get("step", "?")
    reason, action = record.get("reason", ""), record.get("action", "")
    if kind == "train_end":
        return f"[tacotron] {run}: finished at step {step} ({reason or 'max_steps'})"
    text = f"[tacotron] {run}: {kind} at step {step}"
    if reason:
        text += f": {reason}"
    if action:
        text += f"\n-> {action}"
    if record.get("fix"):
        text += f"\nfix: {record['fix']}"
    return text


class AlertCallback(Callback):
    """Send alerts for the event kinds in `kinds` to `destinations` (main rank only).

    The sender thread starts in `on_train_start` and is closed in `on_train_end` / `on_crash`, waiting at
    most about one request timeout per destination. `suppressed` counts rate-limited alerts.
    """

    def __init__(
        self,
        kinds: list[str],
        destinations: list[Destination],
        *,
        min_interval_s: float = 300.0,
        max_per_hour: int = 20,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        if not destinations:
            raise ValueError("AlertCallback needs at least one destination")
        self.kinds = set(kinds)
        self.destinations = list(destinations)
        self.timeout_s = timeout_s
        self.limiter = RateLimiter(min_interval_s, max_per_hour, clock)
        self.suppressed = 0
        self.sender: BackgroundSender | None = None
        self._run = ""
        self._open = False  # between on_train_start and on_train_end / on_crash

    # ---- hooks -----------------------------------------------------------------------------------
    def on_train_start(self, trainer: Trainer) -> None:
        if not trainer.is_main:
            return
        self._run = trainer.run_dir.name
        self.sender = BackgroundSender(self.destinations, self.timeout_s)
        self._open = True
        log.info("alerts on %s via %s", sorted(self.kinds), ", ".join(d.name for d in self.destinations))

    def on_event(self, trainer: Trainer, record: dict[str, Any]) -> None:
        if trainer.is_main:
            self._emit(record)

    def on_train_end(self, trainer: Trainer) -> None:
        self._close()

    def on_crash(self, trainer: Trainer, error: BaseException) -> None:
        """`fit()` raised: alert "crash" (if listed) with the exception, then flush what is queued."""
        record = {
            "event": "crash",
            "step": trainer.step,
            "reason": f"{type(error).__name__}: {error}"[:500],
            "action": "training stopped; resume re-runs from the last checkpoint",
        }
        self._emit(record)
        self._close()

    # ---- internals -------------------------------------------------------------------------------
    def _emit(self, record: dict[str, Any]) -> None:
        kind = str(record.get("event", ""))
        if not self._open or self.sender is None or kind not in self.kinds:
            return
        if not self.limiter.allow(kind):
            self.suppressed += 1
            log.info(
                "alert %s at step %s rate-limited (%d suppressed)", kind, record.get("step"), self.suppressed
            )
            return
        step = int(record.get("step", -1))
        message = Message(kind, step, self._run, format_alert(self._run, record), record)
        self.sender.submit(message)

    def _close(self) -> None:
        if not self._open or self.sender is None:
            return
        self._open = False
        self.sender.close(wait=self.timeout_s * len(self.destinations) + 1.0)
        s = self.sender
        log.info(
            "alerts: %d sent, %d failed, %d dropped, %d rate-limited",
            s.sent,
            s.failures,
            s.dropped,
            self.suppressed,
        )
