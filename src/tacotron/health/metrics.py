"""Training health metrics: per-module gradient and parameter norms and update ratios.

Why per module: a global gradient norm says "something exploded"; the per-module split says whether it
was the attention, the decoder LSTMs or the postnet, which is what decides the fix. Modules are grouped by
parameter name, so the metrics follow whatever names `tacotron.model` uses without importing it.

The health of a batch's outputs (attention, gate, mel bands) is `tacotron.metrics.outputs.health_metrics`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

MODULE_GROUPS = ("embedding", "encoder", "attention", "decoder", "gate", "postnet", "other")


def module_group(name: str) -> str:
    """Group of a parameter name such as "decoder.attention.query_layer.weight" -> "attention".

    Attention, gate and embedding layers live inside the decoder / encoder in Tacotron 2, so they are
    matched anywhere in the name first; everything else goes by its top-level module.
    """
    parts = name.lower().split(".")
    if parts and parts[0] in ("module", "_orig_mod"):  # DDP / torch.compile wrappers
        parts = parts[1:]
    if any("attention" in part for part in parts):
        return "attention"
    if any(part.startswith("gate") for part in parts):
        return "gate"
    if any("embedding" in part for part in parts[:-1]):  # "encoder.embedding.weight", not "*.embedding_dim"
        return "embedding"
    for group in ("embedding", "encoder", "postnet", "decoder"):
        if parts and parts[0].startswith(group):
            return group
    return "other"


def _grouped_sq_norms(named: list[tuple[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    sums: dict[str, torch.Tensor] = {}
    for name, tensor in named:
        group = module_group(name)
        sq = tensor.detach().float().pow(2).sum()
        sums[group] = sums[group] + sq if group in sums else sq
    return sums


def _norm_dict(prefix: str, sums: dict[str, torch.Tensor]) -> dict[str, float]:
    if not sums:
        return {}
    total = torch.stack(list(sums.values())).sum()
    values = {f"{prefix}/{group}": float(sq.sqrt()) for group, sq in sums.items()}
    values[f"{prefix}/total"] = float(total.sqrt())
    return values


def grad_norms(model: nn.Module) -> dict[str, float]:
    """{"grad_norm/total", "grad_norm/<group>"} from the gradients currently held in `.grad`.

    Call after backward (and after unscaling under fp16). Empty when no parameter holds a gradient.
    """
    named = [(n, p.grad) for n, p in model.named_parameters() if p.grad is not None]
    return _norm_dict("grad_norm", _grouped_sq_norms(named))


class GradNormRecorder:
    """Per-module gradient norms captured during backward, for trainers that zero gradients before callbacks.

    `arm(model)` hooks every parameter (`register_post_accumulate_grad_hook`); each hook keeps the squared
    norm of that parameter's accumulated gradient, so under gradient accumulation the last micro-batch's
    call holds the full step's gradient. `collect(loss_scale)` removes the hooks and returns the same keys
    as `grad_norms`, divided by the fp16 loss scale the backward pass used (1.0 otherwise). The norms are
    taken before clipping, and under DDP they are this rank's local gradients (before all-reduce).
    """

    def __init__(self) -> None:
        self._handles: list[Any] = []
        self._sq: dict[str, torch.Tensor] = {}

    @property
    def armed(self) -> bool:
        return bool(self._handles)

    def arm(self, model: nn.Module) -> None:
        if self.armed:
            return
        for name, param in model.named_parameters():
            if param.requires_grad:
                self._handles.append(param.register_post_accumulate_grad_hook(self._hook(name)))

    def _hook(self, name: str) -> Any:
        def record(param: torch.Tensor) -> None:
            self._sq[name] = param.grad.detach().float().pow(2).sum()

        return record

    def collect(self, loss_scale: float = 1.0) -> dict[str, float]:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        sums: dict[str, torch.Tensor] = {}
        for name, sq in self._sq.items():
            group = module_group(name)
            sums[group] = sums[group] + sq if group in sums else sq
        self._sq = {}
        scaled = {g: v / (loss_scale * loss_scale) for g, v in sums.items()}
        return _norm_dict("grad_norm", scaled)


def param_norms(model: nn.Module) -> dict[str, float]:
    """{"param_norm/total", "param_norm/<group>"}: slow growth is normal, a jump is not."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return _norm_dict("param_norm", _grouped_sq_norms(named))


def snapshot_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of the trainable parameters, to measure the next optimizer update against."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def update_ratios(model: nn.Module, before: dict[str, torch.Tensor]) -> dict[str, float]:
    """{"update_ratio/<group>"}: ||p_now - p_before|| / ||p_before|| per group.

    Around 1e-3 per step is healthy for Adam; 1e-1 means the LR is far too high, 1e-6 that nothing learns.
    """
    deltas, bases = [], []
    for name, param in model.named_parameters():
        if name in before:
            deltas.append((name, param.detach() - before[name]))
            bases.append((name, before[name]))
    delta_sq, base_sq = _grouped_sq_norms(deltas), _grouped_sq_norms(bases)
    ratios = {
        f"update_ratio/{g}": float(delta_sq[g].sqrt() / base_sq[g].sqrt().clamp(min=1e-12)) for g in delta_sq
    }
    if delta_sq:
        total_delta = torch.stack(list(delta_sq.values())).sum().sqrt()
        total_base = torch.stack(list(base_sq.values())).sum().sqrt().clamp(min=1e-12)
        ratios["update_ratio/total"] = float(total_delta / total_base)
    return ratios
