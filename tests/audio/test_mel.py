"""Log-mel features: agreement with librosa's reference, batching, shapes, device buffers, errors."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from tacotron.audio import MelSpectrogram, mel_basis, mel_spectrogram
from tacotron.config import AudioConfig


def _test_signal(n: int = 22050, seed: int = 0) -> np.ndarray:
    """A chirp plus harmonics plus a little noise: energy spread over many mel bands."""
    t = np.arange(n) / 22050
    rng = np.random.default_rng(seed)
    wav = 0.3 * np.sin(2 * np.pi * (200 + 1500 * t) * t) + 0.1 * np.sin(2 * np.pi * 3000 * t)
    return (wav + 0.01 * rng.standard_normal(n)).astype(np.float32)


def _librosa_reference(wav: np.ndarray, cfg: AudioConfig) -> np.ndarray:
    pad = (cfg.n_fft - cfg.hop_length) // 2
    padded = np.pad(wav, (pad, pad), mode="reflect")
    mel = librosa.feature.melspectrogram(
        y=padded, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, win_length=cfg.win_length,
        window="hann", center=False, power=1.0, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax,
        htk=False, norm="slaney",
    )  # fmt: skip
    return np.log(np.maximum(mel, cfg.log_clamp))


def test_matches_librosa_reference():
    cfg = AudioConfig()
    wav = _test_signal()
    ours = mel_spectrogram(wav, cfg).numpy()
    ref = _librosa_reference(wav, cfg)
    assert ours.shape == ref.shape == (80, len(wav) // cfg.hop_length)
    np.testing.assert_allclose(ours, ref, atol=2e-3, rtol=0)


def test_differs_from_a_wrong_reference():
    """Guard against a test that cannot fail: a shifted signal must not match."""
    cfg = AudioConfig()
    wav = _test_signal()
    assert np.abs(mel_spectrogram(wav, cfg).numpy() - _librosa_reference(np.roll(wav, 300), cfg)).max() > 0.1


def test_batch_equals_single_items():
    cfg = AudioConfig(n_mels=40)
    module = MelSpectrogram(cfg)
    wavs = torch.from_numpy(np.stack([_test_signal(8000, seed=s) for s in range(3)]))
    batched = module(wavs)
    assert batched.shape == (3, 40, 8000 // 256)
    for i in range(3):
        torch.testing.assert_close(batched[i], module(wavs[i])[0], atol=1e-5, rtol=0)
    assert not torch.allclose(batched[0], batched[1])


def test_basis_shape_buffers_and_clamp():
    cfg = AudioConfig()
    basis = mel_basis(cfg)
    assert basis.shape == (80, 513) and basis.dtype == np.float32
    module = MelSpectrogram(cfg, basis=basis)
    assert {name for name, _ in module.named_buffers()} == {"window", "basis"}
    assert module.state_dict() == {}  # rebuilt from config, never stored in checkpoints
    silent = module(torch.zeros(4096))
    assert torch.allclose(silent, torch.full_like(silent, float(np.log(cfg.log_clamp))))


def test_bad_inputs_raise():
    cfg = AudioConfig()
    with pytest.raises(ValueError, match="mel basis has shape"):
        MelSpectrogram(cfg, basis=np.zeros((40, 513), dtype=np.float32))
    module = MelSpectrogram(cfg)
    with pytest.raises(ValueError, match="too short"):
        module(torch.zeros(100))
    with pytest.raises(ValueError, match=r"\[B, N\]"):
        module(torch.zeros(1, 1, 4096))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    cfg = AudioConfig()
    module = MelSpectrogram(cfg)
    wav = torch.from_numpy(_test_signal())
    cpu = module(wav)
    gpu = module.to("cuda")(wav.cuda()).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-3, rtol=0)
