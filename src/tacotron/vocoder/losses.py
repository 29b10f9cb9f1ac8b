"""HiFi-GAN's objective (Kong et al. 2020, eqs. 1-6): least-squares GAN losses, feature matching, mel L1.

Weights (`feature_weight` x2, `mel_weight` x45) are applied by the trainer, so each function is the
plain term of the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def discriminator_loss(real: list[torch.Tensor], fake: list[torch.Tensor]) -> torch.Tensor:
    """sum over sub-discriminators of E[(D(x) - 1)^2] + E[D(G(s))^2]: real pushed to 1, generated to 0."""
    return torch.stack(
        [torch.mean((1 - r) ** 2) + torch.mean(g**2) for r, g in zip(real, fake, strict=True)]
    ).sum()


def adversarial_loss(fake: list[torch.Tensor]) -> torch.Tensor:
    """sum over sub-discriminators of E[(D(G(s)) - 1)^2]: the generator wants its audio scored real."""
    return torch.stack([torch.mean((1 - g) ** 2) for g in fake]).sum()


def feature_matching_loss(real: list[list[torch.Tensor]], fake: list[list[torch.Tensor]]) -> torch.Tensor:
    """sum over sub-discriminators and layers of the L1 distance between real and generated features."""
    terms = [
        torch.mean(torch.abs(r.detach() - g))
        for maps_r, maps_g in zip(real, fake, strict=True)
        for r, g in zip(maps_r, maps_g, strict=True)
    ]
    return torch.stack(terms).sum()


def mel_loss(real_mel: torch.Tensor, fake_mel: torch.Tensor) -> torch.Tensor:
    """L1 between the log-mels of real and generated audio (the reconstruction term)."""
    return F.l1_loss(fake_mel, real_mel)
