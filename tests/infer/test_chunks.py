"""Streamed vocoding (`ChunkVocoder`): a mel pushed in uneven blocks and vocoded as overlapping chunks.

HiFi-GAN (a random small generator: a deterministic conv net) must give the whole-utterance samples up to
convolution rounding when the context covers its receptive field, and visibly not with too little context
(so the test can fail). Griffin-Lim estimates phases per chunk, so only magnitudes are compared: the
streamed audio's spectrogram must be about as close to the target (the mel's linear magnitude) as the
whole-utterance Griffin-Lim's. A small audio config (8 kHz, hop 64) keeps both fast.
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch
from tests.helpers.speech import espeak

from tacotron.audio import load_wav, mel_basis, mel_spectrogram
from tacotron.audio.griffin_lim import mel_to_linear
from tacotron.audio.vocoder import GriffinLimVocoder
from tacotron.config import AudioConfig
from tacotron.infer.chunks import ChunkVocoder
from tacotron.infer.hifigan import HifiGanConfig, HifiGanGenerator
from tacotron.infer.vocoders import HifiGanVocoder

AUDIO = AudioConfig(sample_rate=8000, n_fft=256, hop_length=64, win_length=256, n_mels=20, fmax=4000.0)
BLOCKS = (7, 9, 13, 5, 30, 8)  # uneven mel blocks, as decoding hands them out
PADDING = 2  # silent frames after the utterance (the batched path's padding to a whole decoder step)


@pytest.fixture(scope="module")
def speech_mel(tmp_path_factory) -> torch.Tensor:
    wav = load_wav(espeak("The cat sat on the warm mat.", tmp_path_factory.mktemp("chunks") / "a.wav"), 8000)
    return mel_spectrogram(wav, AUDIO)


def hifigan() -> HifiGanVocoder:
    torch.manual_seed(0)
    config = HifiGanConfig(
        upsample_rates=[4, 4, 4],
        upsample_kernels=[8, 8, 8],
        upsample_initial_channel=16,
        resblock_kernels=[3, 7],
        resblock_dilations=[[1, 3, 5], [1, 3, 5]],
    )
    return HifiGanVocoder(HifiGanGenerator(AUDIO.n_mels, config).eval(), AUDIO, pretrained=False)


def streamed(vocoder, mel: torch.Tensor, chunk_frames: int = 16) -> tuple[np.ndarray, int]:
    """The waveform of `mel` pushed in BLOCKS, and how many pieces of audio came out."""
    chunker, pieces, start, i = ChunkVocoder(vocoder, chunk_frames), [], 0, 0
    while start < mel.size(1):
        n = BLOCKS[i % len(BLOCKS)]
        pieces += chunker.push(mel[:, start : start + n])
        start, i = start + n, i + 1
    pieces.append(chunker.finish(padding=PADDING))
    return np.concatenate(pieces), len(pieces)


def whole(vocoder, mel: torch.Tensor) -> np.ndarray:
    padded = torch.nn.functional.pad(mel, (0, PADDING))
    return vocoder(padded.unsqueeze(0), [mel.size(1)])[0]


def test_hifigan_chunks_equal_the_whole_utterance(speech_mel):
    vocoder = hifigan()
    want = whole(vocoder, speech_mel)
    got, pieces = streamed(vocoder, speech_mel)
    assert pieces >= 4 and len(got) == len(want) == speech_mel.size(1) * AUDIO.hop_length
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    vocoder.context_frames = 1  # less than the receptive field: seams at the chunk edges
    cut, _ = streamed(vocoder, speech_mel)
    assert np.abs(cut - want).max() > 1e-3


def spectral_error(wav: np.ndarray, target: np.ndarray) -> float:
    """Spectral convergence ||S(wav)| - target| / |target| (Frobenius), frames aligned."""
    got = np.abs(
        librosa.stft(wav, n_fft=AUDIO.n_fft, hop_length=AUDIO.hop_length, win_length=AUDIO.win_length)
    )
    n = min(got.shape[1], target.shape[1])
    return float(np.linalg.norm(got[:, :n] - target[:, :n]) / np.linalg.norm(target[:, :n]))


def test_griffin_lim_chunks_keep_the_spectrum_of_the_whole_utterance(speech_mel):
    vocoder = GriffinLimVocoder(AUDIO)
    pinv = torch.linalg.pinv(torch.as_tensor(mel_basis(AUDIO)))
    target = mel_to_linear(speech_mel.unsqueeze(0), pinv, log_clamp=AUDIO.log_clamp)[0].numpy()
    got, pieces = streamed(vocoder, speech_mel)
    want = whole(vocoder, speech_mel)
    assert pieces >= 4 and len(got) == len(want)
    streamed_error, whole_error = spectral_error(got, target), spectral_error(want, target)
    print(f"spectral convergence: streamed {streamed_error:.3f}, whole {whole_error:.3f}")
    assert streamed_error < whole_error + 0.05
    between = spectral_error(got, np.abs(librosa.stft(want, n_fft=256, hop_length=64)))
    assert between < 0.25, between
