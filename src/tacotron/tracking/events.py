"""Follow a run's events.jsonl from inside the training process.

Why tail the file instead of adding hooks: rollbacks, give-ups and the end of training are recorded by
whoever acts (the trainer, the Debug Reporter, the tuner's controller) through `trainer.events.log`,
which appends and flushes one JSON line per event. Reading the new lines is the one place that sees all
of them without editing the loop, and it sees exactly what the run's report will show.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EventTail:
    """New complete records of a JSON-lines file since the last `read_new()`.

    `start_at_end()` skips what is already there (events of a previous process of a resumed run);
    a half-written last line is left for the next call. If the file shrank (a resume truncated it),
    reading restarts at its end.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._offset = 0

    def start_at_end(self) -> None:
        self._offset = self.path.stat().st_size if self.path.is_file() else 0

    def read_new(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        size = self.path.stat().st_size
        if size < self._offset:
            log.warning(
                "%s shrank from %d to %d bytes; following it from its end", self.path, self._offset, size
            )
            self._offset = size
            return []
        if size == self._offset:
            return []
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            chunk = f.read(size - self._offset)
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        records = []
        for line in complete.decode("utf-8").splitlines():
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                log.warning("%s: skipping a malformed event line %r", self.path, line[:80])
        return records
