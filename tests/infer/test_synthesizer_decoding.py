"""Which decoder the Synthesizer uses: CUDA graphs (`GraphedInference`) on CUDA, eager elsewhere or when
a call needs what the graphs cannot give (a seeded generator), each fallback logged once.

On the CPU the routing is exercised with `GraphedInference(capture=False)`, the graphs' own static-buffer
code without capture. The checkpoint's gate is silenced so items run to end of text or max_steps.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import pytest
import torch
from tests.helpers.checkpoints import write_serving_checkpoint

from tacotron.cli import main
from tacotron.commands import add_decoding_argument
from tacotron.infer.synthesizer import DECODINGS, DecodingError, Synthesizer, fast_for
from tacotron.model.fast_infer import GraphedInference

TEXTS = [
    "A much longer sentence, to make it the longest one here.",
    "Hi.",
    "Medium length text.",
    "Okay then.",
]
LOGGER = "tacotron.infer.synthesizer"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_serving_checkpoint(tmp_path_factory.mktemp("decoding") / "tiny.pt", max_decoder_steps=30)


@pytest.fixture(scope="module")
def eager(checkpoint) -> Synthesizer:
    return Synthesizer.from_checkpoint(checkpoint)


def routed(eager: Synthesizer) -> Synthesizer:
    """The same model, vocoder and settings, routed through the graphed path (uncaptured, on the CPU)."""
    graphed = GraphedInference(eager.model, capture=False)
    return Synthesizer(
        eager.model, eager.cfg, eager.frontend, eager.vocoder, eager.device, r=eager.r, graphed=graphed
    )


def assert_same_results(got, want, exact: bool = False) -> None:
    assert [r.frames for r in got] == [r.frames for r in want]
    assert [r.stop_reason for r in got] == [r.stop_reason for r in want]
    for a, b in zip(got, want, strict=True):
        if exact:
            np.testing.assert_array_equal(a.mel, b.mel)
        else:
            np.testing.assert_allclose(a.mel, b.mel, atol=1e-6, rtol=1e-5)
            np.testing.assert_allclose(a.alignment, b.alignment, atol=1e-6, rtol=1e-5)


def test_cpu_decodes_eagerly_by_default_and_says_so(checkpoint, caplog):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        synth = Synthesizer.from_checkpoint(checkpoint)
    assert not synth.fast
    assert "decoding: eager (no CUDA graphs on cpu)" in caplog.text
    synth.synthesize(TEXTS[:1], deterministic=True)
    assert synth.graphed is None


def test_fast_decoding_on_the_cpu_is_a_clear_error(checkpoint, tmp_path, capsys):
    with pytest.raises(DecodingError, match="fast decoding .CUDA graphs. needs a CUDA device, got cpu"):
        Synthesizer.from_checkpoint(checkpoint, fast=True)
    out = str(tmp_path / "out")
    assert (
        main(["synth", "--checkpoint", str(checkpoint), "--text", "Hi.", "--out", out, "--decoding", "fast"])
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error: fast decoding (CUDA graphs) needs a CUDA device") and err.count("\n") == 1


def test_serve_with_fast_decoding_on_the_cpu_is_a_clear_error(checkpoint, capsys):
    pytest.importorskip("fastapi")  # the 'serve' extra: installed by `make setup` and in CI
    assert main(["serve", "--checkpoint", str(checkpoint), "--decoding", "fast"]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err


def test_eager_on_request(checkpoint, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        out = str(tmp_path / "out")
        assert (
            main(
                [
                    "synth",
                    "--checkpoint",
                    str(checkpoint),
                    "--text",
                    "Hi.",
                    "--out",
                    out,
                    "--decoding",
                    "eager",
                    "--allow-truncated",  # an untrained model: "Hi." may run into max_decoder_steps
                ]
            )
            == 0
        )
    assert "decoding: eager (asked for)" in caplog.text


def test_routed_fast_path_gives_the_eager_results(eager):
    """Texts of different lengths in one batch (sorted and padded by the Synthesizer, then bucketed)."""
    fast = routed(eager)
    got = fast.synthesize(TEXTS, batch_size=4, deterministic=True)
    want = eager.synthesize(TEXTS, batch_size=4, deterministic=True)
    assert_same_results(got, want)
    assert len(fast.graphed.graphs) == 1  # the graphs ran
    assert {r.stop_reason for r in want} == {"end_of_text", "max_steps"}
    assert_same_results(fast.synthesize(TEXTS, batch_size=1, deterministic=True), want)


def test_a_seed_with_dropout_decodes_eagerly_and_says_so_once(eager, caplog):
    fast = routed(eager)
    assert fast.model.prenet_dropout_at_inference
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        got = [fast.synthesize(TEXTS[:2], seed=3) for _ in range(2)]
    assert not fast.graphed.graphs  # eager both times
    assert caplog.text.count("decoding eagerly: a seed with prenet dropout on") == 1
    for results in got:
        assert_same_results(results, eager.synthesize(TEXTS[:2], seed=3), exact=True)


def test_without_a_seed_or_with_dropout_off_the_graphs_run(eager, caplog):
    fast = routed(eager)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        fast.synthesize(TEXTS[:1], seed=3, deterministic=True)  # dropout off: the seed changes nothing
        assert len(fast.graphed.graphs) == 1
        fast.synthesize(TEXTS[:1])  # dropout on, unseeded: the default generator, as eager would
    assert len(fast.graphed.graphs) == 2  # dropout is part of the graph key
    assert "decoding eagerly" not in caplog.text


def test_decoding_choices_are_one_set():
    parser = argparse.ArgumentParser()
    add_decoding_argument(parser)
    (action,) = [a for a in parser._actions if a.dest == "decoding"]
    assert list(action.choices) == list(DECODINGS) and action.default == "auto"
    assert [fast_for(name) for name in ("auto", "fast", "eager")] == [None, True, False]
    with pytest.raises(DecodingError, match="unknown decoding 'quick'"):
        fast_for("quick")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_synthesizer_on_cuda_uses_captured_graphs_and_matches_eager(checkpoint, monkeypatch):
    # The GPU image has no librosa; the Griffin-Lim filterbank does not matter for comparing mels.
    monkeypatch.setattr(
        "tacotron.audio.mel_basis", lambda cfg: np.ones((cfg.n_mels, cfg.n_fft // 2 + 1), np.float32)
    )
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        fast = Synthesizer.from_checkpoint(checkpoint, device="cuda")
        slow = Synthesizer.from_checkpoint(checkpoint, device="cuda", fast=False)
        for batch_size in (4, 1):
            got = fast.synthesize(TEXTS, batch_size=batch_size, deterministic=True)
            want = slow.synthesize(TEXTS, batch_size=batch_size, deterministic=True)
            assert [r.frames for r in got] == [r.frames for r in want]
            assert [r.stop_reason for r in got] == [r.stop_reason for r in want]
            for a, b in zip(got, want, strict=True):
                np.testing.assert_allclose(a.mel, b.mel, atol=1e-4, rtol=1e-4)
        assert fast.fast and fast.graphed is not None and fast.graphed.capture and fast.graphed.graphs
        assert not slow.fast and slow.graphed is None
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
