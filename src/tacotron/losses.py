"""Tacotron 2 losses: small masked primitives, `Tacotron2Loss` (the terms and their weights) and
`weighted_total`, the one weighted sum that every training path uses.

Every term is masked to real frames / real (decoder step, symbol) cells, so padding never enters a
value or a gradient; the guided-attention region is each item's own [decoder_steps(mel_len, r), text_len], not
the padded one; non-finite terms are returned as they are (the health monitor acts on them), never
replaced by constants; a configuration with no active term, or a total that does not depend on the
model, raises.

One total: the eager step calls `Tacotron2Loss.forward`, the CUDA-graph step (`tacotron.train.graphs`)
calls `Tacotron2Loss.terms` and `weighted_total` with the weights as device tensors. Both sum the same
terms with the same weights in the same order, so GST and DDC models train alike on either path.

Normalisation: every term is a *sum* over real elements divided by a `LossNorm` count. Passing the
norm of the whole accumulated batch (`LossNorm.from_batches(micro_batches)`) makes the sum of k
micro-batch losses equal the full-batch loss, whatever the micro-batches' lengths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tacotron.config import LossConfig
from tacotron.data.batch import Batch, lengths_to_mask
from tacotron.frames import check_same_r, decoder_steps, padded_frames
from tacotron.model.ddc import (
    DDCOutput,
    attention_consistency_loss,
    coarse_gate_target,
    pad_frames_to_multiple,
)
from tacotron.model.tacotron2 import Tacotron2Output


@dataclass
class LossNorm:
    """Counts of real elements that the summed terms are divided by.

    mel_elements: real frames x n_mels; frames: real frames; attn_cells: sum over items of
    decoder_steps(mel_len, r) x text_len; items: batch size.
    """

    mel_elements: float
    frames: float
    attn_cells: float
    items: int

    @classmethod
    def from_batch(cls, batch: Batch) -> LossNorm:
        """Counts of one batch (one host sync; compute it on the CPU batch if you can)."""
        frames = int(batch.mel_lengths.sum())
        steps = decoder_steps(batch.mel_lengths, batch.r)
        cells = int((steps * batch.text_lengths).sum())
        return cls(float(frames * batch.mels.size(1)), float(frames), float(cells), batch.size)

    @classmethod
    def from_batches(cls, batches: list[Batch]) -> LossNorm:
        """Counts of the whole accumulated batch (sum over micro-batches)."""
        if not batches:
            raise ValueError("LossNorm.from_batches: empty list of batches")
        norms = [cls.from_batch(b) for b in batches]
        return cls(
            sum(n.mel_elements for n in norms),
            sum(n.frames for n in norms),
            sum(n.attn_cells for n in norms),
            sum(n.items for n in norms),
        )


def masked_mel_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, kind: str, denominator: float
) -> torch.Tensor:
    """Sum of squared (kind="mse") or absolute ("l1") errors over real frames / denominator.

    pred, target [B, n_mels, T]; mask [B, T] (True = real). Padded frames are selected out *before*
    the error, so whatever the model emits there (even NaN) has no effect on the value or gradient.
    """
    diff = torch.where(mask.unsqueeze(1), pred.float() - target.float(), 0.0)
    if kind == "mse":
        return diff.pow(2).sum() / denominator
    if kind == "l1":
        return diff.abs().sum() / denominator
    raise ValueError(f"loss.mel_loss must be 'mse' or 'l1', got {kind!r}")


def masked_gate_loss(
    logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, pos_weight: float, denominator: float
) -> torch.Tensor:
    """Binary cross-entropy with logits, stop frames weighted by pos_weight, summed over real frames.

    logits, target, mask [B, T]. BCE = pos_weight * y * softplus(-x) + (1 - y) * softplus(x).
    """
    x = torch.where(mask, logits.float(), 0.0)
    y = target.float()
    bce = pos_weight * y * F.softplus(-x) + (1.0 - y) * F.softplus(x)
    return torch.where(mask, bce, 0.0).sum() / denominator


def guided_attention_mask(
    text_lengths: torch.Tensor, decoder_lengths: torch.Tensor, n_steps: int, n_text: int, sigma: float
) -> torch.Tensor:
    """Tachibana et al. 2017 penalty W[b, t, n] = 1 - exp(-(n/N_b - t/T_b)^2 / (2 sigma^2)).

    Computed with each item's own text length N_b and decoder length T_b, and 0 outside its region.
    Returns [B, n_steps, n_text], float32.
    """
    device = text_lengths.device
    t = torch.arange(n_steps, device=device, dtype=torch.float32).view(1, -1, 1)
    n = torch.arange(n_text, device=device, dtype=torch.float32).view(1, 1, -1)
    big_t = decoder_lengths.float().clamp(min=1).view(-1, 1, 1)
    big_n = text_lengths.float().clamp(min=1).view(-1, 1, 1)
    w = 1.0 - torch.exp(-((n / big_n - t / big_t) ** 2) / (2.0 * sigma**2))
    region = (t < big_t) & (n < big_n)
    return torch.where(region, w, 0.0)


def guided_attention_loss(
    alignments: torch.Tensor,
    text_lengths: torch.Tensor,
    decoder_lengths: torch.Tensor,
    sigma: float,
    denominator: float,
) -> torch.Tensor:
    """Sum of W * alignments over each item's real region / denominator. alignments [B, S, L]."""
    w = guided_attention_mask(text_lengths, decoder_lengths, alignments.size(1), alignments.size(2), sigma)
    a = torch.where(w > 0, alignments.float(), 0.0)  # padded steps may hold anything; never let it in
    return (a * w).sum() / denominator


