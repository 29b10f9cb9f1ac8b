"""Run logs: metrics.jsonl, events.jsonl, train.log and an optional TensorBoard writer.

metrics.jsonl is the stream other parts read (the Debug Reporter's report, the Smart Tuner): one JSON
object a line, {"step", "time", "split": "train"|"val", <metric>: value, ...}. events.jsonl records
what happened and what was done about it ({"step", "time", "event", "reason", "action", ...}).
On ranks other than 0 every writer is disabled, so only one process writes a run folder.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    """Floats that JSON cannot hold (nan, inf) become strings, so a NaN loss is logged, not dropped."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


class JsonlLog:
    """Append-only JSON-lines file, flushed after every record (readers tail it during training)."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        self._file = None
        if enabled:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())

    @staticmethod
    def keep_until(path: Path, step: int) -> int:
        """Drop records with "step" > `step` (written after the checkpoint a run resumes from, or by a
        run that left no checkpoint) so readers see one consistent history. Returns how many were dropped.

        A half-written last line (a process killed mid-write) is dropped too, with a warning.
        """
        path = Path(path)
        if not path.is_file():
            return 0
        kept, dropped = [], 0
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s: dropping an incomplete line %r", path, line[:80])
                dropped += 1
                continue
            if record.get("step", 0) <= step:
                kept.append(line)
            else:
                dropped += 1
        if dropped:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
            tmp.replace(path)
        return dropped

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        self._file.write(json.dumps({k: _jsonable(v) for k, v in record.items()}) + "\n")
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class MetricsLog(JsonlLog):
    """metrics.jsonl: `log(step, split, metrics)`."""

    def log(self, step: int, split: str, metrics: dict[str, float]) -> None:
        self.write({"step": step, "time": time.time(), "split": split, **metrics})


class EventLog(JsonlLog):
    """events.jsonl plus a line in train.log: `log(step, event, reason, action, **details)`.

    `listeners` are called with every record as it is logged (the trainer passes each record to its
    callbacks' `on_event`), so nothing has to read back the file this process writes.
    """

    def __init__(self, path: Path, enabled: bool = True):
        super().__init__(path, enabled)
        self.listeners: list[Callable[[dict[str, Any]], None]] = []

    def log(
        self,
        step: int,
        event: str,
        reason: str = "",
        action: str = "",
        level: int = logging.INFO,
        **details: Any,
    ) -> dict[str, Any]:
        record = {
            "step": step,
            "time": time.time(),
            "event": event,
            "reason": reason,
            "action": action,
            **details,
        }
        self.write(record)
        log.log(
            level,
            "step %d: %s%s%s",
            step,
            event,
            f" ({reason})" if reason else "",
            f" -> {action}" if action else "",
        )
        for listener in self.listeners:
            listener(record)
        return record

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]


class TensorBoard:
    """Thin wrapper over SummaryWriter that is a no-op when disabled (other ranks, or not configured)."""

    def __init__(self, log_dir: Path, enabled: bool):
        self._writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(log_dir))

    @property
    def enabled(self) -> bool:
        return self._writer is not None

    def scalars(self, step: int, values: dict[str, float], prefix: str = "") -> None:
        if self._writer is None:
            return
        for name, value in values.items():
            self._writer.add_scalar(f"{prefix}{name}", value, step)

    def figure(self, tag: str, fig: Any, step: int) -> None:
        if self._writer is not None:
            self._writer.add_figure(tag, fig, step)

    def audio(self, tag: str, wav: Any, step: int, sample_rate: int) -> None:
        if self._writer is not None:
            self._writer.add_audio(tag, wav, step, sample_rate=sample_rate)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def attach_file_log(path: Path) -> logging.Handler:
    """Copy every `tacotron.*` log record into `path` (train.log); detach with `detach_file_log`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("tacotron")
    root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    return handler


def detach_file_log(handler: logging.Handler) -> None:
    logging.getLogger("tacotron").removeHandler(handler)
    handler.close()


class RunLogs:
    """A run folder's logs, opened together and closed together: events.jsonl, metrics.jsonl,
    TensorBoard and the train.log copy of `tacotron.*` log records. Only the main rank writes.

    resume_step: records after this step (left by the run being resumed, past its checkpoint) are
    dropped first, so readers see one consistent history.
    """

    def __init__(self, run_dir: Path, *, main: bool, tensorboard: bool, resume_step: int):
        self._handler: logging.Handler | None = None
        if main:
            run_dir.mkdir(parents=True, exist_ok=True)
            for name in ("metrics.jsonl", "events.jsonl"):
                JsonlLog.keep_until(run_dir / name, resume_step)
            self._handler = attach_file_log(run_dir / "train.log")
        self.events = EventLog(run_dir / "events.jsonl", enabled=main)
        self.metrics = MetricsLog(run_dir / "metrics.jsonl", enabled=main)
        self.tensorboard = TensorBoard(run_dir / "tensorboard", tensorboard and main)

    def close(self) -> None:
        self.metrics.close()
        self.events.close()
        self.tensorboard.close()
        if self._handler is not None:
            detach_file_log(self._handler)
            self._handler = None
