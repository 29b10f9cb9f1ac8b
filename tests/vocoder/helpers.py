"""Tiny HiFi-GAN shapes for CPU tests (hop 256, as the tiny datasets' default audio settings)."""

from __future__ import annotations

from tacotron.vocoder.config import VocoderConfig, apply_overrides

TINY = [
    "generator.upsample_rates=[16, 16]",
    "generator.upsample_kernels=[32, 32]",
    "generator.upsample_initial_channel=16",
    "generator.resblock_kernels=[3]",
    "generator.resblock_dilations=[[1, 3]]",
    "discriminator.periods=[2, 3]",
    "discriminator.mpd_channels=[4, 8]",
    "discriminator.msd_scales=2",
    "discriminator.msd_channels=16",
    "segment_size=1024",
    "batch_size=2",
    "tensorboard=false",
    "log_every=1",
    "audio_every=2",
    "checkpoint_every=2",
]


def tiny_vocoder_config(steps: int = 2, *extra: str) -> VocoderConfig:
    return apply_overrides(VocoderConfig(), [*TINY, f"steps={steps}", *extra])
