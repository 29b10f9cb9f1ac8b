"""The checkpoint file: its format version, its name pattern in a run folder, and reading it safely.

A checkpoint is self-describing (model weights, config, symbol table, r, and for training runs the
optimizer, sampler, RNG and best-metric state), so inference, the Debug Reporter and resume rebuild
everything from it alone. Writing, rotation and RNG capture are the trainer's (`tacotron.train.checkpoint`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

FORMAT_VERSION = 1
STEP_PATTERN = re.compile(r"^step_(\d{8})\.pt$")  # checkpoints/step_XXXXXXXX.pt: the only names resumed


class CheckpointError(RuntimeError):
    """A checkpoint file is unreadable, incomplete or of an unknown format; the message names the file."""


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint on CPU (weights only, no arbitrary pickles) and check its format version."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from err
    if not isinstance(ckpt, dict) or "format_version" not in ckpt:
        raise CheckpointError(f"{path}: not a tacotron checkpoint (no 'format_version' key)")
    if ckpt["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {ckpt['format_version']} is not supported "
            f"(this code reads version {FORMAT_VERSION})"
        )
    return ckpt
