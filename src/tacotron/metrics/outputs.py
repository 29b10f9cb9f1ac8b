"""Health numbers of one teacher-forced batch: stop-gate quality, per-band mel error, attention health.

Pure functions of a model output and its batch, used by validation (train) and by the Debug Reporter
and the Smart Tuner (which prune and steer on `health_metrics`).
"""

from __future__ import annotations

from typing import Any

import torch

from tacotron.frames import check_same_r, decoder_steps, step_of_frame
from tacotron.metrics.attention import attention_health


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


ATTENTION_KEYS = (
    "attn/diagonality",
    "attn/monotonicity",
    "attn/coverage",
    "attn/end_alignment",
    "attn/focus",
    "attn/advance",
    "attn/alignment",
)
GATE_KEYS = ("gate/accuracy", "gate/precision", "gate/recall", "gate/f1", "gate/fire_error")


def health_metric_names(n_bands: int = 4) -> list[str]:
    """The keys `health_metrics` returns (for checking a metric name before a run starts)."""
    return [*ATTENTION_KEYS, *GATE_KEYS, *(f"mel_band/{i}" for i in range(n_bands))]


def health_metrics(
    output: Any,
    batch: Any,
    *,
    gate_threshold: float = 0.5,
    n_bands: int = 4,
    coverage_threshold: float = 0.1,
) -> dict[str, float]:
    """Every health number for one teacher-forced batch, as a flat dict[str, float].

    output: a `Tacotron2Output` (mel_postnet [B, n_mels, T], gate_logits [B, T], alignments [B, T//r, L],
        r). batch: the `Batch` it was computed from; its r must be the output's (ValueError otherwise).
    This is the one function the Smart Tuner prunes and steers on; keys are "attn/*", "gate/*", "mel_band/*".
    """
    r = check_same_r(output.r, batch.r, "health_metrics")
    alignments = output.alignments
    steps = decoder_steps(batch.mels.size(2), r)
    if alignments.size(1) != steps:
        raise ValueError(
            f"alignments {tuple(alignments.shape)} do not match the batch's {batch.mels.size(2)} mel frames "
            f"at r={r} (expected {steps} decoder steps)"
        )
    mel_lengths = batch.mel_lengths.to(alignments.device)
    gate_frames = first_gate_frames(output.gate_logits, mel_lengths, gate_threshold)
    metrics = attention_health(
        alignments,
        batch.text_lengths.to(alignments.device),
        decoder_steps(mel_lengths, r),
        step_of_frame(gate_frames, r),
        coverage_threshold=coverage_threshold,
    )
    metrics.update(gate_metrics(output.gate_logits, batch.gate_target, mel_lengths, gate_threshold))
    metrics.update(
        mel_band_errors(output.mel_postnet, batch.mels.to(alignments.device), mel_lengths, n_bands)
    )
    return metrics
