"""Training health metrics: per-module gradient and parameter norms, update ratios, gate and mel quality.

Why per module: a global gradient norm says "something exploded"; the per-module split says whether it
was the attention, the decoder LSTMs or the postnet, which is what decides the fix. Modules are grouped by
parameter name, so the metrics follow whatever names `tacotron.model` uses without importing it.

`health_metrics(output, batch)` is the single function both the Debug Reporter and the Smart Tuner use to
judge a batch: attention health + gate accuracy/F1 + mel error per frequency band.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tacotron.health.attention import attention_health, decoder_lengths

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


def first_gate_frames(
    gate_logits: torch.Tensor, mel_lengths: torch.Tensor, threshold: float = 0.5
) -> torch.Tensor:
    """[B] first frame whose stop probability exceeds `threshold` within the real frames, -1 if none."""
    frames = torch.arange(gate_logits.size(1), device=gate_logits.device)
    real = frames[None, :] < mel_lengths.to(gate_logits.device)[:, None]
    fires = (torch.sigmoid(gate_logits.detach().float()) > threshold) & real
    first = torch.where(fires, frames[None, :], torch.full_like(fires, gate_logits.size(1), dtype=torch.long))
    first = first.min(dim=1).values
    return torch.where(first >= gate_logits.size(1), torch.full_like(first, -1), first)


def gate_metrics(
    gate_logits: torch.Tensor, gate_target: torch.Tensor, mel_lengths: torch.Tensor, threshold: float = 0.5
) -> dict[str, float]:
    """Stop-gate quality over real frames: accuracy, and precision/recall/F1 of the stop class.

    The stop class is the last real frame of each item (the only positive inside the real frames), so
    F1 is 1 only when the gate fires exactly at the true stop frame and nowhere before it. Accuracy alone
    is useless here: a gate that never fires is right on every frame but one.
    "gate/fire_error" is the mean |first firing frame - true stop frame|, counting never-fired items as
    firing at the last padded frame.
    """
    mel_lengths = mel_lengths.to(gate_logits.device)
    frames = torch.arange(gate_logits.size(1), device=gate_logits.device)
    real = frames[None, :] < mel_lengths[:, None]
    pred = (torch.sigmoid(gate_logits.detach().float()) > threshold) & real
    target = (gate_target.to(gate_logits.device) > 0.5) & real
    tp = (pred & target).sum().float()
    precision = tp / pred.sum().clamp(min=1)
    recall = tp / target.sum().clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    accuracy = ((pred == target) & real).sum().float() / real.sum().clamp(min=1)
    first = first_gate_frames(gate_logits, mel_lengths, threshold)
    first = torch.where(first < 0, torch.full_like(first, gate_logits.size(1) - 1), first)
    fire_error = (first - (mel_lengths - 1)).abs().float().mean()
    return {
        "gate/accuracy": float(accuracy),
        "gate/precision": float(precision),
        "gate/recall": float(recall),
        "gate/f1": float(f1),
        "gate/fire_error": float(fire_error),
    }


def mel_band_errors(
    mel: torch.Tensor, target: torch.Tensor, mel_lengths: torch.Tensor, n_bands: int = 4
) -> dict[str, float]:
    """Mean absolute log-mel error over real frames in `n_bands` equal slices of the mel axis, low to high.

    Why: an all-band error that stalls hides a model that learnt the low formants but not the fricatives.
    Keys "mel_band/0" (lowest) ... "mel_band/{n_bands-1}".
    """
    if mel.shape != target.shape:
        raise ValueError(f"mel {tuple(mel.shape)} and target {tuple(target.shape)} must have the same shape")
    if not 1 <= n_bands <= mel.size(1):
        raise ValueError(f"n_bands must be in 1..n_mels={mel.size(1)}, got {n_bands}")
    real = torch.arange(mel.size(2), device=mel.device)[None, :] < mel_lengths.to(mel.device)[:, None]
    err = (mel.detach().float() - target.detach().float()).abs() * real[:, None, :]  # (B, n_mels, T)
    per_channel = err.sum(dim=(0, 2)) / real.sum().clamp(min=1)  # (n_mels,)
    return {f"mel_band/{i}": float(chunk.mean()) for i, chunk in enumerate(per_channel.chunk(n_bands))}


def health_metrics(
    output: Any,
    batch: Any,
    *,
    gate_threshold: float = 0.5,
    n_bands: int = 4,
    coverage_threshold: float = 0.1,
) -> dict[str, float]:
    """Every health number for one teacher-forced batch, as a flat dict[str, float].

    output: a `Tacotron2Output` (mel_postnet [B, n_mels, T], gate_logits [B, T], alignments [B, T//r, L]).
    batch: the `Batch` it was computed from.
    This is the one function the Smart Tuner prunes and steers on; keys are "attn/*", "gate/*", "mel_band/*".
    """
    alignments = output.alignments
    steps = alignments.size(1)
    frames = batch.mels.size(2)
    if steps < 1 or frames % steps:
        raise ValueError(
            f"alignments {tuple(alignments.shape)} do not divide the batch's {frames} mel frames"
        )
    r = frames // steps
    mel_lengths = batch.mel_lengths.to(alignments.device)
    gate_frames = first_gate_frames(output.gate_logits, mel_lengths, gate_threshold)
    gate_steps = torch.where(gate_frames < 0, gate_frames, torch.div(gate_frames, r, rounding_mode="floor"))
    metrics = attention_health(
        alignments,
        batch.text_lengths.to(alignments.device),
        decoder_lengths(mel_lengths, r),
        gate_steps,
        coverage_threshold=coverage_threshold,
    )
    metrics.update(gate_metrics(output.gate_logits, batch.gate_target, mel_lengths, gate_threshold))
    metrics.update(
        mel_band_errors(output.mel_postnet, batch.mels.to(alignments.device), mel_lengths, n_bands)
    )
    return metrics
