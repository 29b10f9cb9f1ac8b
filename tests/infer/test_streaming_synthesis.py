"""`Synthesizer.stream`: one text decoded incrementally and vocoded in overlapping chunks, its audio handed
out while decoding runs. Same mel, frames and stop reason as `synthesize([text])` (same seed, prenet dropout
on); with HiFi-GAN (a small random generator) the same samples up to rounding. The checkpoint's gate is
silenced, so the text runs to end of text or max_decoder_steps (40 frames at r=1).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.helpers.checkpoints import write_serving_checkpoint

from tacotron.infer.hifigan import HifiGanConfig, HifiGanGenerator
from tacotron.infer.synthesizer import Synthesizer
from tacotron.infer.vocoders import HifiGanVocoder

TEXT = "A sentence long enough for several chunks."


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Synthesizer:
    return Synthesizer.from_checkpoint(write_serving_checkpoint(tmp_path_factory.mktemp("stream") / "t.pt"))


def with_hifigan(synth: Synthesizer) -> Synthesizer:
    torch.manual_seed(0)
    config = HifiGanConfig(
        upsample_rates=[8, 8, 4], upsample_kernels=[16, 16, 8], upsample_initial_channel=16
    )
    config.resblock_kernels, config.resblock_dilations = [3], [[1, 3]]
    generator = HifiGanGenerator(synth.cfg.audio.n_mels, config).eval()
    vocoder = HifiGanVocoder(generator, synth.cfg.audio, pretrained=False)
    return Synthesizer(synth.model, synth.cfg, synth.frontend, vocoder, synth.device, r=synth.r)


def streamed(synth: Synthesizer, **kw):
    chunks: list[np.ndarray] = []
    result = synth.stream(TEXT, chunks.append, seed=5, chunk_frames=8, **kw)
    return result, chunks


@pytest.mark.parametrize("vocoder", ["griffin-lim", "hifigan"])
def test_stream_gives_the_one_shot_mel_in_several_chunks(synth, vocoder):
    synth = with_hifigan(synth) if vocoder == "hifigan" else synth
    [want] = synth.synthesize([TEXT], seed=5)
    got, chunks = streamed(synth)
    assert (got.frames, got.stop_reason, got.text) == (want.frames, want.stop_reason, want.text)
    np.testing.assert_allclose(got.mel, want.mel, atol=1e-6, rtol=1e-5)
    np.testing.assert_array_equal(got.alignment, want.alignment)
    assert len(chunks) >= 3 and np.array_equal(np.concatenate(chunks), got.wav)
    assert len(got.wav) == len(want.wav) == want.frames * synth.cfg.audio.hop_length
    if vocoder == "hifigan":
        np.testing.assert_allclose(got.wav, want.wav, atol=1e-5, rtol=0)


def test_a_failing_audio_callback_stops_the_decoding(synth):
    steps = []
    hook = synth.model.decoder.gate_projection.register_forward_hook(lambda *_: steps.append(1))

    def leave(_wav):
        raise ConnectionAbortedError("the client left")

    try:
        with pytest.raises(ConnectionAbortedError):
            synth.stream(TEXT, leave, seed=5, chunk_frames=8)
    finally:
        hook.remove()
    [whole] = synth.synthesize([TEXT], seed=5)
    assert len(steps) < whole.frames  # abandoned after the first chunk, not decoded to the end
