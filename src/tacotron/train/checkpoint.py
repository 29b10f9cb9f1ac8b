"""Checkpoints: atomic writes, rotation, the best one, RNG states, a format version.

Why atomic: a run killed while writing (OOM killer, preemption, kill -9) must leave the previous
checkpoint intact and must never leave a half-written file under a checkpoint's name. We write to a
hidden temp file in the same folder, fsync it, then `os.replace` it onto the final name (atomic on
POSIX) and fsync the folder. Only names matching `step_XXXXXXXX.pt` are ever picked up for resume.
"""

from __future__ import annotations

import logging
import os
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tacotron.model.checkpoint import STEP_PATTERN

log = logging.getLogger(__name__)

TEMP_MARK = ".tmp."


def _noop_before_rename(tmp_path: Path) -> None:
    """Seam between writing the temp file and renaming it (tests replace it to simulate a crash)."""


def atomic_save(obj: Any, path: Path, before_rename: Callable[[Path], None] = _noop_before_rename) -> Path:
    """torch.save `obj` to `path` atomically (temp file + fsync + rename + fsync of the folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{TEMP_MARK}{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    before_rename(tmp)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and (if present) CUDA RNG states, as plain types and tensors."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of `capture_rng_state` (CUDA states only if this process sees the same number of GPUs)."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    npst = state["numpy"]
    keys = npst["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, npst["pos"], npst["has_gauss"], npst["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda is not None and torch.cuda.is_available():
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        else:
            log.warning(
                "CUDA RNG states saved for %d GPUs, %d visible: not restored",
                len(cuda),
                torch.cuda.device_count(),
            )


class CheckpointManager:
    """The `checkpoints/` folder of a run: numbered checkpoints (last `keep_last` kept), `best.pt`, tags."""

    def __init__(self, directory: Path, keep_last: int):
        self.dir = Path(directory)
        self.keep_last = keep_last
        self.before_rename: Callable[[Path], None] = _noop_before_rename
        self.protected: set[Path] = set()  # never rotated away (the last healthy checkpoint)

    def step_path(self, step: int) -> Path:
        return self.dir / f"step_{step:08d}.pt"

    def numbered(self) -> list[tuple[int, Path]]:
        """(step, path) of every complete numbered checkpoint, oldest first."""
        if not self.dir.is_dir():
            return []
        found = []
        for p in self.dir.iterdir():
            m = STEP_PATTERN.match(p.name)
            if m:
                found.append((int(m.group(1)), p))
        return sorted(found)

    def latest(self) -> Path | None:
        numbered = self.numbered()
        return numbered[-1][1] if numbered else None

    def save(self, state: dict[str, Any], step: int, tag: str | None = None) -> Path:
        """Write `step_XXXXXXXX.pt` (rotated) or, with a tag, `<tag>.pt` (kept until overwritten)."""
        if tag is not None and not re.fullmatch(r"[A-Za-z0-9_-]+", tag):
            raise ValueError(f"checkpoint tag must be letters, digits, '_' or '-', got {tag!r}")
        path = self.step_path(step) if tag is None else self.dir / f"{tag}.pt"
        atomic_save(state, path, self.before_rename)
        if tag is None:
            self._rotate()
        return path

    def _rotate(self) -> None:
        if self.keep_last <= 0:
            return
        for _, path in self.numbered()[: -self.keep_last]:
            if path in self.protected:
                continue
            path.unlink()
            log.debug("removed old checkpoint %s", path)

    def remove_stale_temp_files(self) -> list[Path]:
        """Delete temp files left by a process killed mid-write; they are never valid checkpoints."""
        if not self.dir.is_dir():
            return []
        stale = [p for p in self.dir.iterdir() if p.name.startswith(".") and TEMP_MARK in p.name]
        for p in stale:
            log.warning("removing incomplete checkpoint file %s (a previous run died while writing it)", p)
            p.unlink()
        return stale
