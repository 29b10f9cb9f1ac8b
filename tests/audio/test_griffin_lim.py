"""Griffin-Lim on the mel of real espeak-ng speech: right length, and its mel matches the input mel."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import torch

from tacotron.audio import MelSpectrogram, load_wav, mel_basis
from tacotron.audio.griffin_lim import griffin_lim, mel_to_linear
from tacotron.audio.vocoder import GriffinLimVocoder
from tacotron.config import AudioConfig


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """(audio config, basis, mel [1, 80, T]) of a short real espeak-ng sentence."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (make setup installs it)")
    path = tmp_path_factory.mktemp("gl") / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), "Seven green apples."], check=True)
    cfg = AudioConfig()
    basis = mel_basis(cfg)
    wav = load_wav(path, cfg.sample_rate)
    return cfg, basis, MelSpectrogram(cfg, basis)(torch.from_numpy(wav))


def _spectral_convergence(wav: torch.Tensor, target: torch.Tensor, cfg: AudioConfig) -> float:
    window = torch.hann_window(cfg.win_length)
    spec = torch.stft(wav, cfg.n_fft, cfg.hop_length, cfg.win_length, window, return_complex=True).abs()
    t = min(spec.shape[-1], target.shape[-1])
    return float(torch.linalg.norm(spec[..., :t] - target[..., :t]) / torch.linalg.norm(target[..., :t]))


def test_griffin_lim_vocoder_reproduces_the_mel(speech):
    cfg, basis, mel = speech
    frames = mel.shape[2]
    (wav,) = GriffinLimVocoder(cfg, basis)(mel, [frames])
    assert wav.dtype == np.float32 and wav.shape == (frames * cfg.hop_length,)
    again = MelSpectrogram(cfg, basis)(torch.from_numpy(wav))[0]
    error = float((again - mel[0]).abs().mean())
    corr = float(np.corrcoef(again.numpy().ravel(), mel[0].numpy().ravel())[0, 1])
    assert error < 0.35, error
    assert corr > 0.95, corr


def test_batched_items_keep_their_own_length_and_silent_padding(speech):
    cfg, basis, mel = speech
    frames = mel.shape[2]
    half = frames // 2
    batch = torch.cat([mel, mel], dim=0)
    batch[1, :, half:] = 5.0  # garbage past the second item's length must not leak into it
    wavs = GriffinLimVocoder(cfg, basis)(batch, torch.tensor([frames, half]))
    assert [len(w) for w in wavs] == [frames * cfg.hop_length, half * cfg.hop_length]
    assert np.abs(wavs[1]).max() < 2 * np.abs(wavs[0]).max()


def test_momentum_converges_faster_than_plain_griffin_lim(speech):
    cfg, basis, mel = speech
    linear = mel_to_linear(mel, torch.linalg.pinv(torch.from_numpy(basis)), log_clamp=cfg.log_clamp)
    args = dict(n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length, n_iter=16, seed=0)
    fast = _spectral_convergence(griffin_lim(linear, momentum=0.99, **args), linear, cfg)
    plain = _spectral_convergence(griffin_lim(linear, momentum=0.0, **args), linear, cfg)
    assert fast < plain


def test_mel_floor_maps_to_silence_and_power_sharpens(speech):
    cfg, basis, _ = speech
    pinv = torch.linalg.pinv(torch.from_numpy(basis))
    floor = torch.full((1, cfg.n_mels, 4), float(np.log(cfg.log_clamp)))
    assert float(mel_to_linear(floor, pinv, log_clamp=cfg.log_clamp).abs().max()) < 1e-8
    loud = torch.zeros(1, cfg.n_mels, 2)  # mel magnitude 1 everywhere
    plain = mel_to_linear(loud, pinv, log_clamp=cfg.log_clamp)
    sharp = mel_to_linear(loud, pinv, log_clamp=cfg.log_clamp, power=1.5)
    assert torch.all(plain >= 0) and torch.allclose(sharp, plain**1.5)


def test_bad_input_is_rejected_with_shapes(speech):
    cfg, basis, mel = speech
    with pytest.raises(ValueError, match="513"):
        griffin_lim(torch.ones(1, 100, 10), n_fft=1024, hop_length=256, win_length=1024)
    with pytest.raises(ValueError, match="momentum"):
        griffin_lim(torch.ones(1, 513, 10), n_fft=1024, hop_length=256, win_length=1024, momentum=1.0)
    with pytest.raises(ValueError, match=r"\[B, 80, T\]"):
        GriffinLimVocoder(cfg, basis)(mel[0], [mel.shape[2]])
    with pytest.raises(ValueError, match="lengths"):
        GriffinLimVocoder(cfg, basis)(mel, [mel.shape[2] + 1])