def guided_attention_weight(cfg: LossConfig, step: int, weight: float | None = None) -> float:
    """weight * rate ** (max(0, step - start) / decay_steps), floored at min weight; 0 if weight is 0.

    The floor never lifts a weight above its own base: a run (or a steered base) below
    `guided_attn_min_weight` keeps its base, so lowering only `guided_attn_weight` does what it says.

    weight: the base weight before decay; None = `cfg.guided_attn_weight`. Steering (the live
    controller) passes its own base here, so the config stays what the run was started with.
    """
    base = cfg.guided_attn_weight if weight is None else weight
    if base == 0:
        return 0.0
    exponent = max(0, step - cfg.guided_attn_decay_start) / max(1, cfg.guided_attn_decay_steps)
    decayed = base * cfg.guided_attn_decay_rate**exponent
    return max(decayed, min(cfg.guided_attn_min_weight, base))


def weighted_total(
    terms: Mapping[str, torch.Tensor], weights: Mapping[str, float | torch.Tensor]
) -> torch.Tensor:
    """sum(weights[k] * terms[k]): the one loss total of every training path (eager, graphed, GST, DDC).

    Summed in the order of `terms`, so the same terms always give the same floating-point result.
    A weight that is the *number* 0 leaves its term out (a NaN in a switched-off term stays out of the
    total); a weight that is a tensor (0-dim, e.g. a device tensor a CUDA graph reads at each replay)
    is always applied, since reading its value would sync with the host. Weights for terms that are
    not in `terms` (e.g. DDC weights for a model without DDC) are ignored; a term without a weight,
    or no active term at all, raises.
    """
    missing = [k for k in terms if k not in weights]
    if missing:
        raise ValueError(f"no weight for loss term(s) {missing}; weights are given for {sorted(weights)}")
    active = [k for k in terms if isinstance(weights[k], torch.Tensor) or weights[k] != 0]
    if not active:
        shown = {k: weights[k] for k in terms}
        raise ValueError(f"no active loss term: every weight is 0 ({shown})")
    total = weights[active[0]] * terms[active[0]]
    for k in active[1:]:
        total = total + weights[k] * terms[k]
    return total  # type: ignore[return-value]


class Tacotron2Loss(nn.Module):
    """Mel (before/after postnet), gate and guided-attention terms, and their weighted total.

    `terms` are the unweighted terms (for logging): "mel/before", "mel/after", "gate", "attn/guided",
    and when the model has a DDC coarse decoder (`out.ddc`) also "ddc/mel", "ddc/gate" (weight
    loss.ddc_weight) and "ddc/attn_consistency" (weight loss.ddc_attn_weight). `weights(step)` gives a
    weight for each of them; `forward` returns {"loss": weighted_total(terms, weights), **terms}.
    """

    def __init__(self, cfg: LossConfig):
        super().__init__()
        self.cfg = cfg
        if cfg.mel_loss not in ("mse", "l1"):
            raise ValueError(f"loss.mel_loss must be 'mse' or 'l1', got {cfg.mel_loss!r}")

    def weights(self, step: int, *, guided_attn_weight: float | None = None) -> dict[str, float]:
        """Weight of every term at `step` (DDC ones too; they apply only when the terms exist).

        guided_attn_weight: the steered base weight of the guided-attention term, decayed by the
        config's schedule like the configured one; None = `loss.guided_attn_weight`.
        """
        c = self.cfg
        return {
            "mel/before": c.mel_weight,
            "mel/after": c.postnet_weight,
            "gate": c.gate_weight,
            "attn/guided": guided_attention_weight(c, step, guided_attn_weight),
            "ddc/mel": c.ddc_weight,
            "ddc/gate": c.ddc_weight,
            "ddc/attn_consistency": c.ddc_attn_weight,
        }

    def terms(
        self, out: Tacotron2Output, batch: Batch, norm: LossNorm | None = None
    ) -> dict[str, torch.Tensor]:
        """Unweighted terms, each a masked sum over real elements divided by a `norm` count.

        The norm's counts may be floats or 0-dim tensors (the CUDA-graph step feeds device tensors).
        """
        check_shapes(out, batch)
        norm = norm or LossNorm.from_batch(batch)
        mel_mask = batch.mel_mask
        c = self.cfg
        terms = {
            "mel/before": masked_mel_loss(out.mel, batch.mels, mel_mask, c.mel_loss, norm.mel_elements),
            "mel/after": masked_mel_loss(
                out.mel_postnet, batch.mels, mel_mask, c.mel_loss, norm.mel_elements
            ),
            "gate": masked_gate_loss(
                out.gate_logits, batch.gate_target, mel_mask, c.gate_pos_weight, norm.frames
            ),
            "attn/guided": guided_attention_loss(
                out.alignments,
                batch.text_lengths,
                decoder_steps(batch.mel_lengths, batch.r),
                c.guided_attn_sigma,
                norm.attn_cells,
            ),
        }
        if out.ddc is not None:
            terms.update(ddc_terms(out.ddc, out.alignments, batch, c, norm))
        return terms

    def forward(
        self,
        out: Tacotron2Output,
        batch: Batch,
        step: int,
        norm: LossNorm | None = None,
        *,
        guided_attn_weight: float | None = None,
    ) -> dict[str, torch.Tensor]:
        """{"loss": the weighted total, **terms}; see `weights` for `guided_attn_weight`."""
        terms = self.terms(out, batch, norm)
        total = weighted_total(terms, self.weights(step, guided_attn_weight=guided_attn_weight))
        if torch.is_grad_enabled() and total.grad_fn is None:
            raise ValueError(
                "total loss does not depend on the model (no grad_fn): the model outputs were computed "
                "without autograd or detached; refusing to return a constant loss"
            )
        return {"loss": total, **terms}


