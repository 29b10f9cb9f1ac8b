"""Export of a multi-speaker model (model.n_speakers > 0): TorchScript and ONNX take a `speaker` input
(ids [B] int64, names in metadata "speakers") and give eager inference's mels for each speaker, run
without this package (and, for ONNX, without torch). The runner also maps `--speaker NAME`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from tests.helpers.checkpoints import write_stopping_checkpoint
from tests.test_export import BLOCK, _batch, _run_isolated

from tacotron.cli import main as cli_main

SPEAKERS = ["alice", "bob"]
TS_SCRIPT = """
import numpy as np, torch
model = torch.jit.load(sys.argv[1])
text, lengths, spk = (torch.from_numpy(np.load(p)) for p in sys.argv[2:5])
mel, out_lengths, align, reasons = model(text, lengths, spk)
np.savez(sys.argv[5], mel=mel.numpy(), lengths=out_lengths.numpy(), reasons=reasons.numpy())
"""
ONNX_SCRIPT = """
import numpy as np
sys.path.insert(0, sys.argv[1])
from runner import OnnxTacotron
model = OnnxTacotron(sys.argv[1])
text, lengths, spk = (np.load(p) for p in sys.argv[2:5])
mel, out_lengths, align, reasons = model.infer(text, lengths, speaker=spk)
named, _, _, _ = model.infer(text, lengths, speaker=["alice", "bob"] * (len(lengths) // 2) + ["alice"] * (len(lengths) % 2))
np.savez(sys.argv[5], mel=mel, lengths=out_lengths, reasons=reasons, named=named)
"""


@pytest.fixture(scope="module")
def speakers_case(tmp_path_factory):
    """(folder, eager output) of a two-speaker tiny model decoding to max steps, speakers 0,1,0,1."""
    from tacotron.infer.synthesizer import Synthesizer

    folder = tmp_path_factory.mktemp("export-speakers")
    ckpt = write_stopping_checkpoint(folder / "model.pt", max_decoder_steps=12, speakers=SPEAKERS)
    state = torch.load(ckpt, weights_only=True)
    state["model"]["decoder.gate_projection.bias"].fill_(-20.0)  # decode every item to max steps
    torch.save(state, ckpt)
    synth = Synthesizer.from_checkpoint(ckpt)
    text, lengths = _batch(synth.frontend)
    text, lengths = text[:4, : int(lengths[:4].max())], lengths[:4]
    speaker = torch.tensor([0, 1, 0, 1])
    eager = synth.model.infer(text, lengths, r=synth.r, deterministic=True, speakers=speaker)
    for name, array in (("text", text), ("lengths", lengths), ("speaker", speaker)):
        np.save(folder / f"{name}.npy", array.numpy())
    return folder, eager


def _inputs(folder):
    return folder / "text.npy", folder / "lengths.npy", folder / "speaker.npy"


def test_the_speaker_changes_the_output(speakers_case):
    from tacotron.infer.synthesizer import Synthesizer

    folder, eager = speakers_case
    synth = Synthesizer.from_checkpoint(folder / "model.pt")
    text, lengths = (torch.from_numpy(np.load(p)) for p in _inputs(folder)[:2])
    other = synth.model.infer(
        text, lengths, r=synth.r, deterministic=True, speakers=torch.tensor([1, 0, 1, 0])
    )
    assert not torch.allclose(other.mel_postnet, eager.mel_postnet, atol=1e-3)


def test_torchscript_export_takes_the_speaker(speakers_case):
    folder, eager = speakers_case
    out = folder / "model.torchscript.pt"
    argv = ["export", "--checkpoint", str(folder / "model.pt"), "--format", "torchscript", "--out", str(out)]
    assert cli_main(argv) == 0
    got = _run_isolated(TS_SCRIPT, ("tacotron",), out, *_inputs(folder), folder / "ts.npz")
    assert got["lengths"].tolist() == eager.lengths.tolist()
    np.testing.assert_allclose(got["mel"], eager.mel_postnet.numpy(), atol=1e-4, rtol=1e-4)


def test_onnx_export_takes_the_speaker_by_id_and_by_name(speakers_case):
    folder, eager = speakers_case
    out = folder / "onnx"
    assert (
        cli_main(["export", "--checkpoint", str(folder / "model.pt"), "--format", "onnx", "--out", str(out)])
        == 0
    )
    assert json.loads((out / "metadata.json").read_text(encoding="utf-8"))["speakers"] == SPEAKERS
    got = _run_isolated(ONNX_SCRIPT, ("tacotron", "torch"), out, *_inputs(folder), folder / "onnx.npz")
    assert got["lengths"].tolist() == eager.lengths.tolist()
    np.testing.assert_allclose(got["mel"], eager.mel_postnet.numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(got["named"], got["mel"])


def test_runner_script_takes_a_speaker_name_and_refuses_unknown_ones(speakers_case, tmp_path):
    folder, _ = speakers_case
    out = folder / "onnx"
    if not out.is_dir():
        assert (
            cli_main(
                ["export", "--checkpoint", str(folder / "model.pt"), "--format", "onnx", "--out", str(out)]
            )
            == 0
        )
    code = BLOCK.format(blocked=("tacotron", "torch")) + (
        "sys.path.insert(0, sys.argv[1]); sys.argv = sys.argv[1:]\nimport runner\nsys.exit(runner.main(sys.argv))\n"
    )

    def run(*args):
        return subprocess.run([sys.executable, "-c", code, str(out), "hello.", *args],
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    assert run("--speaker", "bob").returncode == 0
    refused = run("--speaker", "zed")
    assert refused.returncode == 2 and refused.stderr.startswith("error: unknown speaker")
