"""Export: TorchScript and ONNX models that run without this package and match eager deterministic inference.

Each exported model runs in a subprocess where `import tacotron` is made to fail (and, for ONNX, `import
torch` too), so a hidden dependency on this package's code cannot pass unnoticed. Traced at batch 2 /
13 symbols, they are checked at batch 5 / other lengths, with r = 1 and r = 2, and across all three
stop reasons (gate, end of text, max steps); the ONNX runner also at batch 1. The runner is a numpy mirror
of `tacotron.model.inference` (it cannot import torch): its stop rule is also checked against `stop_update`.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from tests.serve.serve_helpers import write_tiny_checkpoint

from tacotron.cli import main as cli_main

TEXTS = ["Hello there, world.", "Short.", "A bit longer sentence here!", "ok", "Numbers like 42 go here."]
CASES = {"r1-gate": {"r": 1, "seed": 2, "gate_bias": None}, "r2-eos": {"r": 2, "seed": 2, "gate_bias": -2.0}}
BLOCK = "import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None  # any import of it now fails\n"

TS_SCRIPT = """
import numpy as np, torch
model = torch.jit.load(sys.argv[1])
text, lengths = torch.from_numpy(np.load(sys.argv[2])), torch.from_numpy(np.load(sys.argv[3]))
mel, out_lengths, align, reasons = model(text, lengths)
np.savez(sys.argv[4], mel=mel.numpy(), lengths=out_lengths.numpy(), align=align.numpy(), reasons=reasons.numpy())
"""
ONNX_SCRIPT = """
import numpy as np
sys.path.insert(0, sys.argv[1])
from runner import OnnxTacotron
model = OnnxTacotron(sys.argv[1])
text, lengths = np.load(sys.argv[2]), np.load(sys.argv[3])
mel, out_lengths, align, reasons = model.infer(text, lengths)
mel1, lengths1, align1, reasons1 = model.infer(text[:1, : lengths[0]], lengths[:1])  # batch 1, no padding
np.savez(sys.argv[4], mel=mel, lengths=out_lengths, align=align, reasons=reasons,
         mel1=mel1, lengths1=lengths1, align1=align1, reasons1=reasons1)
"""


def _batch(frontend) -> tuple[torch.Tensor, torch.Tensor]:
    ids = [frontend.encode(t) for t in TEXTS]
    text = torch.zeros(len(ids), max(map(len, ids)), dtype=torch.long)
    for row, seq in enumerate(ids):
        text[row, : len(seq)] = torch.tensor(seq)
    return text, torch.tensor([len(seq) for seq in ids])


@pytest.fixture(scope="module", params=list(CASES))
def case(request, tmp_path_factory):
    """(checkpoint, text, lengths, eager InferenceOutput) for one model configuration."""
    from tacotron.infer.synthesizer import Synthesizer

    folder = tmp_path_factory.mktemp(f"export-{request.param}")
    ckpt = write_tiny_checkpoint(folder / "model.pt", max_decoder_steps=40, **CASES[request.param])
    synth = Synthesizer.from_checkpoint(ckpt)
    text, lengths = _batch(synth.frontend)
    eager = synth.model.infer(text, lengths, r=synth.r, deterministic=True)
    assert eager.r == CASES[request.param]["r"]
    np.save(folder / "text.npy", text.numpy())
    np.save(folder / "lengths.npy", lengths.numpy())
    return folder, eager


def _run_isolated(script: str, blocked: tuple[str, ...], *args) -> dict[str, np.ndarray]:
    code = BLOCK.format(blocked=blocked) + textwrap.dedent(script)
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(args[-1]))


def _assert_matches(got: dict[str, np.ndarray], eager) -> None:
    codes = {"gate": 1, "end_of_text": 2, "max_steps": 3}
    assert got["reasons"].tolist() == [codes[r] for r in eager.stop_reasons]
    assert got["lengths"].tolist() == eager.lengths.tolist()
    assert got["mel"].shape == tuple(eager.mel_postnet.shape)
    np.testing.assert_allclose(got["mel"], eager.mel_postnet.numpy(), atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(got["align"], eager.alignments.numpy(), atol=1e-5)


def test_torchscript_export_matches_eager_without_the_package(case):
    folder, eager = case
    out = folder / "model.torchscript.pt"
    assert (
        cli_main(
            ["export", "--checkpoint", str(folder / "model.pt"), "--format", "torchscript", "--out", str(out)]
        )
        == 0
    )
    got = _run_isolated(
        TS_SCRIPT, ("tacotron",), out, folder / "text.npy", folder / "lengths.npy", folder / "ts.npz"
    )
    _assert_matches(got, eager)


def test_onnx_export_matches_eager_without_the_package_or_torch(case):
    folder, eager = case
    assert cli_main(["export", "--checkpoint", str(folder / "model.pt"), "--format", "onnx"]) == 0
    out = folder / "model_onnx"  # the default output next to the checkpoint
    assert {p.name for p in out.iterdir()} >= {
        "encoder.onnx",
        "decoder_step.onnx",
        "postnet.onnx",
        "metadata.json",
        "runner.py",
    }
    blocked = ("tacotron", "torch")
    got = _run_isolated(
        ONNX_SCRIPT, blocked, out, folder / "text.npy", folder / "lengths.npy", folder / "onnx.npz"
    )
    _assert_matches(got, eager)
    # the first item alone: its eager result is row 0 of the batch, trimmed to its own steps
    t1 = got["mel1"].shape[2]
    assert got["lengths1"].tolist() == eager.lengths[:1].tolist()
    assert got["reasons1"].tolist() == [{"gate": 1, "end_of_text": 2, "max_steps": 3}[eager.stop_reasons[0]]]
    np.testing.assert_allclose(got["mel1"], eager.mel_postnet[:1, :, :t1].numpy(), atol=1e-4, rtol=1e-4)


def test_the_cases_cover_every_stop_reason(tmp_path):
    from tacotron.infer.synthesizer import Synthesizer

    seen = set()
    for name, params in CASES.items():
        synth = Synthesizer.from_checkpoint(
            write_tiny_checkpoint(tmp_path / f"{name}.pt", max_decoder_steps=40, **params)
        )
        seen |= set(synth.model.infer(*_batch(synth.frontend), r=synth.r, deterministic=True).stop_reasons)
    assert seen == {"gate", "end_of_text", "max_steps"}


def test_onnx_runner_frame_arithmetic_mirrors_frames_py():
    """The runner keeps its own numpy ceil(n / r) (it must not import torch); it must equal frames.py's."""
    from tacotron import export_onnx_runner, frames

    lengths = np.arange(0, 200)
    for r in range(1, frames.MAX_R + 1):
        expected = frames.decoder_steps(torch.from_numpy(lengths), r).numpy()
        np.testing.assert_array_equal(export_onnx_runner.decoder_steps(lengths, r), expected)
        assert [frames.decoder_steps(int(n), r) for n in lengths] == expected.tolist()


