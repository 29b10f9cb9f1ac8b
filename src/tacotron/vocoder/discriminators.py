"""HiFi-GAN's discriminators (Kong et al. 2020, section 2.2), our own code after the paper's layout.

MPD: one 2-D convolutional stack per period p, looking at the waveform folded into [T / p, p], so each
sees periodic structure at its own spacing. MSD: three 1-D stacks on the raw, x2- and x4-average-pooled
waveform (spectral norm on the raw scale's stack, weight norm elsewhere, as in the paper).
Both return, for a real and a generated batch, per sub-discriminator scores and feature maps (the
feature-matching loss compares the latter).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm, weight_norm

from tacotron.vocoder.config import DiscriminatorConfig

LRELU_SLOPE = 0.1
Scores = list[torch.Tensor]
Features = list[list[torch.Tensor]]


class PeriodDiscriminator(nn.Module):
    """wav [B, 1, N] -> score [B, *] and feature maps, after folding to [B, 1, N / period, period]."""

    def __init__(self, period: int, channels: list[int], kernel_size: int = 5, stride: int = 3):
        super().__init__()
        self.period = period
        dims = [1, *channels]
        pad = ((kernel_size - 1) // 2, 0)
        strides = [stride] * (len(channels) - 1) + [1]  # the last layer keeps the resolution
        self.convs = nn.ModuleList(
            weight_norm(nn.Conv2d(c_in, c_out, (kernel_size, 1), (s, 1), padding=pad))
            for c_in, c_out, s in zip(dims[:-1], dims[1:], strides, strict=True)
        )
        self.conv_post = weight_norm(nn.Conv2d(channels[-1], 1, (3, 1), 1, padding=(1, 0)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        b, c, n = x.shape
        if n % self.period:
            x = F.pad(x, (0, self.period - n % self.period), "reflect")
        x = x.view(b, c, -1, self.period)
        return score_and_features(self.convs, self.conv_post, x)


def score_and_features(
    convs: nn.ModuleList, conv_post: nn.Module, x: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The body both discriminator kinds share: leaky-ReLU convs, then the score conv; every layer's
    output is kept for feature matching."""
    features = []
    for conv in convs:
        x = F.leaky_relu(conv(x), LRELU_SLOPE)
        features.append(x)
    x = conv_post(x)
    features.append(x)
    return torch.flatten(x, 1, -1), features


class ScaleDiscriminator(nn.Module):
    """wav [B, 1, N] -> score and feature maps: strided, grouped 1-D convolutions (widths from `base`)."""

    def __init__(self, base: int, spectral: bool = False):
        super().__init__()
        norm = spectral_norm if spectral else weight_norm
        # (in, out, kernel, stride, groups) of the paper's MSD with base = 128
        layers = [
            (1, base, 15, 1, 1),
            (base, base, 41, 2, 4),
            (base, 2 * base, 41, 2, 16),
            (2 * base, 4 * base, 41, 4, 16),
            (4 * base, 8 * base, 41, 4, 16),
            (8 * base, 8 * base, 41, 1, 16),
            (8 * base, 8 * base, 5, 1, 1),
        ]
        self.convs = nn.ModuleList(
            norm(nn.Conv1d(c_in, c_out, k, s, groups=g, padding=(k - 1) // 2))
            for c_in, c_out, k, s, g in layers
        )
        self.conv_post = norm(nn.Conv1d(8 * base, 1, 3, 1, padding=1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return score_and_features(self.convs, self.conv_post, x)


class MultiPeriodDiscriminator(nn.Module):
    def __init__(self, cfg: DiscriminatorConfig):
        super().__init__()
        self.discriminators = nn.ModuleList(PeriodDiscriminator(p, cfg.mpd_channels) for p in cfg.periods)

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[Scores, Scores, Features, Features]:
        """(real scores, fake scores, real features, fake features), one entry per period."""
        return _run_all(self.discriminators, real, fake, pool=None)


class MultiScaleDiscriminator(nn.Module):
    def __init__(self, cfg: DiscriminatorConfig):
        super().__init__()
        self.discriminators = nn.ModuleList(
            ScaleDiscriminator(cfg.msd_channels, spectral=i == 0) for i in range(cfg.msd_scales)
        )
        self.pool = nn.AvgPool1d(4, 2, padding=2)

    def forward(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[Scores, Scores, Features, Features]:
        """(real scores, fake scores, real features, fake features), one entry per scale."""
        return _run_all(self.discriminators, real, fake, pool=self.pool)


def _run_all(
    discriminators: nn.ModuleList, real: torch.Tensor, fake: torch.Tensor, pool: nn.Module | None
) -> tuple[Scores, Scores, Features, Features]:
    """Each discriminator on real and generated audio; with `pool`, each after the first sees both
    pooled once more than the previous one (the MSD's scales)."""
    out: tuple[Scores, Scores, Features, Features] = ([], [], [], [])
    for i, disc in enumerate(discriminators):
        if pool is not None and i > 0:
            real, fake = pool(real), pool(fake)
        score_r, feat_r = disc(real)
        score_g, feat_g = disc(fake)
        out[0].append(score_r)
        out[1].append(score_g)
        out[2].append(feat_r)
        out[3].append(feat_g)
    return out
