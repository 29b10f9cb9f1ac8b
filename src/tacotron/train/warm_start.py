"""Warm start (`--init-from`): copy matching weights from another run's checkpoint into a fresh model.

Weights only: optimizer, step and data position start anew. Parameters named in `skip` (prefixes) stay
freshly initialised, e.g. "encoder.embedding" for a new alphabet; anything else that does not fit is an
error naming the parameter and the `--init-skip` that would leave it initialised.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from tacotron.model.checkpoint import load_checkpoint


def warm_start(
    model: torch.nn.Module, path: Path, skip: tuple[str, ...], log_event: Callable[..., Any]
) -> None:
    """Load the tensors of `path` whose names and shapes match `model`; log an "init_from" event."""
    state = load_checkpoint(path)["model"]
    own = model.state_dict()
    loaded, skipped = {}, []
    for name, value in state.items():
        if name.startswith(skip):
            skipped.append(name)
            continue
        if name not in own:
            raise ValueError(
                f"--init-from {path}: parameter {name!r} does not exist in this model "
                f"(skip it with --init-skip {name.rsplit('.', 1)[0]})"
            )
        if own[name].shape != value.shape:
            raise ValueError(
                f"--init-from {path}: {name!r} has shape {tuple(value.shape)} in the checkpoint but "
                f"{tuple(own[name].shape)} here; pass --init-skip {name.rsplit('.', 1)[0]} to re-initialise it"
            )
        loaded[name] = value
    with torch.no_grad():
        model.load_state_dict(loaded, strict=False)
    fresh = [n for n in own if n not in loaded]
    log_event(
        0,
        "init_from",
        reason=str(path),
        action=f"loaded {len(loaded)} tensors",
        skipped=skipped,
        initialised=fresh,
    )