@pytest.mark.parametrize("at_eos", [True, False])
def test_onnx_runner_stop_rule_mirrors_stop_update(at_eos):
    """The runner's numpy stop rule, fed one step at a time, gives `stop_update`'s stops (lengths and
    codes) on random gate logits and attention walks, for every stop reason."""
    from tacotron import export_onnx_runner
    from tacotron.model.inference import gate_logit, stop_finish, stop_start, stop_update

    gen = torch.Generator().manual_seed(7 + at_eos)
    lengths = [10, 7, 3, 12, 5, 9, 1, 6]
    n_steps, r, threshold, fraction, eos_steps = 30, 2, 0.6, 0.4, 3
    peaks = torch.cumsum(torch.randint(0, 2, (len(lengths), n_steps), generator=gen), dim=1)
    peaks[0] = 0  # item 0 never leaves its first symbol and its gate never fires: it runs to max steps
    weights = torch.zeros(len(lengths), n_steps, 12)
    for b, length in enumerate(lengths):
        weights[b, torch.arange(n_steps), peaks[b].clamp(max=length - 1)] = 1.0
    gates = torch.randn(len(lengths), n_steps, r, generator=gen) * 3 - 4.5
    gates[::3] = -10.0
    meta = {"r": r, "gate_threshold": threshold, "min_text_fraction": fraction, "eos_steps": eos_steps,
            "stop_at_end_of_text": at_eos}  # fmt: skip
    mirror = export_onnx_runner._StopRule(np.array(lengths), meta)
    for step in range(n_steps):
        mirror.update(step, gates[:, step].numpy(), weights[:, step].numpy())
    want_lengths, want_codes = mirror.finish(n_steps)
    state = stop_update(stop_start(torch.tensor(lengths), fraction), torch.tensor(0), gates, weights, r,
                        gate_logit(threshold), at_eos, eos_steps)  # fmt: skip
    got_lengths, got_codes = stop_finish(state, n_steps, r)
    assert got_lengths.tolist() == want_lengths.tolist()
    assert got_codes.tolist() == want_codes.tolist()
    assert {1, 3} | ({2} if at_eos else set()) <= set(want_codes.tolist()), "the case must cover the reasons"


def test_unknown_format_is_rejected(tmp_path):
    from tacotron.export import export_checkpoint

    ckpt = write_tiny_checkpoint(tmp_path / "m.pt")
    with pytest.raises(ValueError, match="unknown export format 'tflite'"):
        export_checkpoint(ckpt, "tflite", tmp_path / "out")


def test_export_refuses_a_style_token_model_instead_of_dropping_its_style(tmp_path):
    """A GST model exported without its style input would sound different from eager synthesis."""
    from tests.conftest import tiny_config

    from tacotron.export import export_torchscript
    from tacotron.model import build_model

    cfg = tiny_config()
    cfg.model.gst = True
    model = build_model(cfg.model, n_symbols=40, n_mels=80)
    with pytest.raises(ValueError, match="Global Style Tokens"):
        export_torchscript(model, {}, tmp_path / "m.pt")
