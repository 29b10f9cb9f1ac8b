"""Find where a NaN or inf came from: the inputs, the parameters, or the first module that produced it.

Why replay: by the time the loss is NaN, every tensor downstream is NaN too and the message
"loss is nan" helps nobody. Re-running the same batch with a forward hook on every module and noting
the first call (in execution order) whose output is non-finite names the culprit, e.g.
"decoder.linear_projection", together with the utterance ids of the batch.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import fields, is_dataclass
from typing import Any

import torch
from torch import nn

logger = logging.getLogger(__name__)

BATCH_TENSOR_FIELDS = ("text", "text_lengths", "mels", "mel_lengths", "gate_target")


def _tensors(value: Any) -> Iterator[torch.Tensor]:
    """Every tensor inside a (nested) output: tensors, tuples, lists, dicts, dataclasses."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)
    elif is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            yield from _tensors(getattr(value, f.name))


def all_finite(value: Any) -> bool:
    """True when every floating-point tensor inside `value` is free of NaN and inf."""
    return all(bool(torch.isfinite(t).all()) for t in _tensors(value) if t.is_floating_point())


def nonfinite_inputs(batch: Any) -> dict[str, Any]:
    """Which batch fields hold NaN/inf, and in which utterances.

    Returns {"fields": {"mels": ["id_3"], ...}, "ids": ["id_3"]}; empty lists when the batch is clean.
    """
    found: dict[str, list[str]] = {}
    for name in BATCH_TENSOR_FIELDS:
        tensor = getattr(batch, name, None)
        if not isinstance(tensor, torch.Tensor) or not tensor.is_floating_point():
            continue
        bad_rows = (~torch.isfinite(tensor)).reshape(tensor.size(0), -1).any(dim=1)
        ids = [batch.ids[i] for i in torch.nonzero(bad_rows).flatten().tolist()]
        if ids:
            found[name] = ids
    ids = sorted({i for names in found.values() for i in names})
    return {"fields": found, "ids": ids}


def nonfinite_parameters(model: nn.Module) -> list[str]:
    """Names of parameters holding NaN or inf."""
    return [n for n, t in model.named_parameters() if not bool(torch.isfinite(t).all())]


def nonfinite_buffers(model: nn.Module) -> list[str]:
    """Names of floating-point buffers holding NaN or inf.

    Why separately: a train-mode forward over a bad batch writes NaN into BatchNorm running statistics
    even when the trainer skips the update, so a skipped step is not always a harmless one.
    """
    return [
        n for n, t in model.named_buffers() if t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]


def nonfinite_gradients(model: nn.Module) -> list[str]:
    """Names of parameters whose current `.grad` holds NaN or inf."""
    return [
        n
        for n, p in model.named_parameters()
        if p.grad is not None and not bool(torch.isfinite(p.grad).all())
    ]


class _FirstNonFinite:
    """Forward-hook state: the first module call, in execution order, with a non-finite output."""

    def __init__(self) -> None:
        self.calls = 0
        self.found: dict[str, Any] | None = None

    def hook(self, name: str) -> Callable[..., None]:
        def record(module: nn.Module, inputs: Any, output: Any) -> None:
            self.calls += 1
            if self.found is None and not all_finite(output):
                self.found = {
                    "module": name or "<model>",
                    "module_type": type(module).__name__,
                    "call_index": self.calls,
                    "inputs_finite": all_finite(inputs),
                }

        return record


def first_nonfinite_module(
    model: nn.Module,
    batch: Any,
    *,
    autocast: Callable[[], contextlib.AbstractContextManager] | None = None,
) -> dict[str, Any] | None:
    """Replay `batch` through `model` (no grad) and return the first module whose output is non-finite.

    Returns {"module", "module_type", "call_index", "inputs_finite"} or None if the replay is finite
    (then the NaN arose in the loss or the backward pass, or under a precision the replay did not use:
    pass the trainer's `autocast` context factory to replay under the same precision).
    `inputs_finite` False means the module only passed on bad inputs (look at `nonfinite_inputs`).
    The replay runs in the model's current mode (train mode reproduces dropout and batch statistics) and
    restores the buffers afterwards, so it leaves BatchNorm running statistics as it found them.
    """
    state = _FirstNonFinite()
    handles = [m.register_forward_hook(state.hook(name)) for name, m in model.named_modules()]
    device = next(model.parameters()).device
    replay = batch.to(device)
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    try:
        with torch.no_grad(), autocast() if autocast is not None else contextlib.nullcontext():
            model(replay.text, replay.text_lengths, replay.mels, replay.mel_lengths, r=replay.r)
    finally:
        for handle in handles:
            handle.remove()
        with torch.no_grad():
            for name, buffer in model.named_buffers():
                buffer.copy_(buffers[name])
    return state.found


def localize_nonfinite(
    model: nn.Module,
    batch: Any,
    *,
    replay: bool = True,
    autocast: Callable[[], contextlib.AbstractContextManager] | None = None,
) -> dict[str, Any]:
    """Everything known about a non-finite step, as a JSON-ready dict for events.jsonl.

    Keys: "batch_ids" (utterances of the batch), "bad_inputs" ({field: [ids]}), "bad_input_ids",
    "bad_parameters" (names), "bad_buffers" (names), "bad_gradients" (names), "first_module" (see `first_nonfinite_module`,
    None when not replayed or finite), "summary" (one sentence).
    """
    inputs = nonfinite_inputs(batch)
    info: dict[str, Any] = {
        "batch_ids": list(batch.ids),
        "bad_inputs": inputs["fields"],
        "bad_input_ids": inputs["ids"],
        "bad_parameters": nonfinite_parameters(model),
        "bad_buffers": nonfinite_buffers(model),
        "bad_gradients": nonfinite_gradients(model)[:20],
        "first_module": first_nonfinite_module(model, batch, autocast=autocast) if replay else None,
    }
    info["summary"] = summarize(info)
    return info


def summarize(info: dict[str, Any]) -> str:
    """One sentence naming the source: bad inputs first, then bad parameters, then the first module."""
    parts = []
    if info["bad_input_ids"]:
        where = ", ".join(f"{k} of {v}" for k, v in info["bad_inputs"].items())
        parts.append(f"non-finite input data in {where}")
    if info["bad_parameters"]:
        shown = ", ".join(info["bad_parameters"][:5])
        more = len(info["bad_parameters"]) - 5
        parts.append(f"non-finite parameters: {shown}" + (f" (+{more} more)" if more > 0 else ""))
    if info["bad_buffers"]:
        parts.append(f"non-finite buffers: {', '.join(info['bad_buffers'][:5])}")
    first = info.get("first_module")
    if first:
        parts.append(f"first non-finite output in module '{first['module']}' ({first['module_type']})")
    elif info.get("first_module") is None and not parts:
        parts.append("forward replay stayed finite: the loss or the backward pass overflowed")
    return "; ".join(parts) + f"; batch utterances: {', '.join(info['batch_ids'])}"
