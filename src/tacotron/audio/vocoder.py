"""Griffin-Lim as a vocoder: padded log-mel batch in, one waveform per item out.

It takes mels exactly as the model predicts them (natural-log mel magnitudes clamped at
`audio.log_clamp`, [B, n_mels, T]) and per-item frame counts, and returns float32 numpy waveforms of
`frames * hop_length` samples each. It lives with the audio features (not in `infer/`) because
training validation renders its samples with it; `tacotron.infer.vocoders` adds the neural vocoders.
"""

from __future__ import annotations

import numpy as np
import torch

from tacotron.audio.griffin_lim import griffin_lim, mel_to_linear
from tacotron.config import AudioConfig


def check_vocoder_batch(mel: torch.Tensor, lengths: torch.Tensor | list[int], n_mels: int) -> list[int]:
    if mel.dim() != 3 or mel.shape[1] != n_mels:
        raise ValueError(f"mel must be [B, {n_mels}, T], got shape {tuple(mel.shape)}")
    frames = [int(n) for n in (lengths.tolist() if isinstance(lengths, torch.Tensor) else lengths)]
    if len(frames) != mel.shape[0]:
        raise ValueError(f"got {len(frames)} lengths for a batch of {mel.shape[0]} mels")
    bad = [n for n in frames if not 0 < n <= mel.shape[2]]
    if bad:
        raise ValueError(f"lengths must be in [1, {mel.shape[2]}] frames, got {bad}")
    return frames


def pad_tail_with_silence(mel: torch.Tensor, frames: list[int], floor: float) -> torch.Tensor:
    """Set frames past each item's length to the silence floor, whatever the model left there."""
    steps = torch.arange(mel.shape[2], device=mel.device)
    beyond = steps[None, :] >= torch.tensor(frames, device=mel.device)[:, None]  # (B, T)
    return mel.masked_fill(beyond[:, None, :], float(np.log(floor)))


class GriffinLimVocoder:
    """Pseudo-inverse mel -> linear magnitude, then fast Griffin-Lim; batched on the mel's device."""

    def __init__(
        self,
        audio_cfg: AudioConfig,
        basis: np.ndarray | None = None,
        *,
        n_iter: int = 32,
        momentum: float = 0.99,
        power: float = 1.0,
        seed: int = 0,
    ):
        if basis is None:
            from tacotron.audio import mel_basis

            basis = mel_basis(audio_cfg)
        basis_t = torch.as_tensor(np.asarray(basis), dtype=torch.float32)
        expected = (audio_cfg.n_mels, audio_cfg.n_fft // 2 + 1)
        if tuple(basis_t.shape) != expected:
            raise ValueError(f"mel basis has shape {tuple(basis_t.shape)}, audio config needs {expected}")
        self.cfg = audio_cfg
        self.sample_rate = audio_cfg.sample_rate
        self.basis_pinv = torch.linalg.pinv(basis_t)  # (F, n_mels)
        self.n_iter, self.momentum, self.power, self.seed = n_iter, momentum, power, seed
        # streamed vocoding (`tacotron.infer.chunks`): each chunk's phases are estimated on their own, so
        # chunks get two STFT windows of context on each side and are crossfaded over one window
        window_frames = -(-audio_cfg.win_length // audio_cfg.hop_length)
        self.context_frames = 2 * window_frames
        self.crossfade_frames = window_frames

    @torch.no_grad()
    def __call__(self, mel: torch.Tensor, lengths: torch.Tensor | list[int]) -> list[np.ndarray]:
        frames = check_vocoder_batch(mel, lengths, self.cfg.n_mels)
        mel = pad_tail_with_silence(mel.float(), frames, self.cfg.log_clamp)
        linear = mel_to_linear(
            mel, self.basis_pinv.to(mel.device), log_clamp=self.cfg.log_clamp, power=self.power
        )
        # one silent frame more: its centred STFT then spans exactly T * hop samples (and T = 1 works)
        linear = torch.nn.functional.pad(linear, (0, 1))
        hop = self.cfg.hop_length
        wavs = griffin_lim(
            linear,
            n_fft=self.cfg.n_fft,
            hop_length=hop,
            win_length=self.cfg.win_length,
            n_iter=self.n_iter,
            momentum=self.momentum,
            length=mel.shape[2] * hop,
            seed=self.seed,
        )
        return [wavs[i, : n * hop].cpu().numpy().astype(np.float32) for i, n in enumerate(frames)]
