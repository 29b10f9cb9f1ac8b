"""Double decoder consistency (Coqui TTS "DDC"): a coarse decoder with a larger reduction factor.

Why: a decoder that emits many frames per step has few steps and aligns easily; an L1 loss between
its alignment and the fine decoder's pulls the fine one towards a clean diagonal early in training.
The coarse decoder is a second `Decoder` over the *same* encoder memory. Nothing here is detached
(a second decoder fed only detached inputs would never train): the coarse mel/gate losses and the
consistency loss reach both decoders and the encoder.

The coarse decoder is used only for the loss (training and validation); `infer` uses the fine one.
Its targets are the batch's mels zero-padded from a multiple of r to a multiple of ddc_r; every
coarse term is masked to each item's real frames / decoder steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tacotron.data.batch import lengths_to_mask
from tacotron.frames import decoder_steps, padded_frames, step_of_frame
from tacotron.model.decoder import Decoder


@dataclass
class DDCOutput:
    """Coarse decoder outputs: mel [B, n_mels, T_c]; gate_logits [B, T_c]; alignments [B, T_c // r, L].

    T_c is the batch's T rounded up to a multiple of `r` (the coarse reduction factor, model.ddc_r).
    """

    mel: torch.Tensor
    gate_logits: torch.Tensor
    alignments: torch.Tensor
    r: int

    def detach(self) -> DDCOutput:
        return DDCOutput(self.mel.detach(), self.gate_logits.detach(), self.alignments.detach(), self.r)


def pad_frames_to_multiple(x: torch.Tensor, r: int) -> torch.Tensor:
    """Zero-pad the last (time) dimension up to a multiple of r."""
    extra = padded_frames(x.size(-1), r) - x.size(-1)
    return F.pad(x, (0, extra)) if extra else x


def coarse_pass(
    decoder: Decoder,
    memory: torch.Tensor,
    text_mask: torch.Tensor,
    mels: torch.Tensor,
    r: int,
    *,
    prenet_dropout: bool,
) -> DDCOutput:
    """Teacher-forced coarse decoding over `memory` [B, L, E]; mels [B, n_mels, T] padded to a multiple of r."""
    mel, gate, alignments = decoder(
        memory, text_mask, pad_frames_to_multiple(mels, r), r, prenet_dropout=prenet_dropout
    )
    return DDCOutput(mel, gate, alignments, r)


def coarse_gate_target(mel_lengths: torch.Tensor, n_frames: int) -> torch.Tensor:
    """[B, n_frames]: 1 from each item's last real frame on (as `TextMelCollate` builds it)."""
    positions = torch.arange(n_frames, device=mel_lengths.device).unsqueeze(0)
    return (positions >= (mel_lengths - 1).unsqueeze(1)).float()


def upsample_alignments(coarse: torch.Tensor, n_fine_steps: int, fine_r: int, coarse_r: int) -> torch.Tensor:
    """coarse [B, S_c, L] -> [B, n_fine_steps, L]: fine step s gets the coarse step holding its first frame.

    For ddc_r a multiple of r this is `repeat_interleave(ddc_r // r)` cropped to the fine steps; the index
    form also covers other ratios (an r schedule can change r during training).
    """
    # Python ints: no host sync
    if n_fine_steps and step_of_frame((n_fine_steps - 1) * fine_r, coarse_r) >= coarse.size(1):
        raise ValueError(
            f"coarse alignments {tuple(coarse.shape)} (r={coarse_r}) do not cover {n_fine_steps} fine steps "
            f"at r={fine_r}"
        )
    index = step_of_frame(torch.arange(n_fine_steps, device=coarse.device) * fine_r, coarse_r)
    return coarse.index_select(1, index)


def attention_consistency_loss(
    fine: torch.Tensor,
    coarse: torch.Tensor,
    text_lengths: torch.Tensor,
    mel_lengths: torch.Tensor,
    fine_r: int,
    coarse_r: int,
    denominator: float,
) -> torch.Tensor:
    """Sum of |fine - upsampled coarse| over each item's real (fine step, symbol) cells / denominator.

    fine [B, S, L] at fine_r; coarse [B, S_c, L] at coarse_r. With the denominator = real frames / r
    (about the number of real decoder steps) the value is the mean L1 distance between the two
    alignment distributions per step, in [0, 2].
    """
    up = upsample_alignments(coarse, fine.size(1), fine_r, coarse_r)
    steps = decoder_steps(mel_lengths, fine_r)
    region = lengths_to_mask(steps, fine.size(1)).unsqueeze(2) & lengths_to_mask(
        text_lengths, fine.size(2)
    ).unsqueeze(1)  # (B, S, L)
    diff = torch.where(region, fine.float() - up.float(), 0.0)
    return diff.abs().sum() / denominator
