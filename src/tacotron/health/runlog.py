"""Read a run folder (metrics.jsonl, events.jsonl, config.yaml, alignment snapshots) for the report.

Why tolerant: the report must work on a run that is still writing. The trainer appends and flushes
whole lines, so the only damage a reader can see is a partial last line; it is left out (and counted),
never an error. Non-finite values were logged as strings ("nan", "inf") and come back as floats.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)

NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


@dataclass
class JsonlRead:
    """Records of one JSON-lines file, plus how many lines could not be parsed (a partial tail)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: int = 0


def read_jsonl(path: Path) -> JsonlRead:
    """All complete JSON objects in `path`; a missing file is an empty read."""
    result = JsonlRead()
    if not path.is_file():
        return result
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            result.bad_lines += 1
            if number < len(lines):  # not the unfinished tail: worth a word in the log
                logger.warning("%s:%d: not valid JSON, left out", path, number)
            continue
        if isinstance(record, dict):
            result.records.append(record)
    return result


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value.lower() in NONFINITE:
        return NONFINITE[value.lower()]
    return None


@dataclass
class RunLog:
    """Everything the report reads from one run folder."""

    run_dir: Path
    config: dict[str, Any]
    metrics: list[dict[str, Any]]
    events: list[dict[str, Any]]
    alignments: list[tuple[int, Path]]  # (step, .npy) saved by HealthMonitor at checkpoints
    samples: list[Path]  # validation sample figures (PNG) written by the trainer
    partial_lines: int = 0

    def series(self, key: str, split: str | None = None) -> tuple[list[int], list[float]]:
        """(steps, values) of `key` over records of `split` (any split when None), in file order."""
        steps, values = [], []
        for record in self.metrics:
            if split is not None and record.get("split") != split:
                continue
            value = _as_number(record.get(key))
            if value is not None and isinstance(record.get("step"), int):
                steps.append(record["step"])
                values.append(value)
        return steps, values

    def keys(self, split: str, prefix: str = "") -> list[str]:
        """Metric names seen in `split` that start with `prefix`, sorted."""
        found = set()
        for record in self.metrics:
            if record.get("split") == split:
                found.update(k for k in record if k.startswith(prefix) and k not in ("step", "time", "split"))
        return sorted(found)

    @property
    def last_step(self) -> int:
        steps = [r["step"] for r in self.metrics + self.events if isinstance(r.get("step"), int)]
        return max(steps, default=0)

    def cfg(self, section: str, key: str, default: Any = None) -> Any:
        return (self.config.get(section) or {}).get(key, default)


def load_run(run_dir: str | Path) -> RunLog:
    """Read `run_dir`; raises FileNotFoundError naming the folder when it is not a run folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run folder not found: {run_dir}")
    metrics = read_jsonl(run_dir / "metrics.jsonl")
    events = read_jsonl(run_dir / "events.jsonl")
    config_path = run_dir / "config.yaml"
    if not (metrics.records or events.records or config_path.is_file()):
        raise FileNotFoundError(
            f"{run_dir} is not a run folder: no metrics.jsonl, events.jsonl or config.yaml"
        )
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    align_dir = run_dir / "health" / "alignments"
    alignments = sorted(
        (int(p.stem.split("_")[-1]), p)
        for p in align_dir.glob("step_*.npy")
        if p.stem.split("_")[-1].isdigit()
    )
    samples = sorted((run_dir / "samples").glob("*.png")) if (run_dir / "samples").is_dir() else []
    return RunLog(
        run_dir=run_dir,
        config=config if isinstance(config, dict) else {},
        metrics=metrics.records,
        events=events.records,
        alignments=alignments,
        samples=samples,
        partial_lines=metrics.bad_lines + events.bad_lines,
    )
