"""`RunControl`: when a run stops (requests, signals, time budget) and which rollback generation it is in.

Why its own part: stop requests arrive from callbacks, from SIGTERM/Ctrl+C and from the time budget, and
under DDP every rank must agree before stopping; keeping that state here keeps the loop in `Trainer.fit`
a few readable lines.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Any


class RunControl:
    """stop_reason: the first stop request (None = keep going); stop_agreed: some rank asked (DDP);
    rollback_generation: +1 per rollback, so a step's post-processing can tell it was rolled back."""

    def __init__(self) -> None:
        self.stop_reason: str | None = None
        self.stop_agreed = False
        self.rollback_generation = 0
        self._start = time.monotonic()
        self._max_minutes = 0.0
        self._previous_handlers: dict[int, Any] = {}

    def start(self, max_minutes: float, on_signal: Callable[[str], None]) -> None:
        """Start the clock; SIGTERM / first Ctrl+C call `on_signal(reason)`, a second Ctrl+C interrupts."""
        self._start = time.monotonic()
        self._max_minutes = max_minutes
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, frame: Any) -> None:
            if signum == signal.SIGINT and self.stop_reason is not None:
                raise KeyboardInterrupt
            on_signal(f"signal {signal.Signals(signum).name}")

        self._previous_handlers = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}

    def stop(self) -> None:
        """Restore the signal handlers that were there before `start`."""
        for signum, old in self._previous_handlers.items():
            signal.signal(signum, old)
        self._previous_handlers = {}

    def request_stop(self, reason: str) -> bool:
        """Remember the first reason; True when this call was the first request."""
        if self.stop_reason is not None:
            return False
        self.stop_reason = reason
        return True

    def out_of_time(self) -> bool:
        return self._max_minutes > 0 and (time.monotonic() - self._start) / 60 >= self._max_minutes

    def should_stop(self, *, distributed: bool) -> bool:
        """One process stops at its own request; under DDP only once all ranks agreed (at a step's sync)."""
        if not distributed and self.stop_reason is not None:
            return True
        if self.stop_agreed:
            self.stop_reason = self.stop_reason or "stop requested on another rank"
            return True
        return False

    @staticmethod
    def progress_bar(total: int, initial: int, *, enabled: bool) -> Any:
        from tqdm import tqdm

        return tqdm(
            total=total, initial=initial, unit="step", dynamic_ncols=True, disable=None if enabled else True
        )