def ddc_terms(
    ddc: DDCOutput, fine_alignments: torch.Tensor, batch: Batch, c: LossConfig, norm: LossNorm
) -> dict[str, torch.Tensor]:
    """Coarse decoder mel and gate losses (targets padded to a multiple of ddc.r, masked to real frames)
    and the fine/coarse attention consistency (mean L1 per real fine decoder step)."""
    t_c = ddc.mel.size(2)
    target = pad_frames_to_multiple(batch.mels, ddc.r)
    if target.size(2) != t_c or ddc.alignments.shape != (
        batch.size,
        decoder_steps(t_c, ddc.r),
        batch.text.size(1),
    ):
        raise ValueError(
            f"ddc outputs mel {tuple(ddc.mel.shape)}, alignments {tuple(ddc.alignments.shape)} do not match "
            f"batch.mels {tuple(batch.mels.shape)} padded to a multiple of ddc r={ddc.r} "
            f"and text {tuple(batch.text.shape)}"
        )
    mask = lengths_to_mask(batch.mel_lengths, t_c)  # (B, T_c)
    return {
        "ddc/mel": masked_mel_loss(ddc.mel, target, mask, c.mel_loss, norm.mel_elements),
        "ddc/gate": masked_gate_loss(
            ddc.gate_logits, coarse_gate_target(batch.mel_lengths, t_c), mask, c.gate_pos_weight, norm.frames
        ),
        "ddc/attn_consistency": attention_consistency_loss(
            fine_alignments,
            ddc.alignments,
            batch.text_lengths,
            batch.mel_lengths,
            batch.r,
            ddc.r,
            norm.frames / batch.r,
        ),
    }


def check_shapes(out: Tacotron2Output, batch: Batch) -> None:
    """Raise ValueError naming the tensors, their shapes and r if outputs do not match the batch
    (or the output was computed with another r than the batch was padded for)."""
    r = check_same_r(out.r, batch.r, "Tacotron2Loss")
    b, n_mels, t = batch.mels.shape
    length = batch.text.size(1)
    expected = {
        "mel": (out.mel, (b, n_mels, t)),
        "mel_postnet": (out.mel_postnet, (b, n_mels, t)),
        "gate_logits": (out.gate_logits, (b, t)),
        "alignments": (out.alignments, (b, decoder_steps(t, r), length)),
    }
    if padded_frames(t, r) != t:
        raise ValueError(f"batch.mels {tuple(batch.mels.shape)}: T={t} is not a multiple of r={r}")
    for name, (tensor, shape) in expected.items():
        if tuple(tensor.shape) != shape:
            raise ValueError(
                f"output.{name} has shape {tuple(tensor.shape)} but batch.mels {tuple(batch.mels.shape)}, "
                f"batch.text {tuple(batch.text.shape)} and r={r} require {shape}"
            )
    if batch.gate_target.shape != (b, t):
        raise ValueError(f"batch.gate_target {tuple(batch.gate_target.shape)} must be {(b, t)} (r={r})")


__all__ = [
    "LossNorm",
    "Tacotron2Loss",
    "check_shapes",
    "ddc_terms",
    "guided_attention_loss",
    "guided_attention_mask",
    "guided_attention_weight",
    "masked_gate_loss",
    "masked_mel_loss",
    "weighted_total",
]
