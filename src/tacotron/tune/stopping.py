"""Stopping a study: SIGTERM / Ctrl+C stop every local worker promptly, and a test hook that kills a worker.

Why its own part: a signal used to reach only the trainer of the running trial, which stopped early and
returned normally, so the cut trial was recorded COMPLETE with the value of a shorter run, and the worker
then started the next trial. Now `StudyStop` owns the study's reaction:

- the first SIGTERM or Ctrl+C (SIGINT) sets `reason`, stops the Optuna loop (`study.stop()`: no new
  trial), forwards SIGTERM to the local extra workers (`--workers K`) and, through `TrialStopper` (a
  trainer callback that chains this handler in front of the trainer's own during `fit`), makes the
  running trial stop after its current step. The objective then records that trial as FAILED with the
  user attribute "interrupted" and the run loop re-queues its parameters for the next run;
- a second Ctrl+C raises KeyboardInterrupt (as in `tacotron train`).

`fault_point(name)`: with `TACOTRON_TUNE_FAULT=NAME[@N]` in the environment, the process kills itself
(SIGKILL, no clean-up) the N-th time (default 1st) it reaches the point NAME, so the tests can kill a
worker at an exact moment instead of guessing it with timers. Points: "trial_created" (Optuna created
or popped the trial; before its first heartbeat and before any parameter is sampled), "params_sampled",
"train_step" (after a training step), "trial_scored" (the objective's value is known, not yet stored).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import subprocess
import threading
from collections import Counter
from typing import Any

from tacotron.train.callbacks import Callback

log = logging.getLogger(__name__)

FAULT_ENV = "TACOTRON_TUNE_FAULT"
FAULT_POINTS = ("trial_created", "params_sampled", "train_step", "trial_scored")
_reached: Counter[str] = Counter()


def fault_point(name: str) -> None:
    """Kill this process with SIGKILL here when `TACOTRON_TUNE_FAULT` names this point (tests only)."""
    spec = os.environ.get(FAULT_ENV)
    if not spec:
        return
    point, _, nth = spec.partition("@")
    if point not in FAULT_POINTS:
        raise ValueError(f"{FAULT_ENV}={spec!r}: the point must be one of {', '.join(FAULT_POINTS)}")
    if point != name:
        return
    _reached[name] += 1
    if _reached[name] == int(nth or 1):
        log.warning("%s=%s: killing this worker (pid %d) with SIGKILL", FAULT_ENV, spec, os.getpid())
        logging.shutdown()
        os.kill(os.getpid(), signal.SIGKILL)


class StudyStop:
    """The stop request of one tuner process; `install()` makes SIGTERM/SIGINT request it."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.reason: str | None = None
        self.signum: int | None = None
        self.study: Any = None  # the Optuna study whose loop `request` stops
        self.children: list[subprocess.Popen] = []  # local extra workers: SIGTERM is forwarded to them
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.reason is not None

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process ended by that signal."""
        return 128 + (self.signum or signal.SIGTERM)

    def install(self) -> StudyStop:
        """Handle SIGTERM and SIGINT from now on (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def restore(self) -> None:
        for signum, old in self._previous.items():
            signal.signal(signum, old)
        self._previous = {}

    def __enter__(self) -> StudyStop:
        return self.install()

    def __exit__(self, *exc: Any) -> None:
        self.restore()

    def _handle(self, signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and self.requested:
            raise KeyboardInterrupt
        self.request(f"signal {signal.Signals(signum).name}", signum)

    def _chained(self, inner: Any, signum: int, frame: Any) -> None:
        self.request(f"signal {signal.Signals(signum).name}", signum)
        inner(signum, frame)  # the trainer's handler: stop after this step (a second Ctrl+C interrupts)

    def chain(self) -> None:
        """Put this handler in front of the ones installed now (the trainer's, inside `fit`)."""
        if not self._previous or threading.current_thread() is not threading.main_thread():
            return
        for signum in self.SIGNALS:
            current = signal.getsignal(signum)
            if callable(current) and current != self._handle:
                signal.signal(signum, functools.partial(self._chained, current))

    def request(self, reason: str, signum: int | None = None) -> None:
        """Stop the study: no new trial, the running one stops after its step; idempotent."""
        if self.reason is None:
            self.reason, self.signum = reason, signum
            log.warning(
                "%s: stopping the study (pid %d): no new trial starts; a running trial stops after its "
                "current step, is recorded as interrupted and its parameters are re-queued for the next run",
                reason,
                os.getpid(),
            )
        for proc in self.children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        if self.study is not None:
            # Outside `optimize` (between two loops) Optuna refuses; the run loop checks `requested` then.
            with contextlib.suppress(RuntimeError):
                self.study.stop()


class TrialStopper(Callback):
    """Trainer callback of a trial: the study's stop request reaches the trainer, even during `fit`."""

    def __init__(self, stop: StudyStop):
        self.stop = stop

    def on_train_start(self, trainer: Any) -> None:
        self.stop.chain()
        self._forward(trainer)

    def on_step_end(self, trainer: Any, result: Any) -> None:
        fault_point("train_step")
        self._forward(trainer)

    def _forward(self, trainer: Any) -> None:
        if self.stop.requested and trainer.control.stop_reason is None:
            trainer.request_stop(f"study stop: {self.stop.reason}")
