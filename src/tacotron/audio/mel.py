"""Log-mel features, identical to HiFi-GAN's `mel_spectrogram` so its vocoders fit our mels.

Why torch and not librosa for the features: the same module runs in `prepare` (CPU) and on the
GPU machine (which has no librosa), batched. librosa is only used to build the filterbank, which
`prepare` stores as `mel_basis.npy` in the dataset folder and which can be passed in as `basis`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from tacotron.config import AudioConfig


def mel_basis(cfg: AudioConfig) -> np.ndarray:
    """Slaney-style mel filterbank [n_mels, n_fft // 2 + 1] float32 (librosa, htk=False, norm="slaney")."""
    import librosa

    basis = librosa.filters.mel(
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.fmax,
        htk=False,
        norm="slaney",
    )
    return basis.astype(np.float32)


class MelSpectrogram(nn.Module):
    """wav [B, N] or [N] (float, [-1, 1]) -> natural-log mel magnitudes [B, n_mels, N // hop].

    Framing as HiFi-GAN: reflect-pad (n_fft - hop) / 2 on each side, then an uncentred STFT, so
    frame t covers samples around t * hop and the frame count is N // hop_length.
    The window and filterbank are non-persistent buffers: they follow `.to(device)` but are not
    stored in checkpoints (they are rebuilt from the AudioConfig saved there).
    """

    def __init__(self, cfg: AudioConfig, basis: np.ndarray | None = None) -> None:
        super().__init__()
        if basis is None:
            basis = mel_basis(cfg)
        expected = (cfg.n_mels, cfg.n_fft // 2 + 1)
        if tuple(basis.shape) != expected:
            raise ValueError(
                f"mel basis has shape {tuple(basis.shape)}, expected {expected} from AudioConfig"
            )
        self.n_fft = cfg.n_fft
        self.hop_length = cfg.hop_length
        self.win_length = cfg.win_length
        self.log_clamp = cfg.log_clamp
        self.register_buffer("window", torch.hann_window(cfg.win_length), persistent=False)
        self.register_buffer("basis", torch.as_tensor(np.asarray(basis, dtype=np.float32)), persistent=False)

    @property
    def padding(self) -> int:
        return (self.n_fft - self.hop_length) // 2

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        if wav.dim() == 1:
            wav = wav.unsqueeze(0)
        if wav.dim() != 2:
            raise ValueError(f"MelSpectrogram expects wav [B, N] or [N], got shape {tuple(wav.shape)}")
        if wav.size(1) <= self.padding:
            raise ValueError(
                f"wav of {wav.size(1)} samples is too short for n_fft={self.n_fft}, hop={self.hop_length} "
                f"(needs more than {self.padding})"
            )
        x = torch.nn.functional.pad(wav.float().unsqueeze(1), (self.padding, self.padding), mode="reflect")
        spec = torch.stft(
            x.squeeze(1),
            self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            window=self.window,
            center=False,
            normalized=False,
            onesided=True,
            return_complex=True,
        )  # (B, F, T)
        magnitude = torch.sqrt(spec.real.pow(2) + spec.imag.pow(2) + 1e-9)
        mel = torch.matmul(self.basis, magnitude)  # (B, n_mels, T)
        return torch.log(torch.clamp(mel, min=self.log_clamp))


def mel_spectrogram(
    wav: np.ndarray | torch.Tensor, cfg: AudioConfig, basis: np.ndarray | None = None
) -> torch.Tensor:
    """Functional form of `MelSpectrogram`: [N] -> [n_mels, T], [B, N] -> [B, n_mels, T] (CPU float32).

    Builds the filterbank on every call; for many utterances keep one `MelSpectrogram` instead.
    """
    x = torch.as_tensor(np.asarray(wav, dtype=np.float32)) if isinstance(wav, np.ndarray) else wav
    mel = MelSpectrogram(cfg, basis).to(x.device)(x)
    return mel[0] if x.dim() == 1 else mel
