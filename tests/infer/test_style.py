"""Style at inference: `tacotron synth --style-wav / --style-token` on tiny GST checkpoints."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from tests.helpers.checkpoints import write_tiny_checkpoint
from tests.helpers.speech import espeak

from tacotron.cli import main
from tacotron.config import Config
from tacotron.infer.style import StyleError, resolve_style, style_mel_from_wav
from tacotron.infer.synthesizer import Synthesizer

GST = {
    "gst": True,
    "gst_n_tokens": 6,
    "gst_heads": 2,
    "gst_token_dim": 16,
    "gst_ref_channels": [4, 8],
    "gst_ref_gru_dim": 12,
    "prenet_dropout_at_inference": False,
    "stop_at_end_of_text": False,
}


@pytest.fixture(scope="module")
def gst_checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("gst") / "gst.pt", max_decoder_steps=8, **GST)


@pytest.fixture(scope="module")
def reference_wav(tmp_path_factory):
    return espeak("A calm reference sentence.", tmp_path_factory.mktemp("ref") / "ref.wav")


def synth_cli(checkpoint, out, *style: str) -> int:
    return main(
        [
            "synth",
            "--checkpoint",
            str(checkpoint),
            "--text",
            "Hello there.",
            "--out",
            str(out),
            "--allow-truncated",
            *style,
        ]
    )


def test_style_token_and_style_wav_through_the_cli(tmp_path, gst_checkpoint, reference_wav):
    mels = {}
    for name, style in {
        "a": ["--style-token", "3:1.0"],
        "b": ["--style-token", "1:0.5,5:0.5"],
        "wav": ["--style-wav", str(reference_wav)],
    }.items():
        assert synth_cli(gst_checkpoint, tmp_path / name, *style) == 0
        record = json.loads((tmp_path / name / "synth.jsonl").read_text(encoding="utf-8").splitlines()[0])
        mels[name] = np.load(tmp_path / name / f"{record['name']}.mel.npy")
    n = min(m.shape[1] for m in mels.values())
    assert np.abs(mels["a"][:, :n] - mels["b"][:, :n]).max() > 1e-4
    assert np.abs(mels["a"][:, :n] - mels["wav"][:, :n]).max() > 1e-4


def test_style_wav_equals_the_weights_its_reference_produces(gst_checkpoint, reference_wav):
    synth = Synthesizer.from_checkpoint(gst_checkpoint)
    style = resolve_style(synth.model, synth.cfg, style_wav=reference_wav)
    assert style["style_mel"].shape[0] == 80
    lengths = torch.tensor([style["style_mel"].size(1)])
    weights = synth.model.gst.weights_from_reference(style["style_mel"].unsqueeze(0), lengths)
    by_wav = synth.synthesize(["Hello there."], deterministic=True, **style)[0]
    by_weights = synth.synthesize(["Hello there."], deterministic=True, style_weights=weights)[0]
    np.testing.assert_allclose(by_wav.mel, by_weights.mel, rtol=1e-5, atol=1e-5)


def test_style_errors_are_one_line_with_exit_code_2(
    tmp_path, gst_checkpoint, tiny_checkpoint, reference_wav, capsys
):
    assert synth_cli(gst_checkpoint, tmp_path / "o", "--style-token", "6:1.0") == 2
    assert "out of range: the model has tokens 0..5" in capsys.readouterr().err
    assert synth_cli(gst_checkpoint, tmp_path / "o", "--style-token", "3=1") == 2
    assert "TOKEN_ID:WEIGHT" in capsys.readouterr().err
    assert synth_cli(tiny_checkpoint, tmp_path / "o", "--style-token", "3:1") == 2
    assert "without Global Style Tokens" in capsys.readouterr().err
    assert synth_cli(tiny_checkpoint, tmp_path / "o", "--style-wav", str(reference_wav)) == 2
    assert "without Global Style Tokens" in capsys.readouterr().err
    assert synth_cli(gst_checkpoint, tmp_path / "o", "--style-wav", str(tmp_path / "missing.wav")) == 2
    assert "missing.wav" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_resolve_style_rejects_both_and_defaults_to_none(gst_checkpoint, reference_wav):
    synth = Synthesizer.from_checkpoint(gst_checkpoint)
    assert resolve_style(synth.model, synth.cfg) == {}
    with pytest.raises(StyleError, match="not both"):
        resolve_style(synth.model, synth.cfg, style_wav=reference_wav, style_token="1:1")


def test_style_mel_from_wav_matches_training_features(reference_wav):
    cfg = Config()
    mel = style_mel_from_wav(reference_wav, cfg)
    assert mel.dtype == torch.float32 and mel.shape[0] == cfg.audio.n_mels
    assert mel.min() >= np.log(cfg.audio.log_clamp) - 1e-4
