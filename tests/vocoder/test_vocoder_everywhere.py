"""`--hifigan-weights PATH` (a `tacotron vocoder train` checkpoint) in `serve`, `eval` and the one-file ONNX
export: each vocodes with that generator, and a vocoder trained on other features is refused in one line."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf
import torch
from fastapi.testclient import TestClient
from tests.helpers.checkpoints import write_serving_checkpoint, write_stopping_checkpoint

from tacotron.cli import main


def _at_16k(path):
    """The checkpoint at `path`, rewritten as if trained at 16 kHz (the vocoder fixture is 22.05 kHz)."""
    state = torch.load(path, weights_only=True)
    state["config"]["audio"]["sample_rate"] = 16000
    torch.save(state, path)
    return path


def test_serve_vocodes_every_voice_with_a_trained_vocoder(vocoder_checkpoint, tmp_path):
    from tacotron.serve.app import create_app
    from tacotron.serve.server import load_voices
    from tacotron.serve.settings import ServeSettings

    ckpt = write_stopping_checkpoint(tmp_path / "tiny.pt")
    voices = load_voices([ckpt], vocoder="hifigan", hifigan_weights=str(vocoder_checkpoint))
    assert voices[0].synthesizer.vocoder.weights == str(vocoder_checkpoint)
    with TestClient(create_app(voices, ServeSettings()), base_url="http://127.0.0.1") as client:
        response = client.post("/api/tts", json={"text": "Hello world.", "seed": 1})
    assert response.status_code == 200, response.text
    wav, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    frames = int(response.headers["X-Mel-Frames"])
    assert rate == 22050 and frames >= 1 and len(wav) == frames * 256


def test_serve_refuses_a_mismatched_vocoder_at_startup_in_one_line(vocoder_checkpoint, tmp_path, capsys):
    ckpt = _at_16k(write_stopping_checkpoint(tmp_path / "tiny.pt"))
    code = main(["serve", "--checkpoint", str(ckpt), "--vocoder", "hifigan",
                 "--hifigan-weights", str(vocoder_checkpoint)])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: ") and "sample_rate 22050 (model: 16000)" in err[-1]


def test_eval_vocodes_with_a_trained_vocoder_and_names_it(vocoder_checkpoint, tmp_path):
    ckpt = write_stopping_checkpoint(tmp_path / "tiny.pt")
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("hello there\ngood morning\n", encoding="utf-8")
    out = tmp_path / "eval"
    code = main(["eval", "--checkpoint", str(ckpt), "--file", str(sentences), "--no-asr", "--no-progress",
                 "--vocoder", "hifigan", "--hifigan-weights", str(vocoder_checkpoint), "--out", str(out)])  # fmt: skip
    assert code == 0
    report = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    assert report["vocoder"] == "HifiGanVocoder" and report["vocoder_weights"] == str(vocoder_checkpoint)
    for record, wav_path in zip(report["sentences"], sorted((out / "wavs").glob("*.wav")), strict=True):
        assert len(sf.read(wav_path)[0]) == record["frames"] * 256


def test_eval_refuses_a_mismatched_vocoder_in_one_line(vocoder_checkpoint, tmp_path, capsys):
    ckpt = _at_16k(write_stopping_checkpoint(tmp_path / "tiny.pt"))
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("hello\n", encoding="utf-8")
    code = main(["eval", "--checkpoint", str(ckpt), "--file", str(sentences), "--no-asr",
                 "--vocoder", "hifigan", "--hifigan-weights", str(vocoder_checkpoint)])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: ") and "sample_rate" in err[-1]


def test_onnx_bundle_embeds_a_trained_vocoder_and_matches_the_synthesizer(vocoder_checkpoint, tmp_path):
    """`export --format onnx --vocoder hifigan --hifigan-weights PATH` run torch-free vs
    `Synthesizer(vocoder="hifigan", hifigan_weights=PATH)`."""
    pytest.importorskip("onnxruntime")
    from tests.test_export_bundle import bundle_beside_eager

    from tacotron.infer.hifigan import load_vocoder_checkpoint
    from tacotron.infer.synthesizer import Synthesizer

    ckpt = write_serving_checkpoint(tmp_path / "m.pt", max_decoder_steps=20, r=2, seed=2, gate_bias=-2.0)
    out = tmp_path / "bundle"
    assert main(["export", "--checkpoint", str(ckpt), "--format", "onnx", "--vocoder", "hifigan",
                 "--hifigan-weights", str(vocoder_checkpoint), "--out", str(out)]) == 0  # fmt: skip
    vocoder = json.loads((out / "model.onnx.json").read_text(encoding="utf-8"))["vocoder"]
    generator, _ = load_vocoder_checkpoint(vocoder_checkpoint)
    assert vocoder["weights"] == str(vocoder_checkpoint)
    assert vocoder["generator_config"] == generator.config.to_dict() and vocoder["hop_length"] == 256
    synth = Synthesizer.from_checkpoint(ckpt, vocoder="hifigan", hifigan_weights=str(vocoder_checkpoint))
    got, eager, wavs = bundle_beside_eager(synth, out, tmp_path)
    for i, want in enumerate(wavs):
        assert got[f"wav{i}"].shape == want.shape == (int(eager.lengths[i]) * 256,)
        np.testing.assert_allclose(got[f"wav{i}"], want, atol=1e-4)


def test_onnx_export_refuses_a_mismatched_vocoder_in_one_line(vocoder_checkpoint, tmp_path, capsys):
    ckpt = _at_16k(write_serving_checkpoint(tmp_path / "m.pt"))
    code = main(["export", "--checkpoint", str(ckpt), "--format", "onnx", "--vocoder", "hifigan",
                 "--hifigan-weights", str(vocoder_checkpoint), "--out", str(tmp_path / "b")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "sample_rate 22050 (model: 16000)" in err, err
    assert not (tmp_path / "b").exists()
