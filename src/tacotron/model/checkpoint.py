"""The checkpoint file: its format version, its name pattern in a run folder, and reading it safely.

A checkpoint is self-describing (model weights, config, symbol table, r, and for training runs the
optimizer, sampler, RNG and best-metric state), so inference, the Debug Reporter and resume rebuild
everything from it alone. r is stored once, as the top-level "r" (the reduction factor the weights
were last trained with); `checkpoint_r` reads it. Writing, rotation and RNG capture are the trainer's (`tacotron.train.checkpoint`).
"""

from __future__ import annotations

import pickle
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
    return checked_checkpoint(read_weights_file(path), path)


def read_weights_file(path: str | Path, *, trust_pickle: bool = False) -> Any:
    """`torch.load` on CPU: tensors and plain containers only, unless `trust_pickle` (a file from a
    source you trust that also pickled other Python objects, as some foreign training scripts do)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except pickle.UnpicklingError as err:
        if trust_pickle:
            raise CheckpointError(f"{path}: not a readable checkpoint ({_first_line(err)})") from err
        raise CheckpointError(
            f"{path}: holds pickled Python objects besides tensors, which weights-only loading refuses; "
            "if you trust its source, convert it with `tacotron convert --trust-pickle`"
        ) from err
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"{path}: not a readable checkpoint ({_first_line(err)})") from err


def _first_line(err: Exception) -> str:
    """`Type: first line of the message` (torch's load errors run to many lines of advice)."""
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"


def checked_checkpoint(ckpt: Any, path: str | Path) -> dict[str, Any]:
    """`ckpt` (a loaded file) if it is a tacotron checkpoint of the supported format, legacy r moved out."""
    if not is_tacotron_checkpoint(ckpt):
        raise CheckpointError(f"{path}: not a tacotron checkpoint (no 'format_version' key)")
    if ckpt["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {ckpt['format_version']} is not supported "
            f"(this code reads version {FORMAT_VERSION})"
        )
    _drop_legacy_model_r(ckpt)
    return ckpt


def is_tacotron_checkpoint(obj: Any) -> bool:
    """Whether a loaded file is this project's checkpoint (tools read anything else as foreign weights)."""
    return isinstance(obj, dict) and "format_version" in obj


def checkpoint_r(ckpt: dict[str, Any]) -> int:
    """The reduction factor to run a checkpoint's weights with: its "r", else the config's n_frames_per_step."""
    if "r" in ckpt:
        return int(ckpt["r"])
    return int(ckpt["config"]["model"]["n_frames_per_step"])


def _drop_legacy_model_r(ckpt: dict[str, Any]) -> None:
    """Older models kept r as state (`_extra_state` in the model's state dict): drop it so the weights
    load into today's model, and keep its value as the top-level "r" when the checkpoint has none."""
    model = ckpt.get("model")
    if isinstance(model, dict) and "_extra_state" in model:
        extra = model.pop("_extra_state")
        if "r" not in ckpt and isinstance(extra, dict) and "r" in extra:
            ckpt["r"] = int(extra["r"])
