"""GraphedInference's shape bounds: text-length buckets keep results, and at most `max_graphs` shapes are kept.

On the CPU, `GraphedInference(capture=False)` runs the same static-buffer code as the CUDA graphs; its
decoder sees the memory padded to a bucket, the eager model the unpadded batch (prenet dropout off).
They agree exactly in lengths and stop reasons and in mels up to rounding: the attention softmax sums
the padded (zero) terms in another vectorised order (about 1e-8 here); with no padding, bit for bit.
The gate is silenced so items run long (end of text or max_steps).
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tests.helpers.configs import variant_config

from tacotron.data.batch import bucket_length
from tacotron.model import build_model
from tacotron.model.fast_infer import GraphedInference, pad_memory
from tacotron.model.inference import DecoderStep, decoding_for

N_SYMBOLS = 24


def long_running_model(kind: str = "plain", r: int = 1):
    cfg = variant_config(kind)
    m = dataclasses.replace(cfg.model, max_frames_per_step=2, n_frames_per_step=r, max_decoder_steps=20)
    torch.manual_seed(0)
    model = build_model(m, N_SYMBOLS, 80).eval()
    with torch.no_grad():
        model.decoder.gate_projection.bias.fill_(-20.0)
    return model


def texts(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    text = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for i, n in enumerate(lengths):
        text[i, :n] = torch.randint(2, N_SYMBOLS, (n,), generator=gen)
    return text, torch.tensor(lengths)


def assert_same(fast, eager, exact: bool = False) -> None:
    assert fast.lengths.tolist() == eager.lengths.tolist()
    assert fast.stop_reasons == eager.stop_reasons
    for name in ("mel", "mel_postnet", "gate_logits", "alignments"):
        got, want = getattr(fast, name), getattr(eager, name)
        if exact:
            assert torch.equal(got, want), name
        else:
            torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5, msg=name)


@pytest.mark.parametrize("r", [1, 2])
def test_bucket_padded_decoding_equals_eager_on_the_unpadded_batch(r):
    model = long_running_model(r=r)
    graphed = GraphedInference(model, capture=False, text_multiple=16)
    reasons = set()
    for lengths in ([23, 9, 14, 5], [17], [3, 2], [16, 4], [40, 5]):
        text, text_lengths = texts(lengths)
        eager = model.infer(text, text_lengths, r=r, deterministic=True)
        fast = graphed.infer(text, text_lengths, r=r, deterministic=True)
        assert_same(fast, eager, exact=max(lengths) == 16)  # 16: already a bucket, nothing padded
        assert fast.alignments.size(2) == max(lengths)  # cut back from the bucket
        reasons |= set(eager.stop_reasons)
    assert {key[1] for key in graphed.graphs} == {32, 16, 48}  # buckets, not the raw lengths
    assert reasons == {"end_of_text", "max_steps"}


def test_lengths_of_one_bucket_share_one_graph():
    model = long_running_model()
    graphed = GraphedInference(model, capture=False, text_multiple=16)
    for lengths in ([20, 7], [31, 30], [17, 2]):
        text, text_lengths = texts(lengths, seed=len(graphed.graphs))
        assert_same(graphed.infer(text, text_lengths, r=1, deterministic=True),
                         model.infer(text, text_lengths, r=1, deterministic=True))  # fmt: skip
    assert list(graphed.graphs) == [(2, 32, 20, model.gate_threshold, False, 1)]


def test_at_most_max_graphs_shapes_least_recently_used_evicted():
    model = long_running_model()
    graphed = GraphedInference(model, capture=False, text_multiple=16, max_graphs=2)
    shapes = {"a": [5], "b": [20], "c": [40]}  # buckets 16, 32, 48
    for name in ("a", "b", "a", "c"):
        graphed.infer(*texts(shapes[name]), r=1, deterministic=True)
        assert len(graphed.graphs) <= 2
    assert [key[1] for key in graphed.graphs] == [16, 48]  # b was the least recently used
    text, text_lengths = texts(shapes["b"])  # evicted, captured again, still right
    assert_same(graphed.infer(text, text_lengths, r=1, deterministic=True),
                     model.infer(text, text_lengths, r=1, deterministic=True))  # fmt: skip
    assert [key[1] for key in graphed.graphs] == [48, 32]


def test_style_reaches_the_graphed_path_through_the_shared_memory_function():
    """GST conditioning happens in `Tacotron2.inference_memory`, which both paths call."""
    model = long_running_model("gst")
    graphed = GraphedInference(model, capture=False)
    text, text_lengths = texts([11, 6])
    weights = torch.tensor([0.0, 2.0, 0.0, 0.0])
    plain = graphed.infer(text, text_lengths, r=1, deterministic=True)
    styled = graphed.infer(text, text_lengths, r=1, deterministic=True, style_weights=weights)
    assert_same(styled, model.infer(text, text_lengths, r=1, deterministic=True, style_weights=weights))
    assert not torch.equal(styled.mel, plain.mel)
    style_mel = torch.randn(80, 25)
    assert_same(graphed.infer(text, text_lengths, r=1, deterministic=True, style_mel=style_mel),
                     model.infer(text, text_lengths, r=1, deterministic=True, style_mel=style_mel))  # fmt: skip


def test_pad_memory_masks_the_new_positions():
    model = long_running_model()
    text, text_lengths = texts([9, 4])
    mem = model.inference_memory(text, text_lengths)
    padded = pad_memory(mem, bucket_length(9, 16))
    assert padded.memory.shape[1] == padded.processed.shape[1] == padded.mask.shape[1] == 16
    assert padded.mask.sum(1).tolist() == [9, 4]
    assert not padded.memory[:, 9:].any() and torch.equal(padded.memory[:, :9], mem.memory)
    assert pad_memory(mem, 9) is mem


@pytest.mark.parametrize("kwargs", [{"text_multiple": 0}, {"max_graphs": 0}])
def test_bounds_must_be_positive(kwargs):
    with pytest.raises(ValueError, match="text_multiple and max_graphs must be >= 1"):
        GraphedInference(long_running_model(), capture=False, **kwargs)


def test_the_decoder_step_compiles_as_one_graph_without_breaks():
    """A graph break would split the compiled step into pieces with eager glue between them (fewer fusions)."""
    import torch._dynamo

    model = long_running_model(r=2)
    text, lengths = texts([7, 11])
    with torch.no_grad():
        mem = model.inference_memory(text, lengths)
        decoding = decoding_for(model, 2)
        state = decoding.initial_state(mem.memory)
        explained = torch._dynamo.explain(DecoderStep(model.decoder, 2))(
            torch.zeros(2, 80), *state, mem.memory, mem.processed, mem.mask
        )
    assert explained.graph_count == 1 and explained.graph_break_count == 0, explained.break_reasons


def test_compiled_step_decodes_like_eager_over_two_text_buckets():
    """compile_step=True: the same lengths, stop reasons and (to rounding) mels as eager `infer`, for two
    text buckets (one dynamic-shape compilation serves both)."""
    model = long_running_model(r=2)
    graphed = GraphedInference(model, capture=False, text_multiple=8, compile_step=True)
    torch._dynamo.reset()
    for lengths in ([5, 7], [13, 16]):
        text, text_lengths = texts(lengths, seed=len(lengths) + lengths[0])
        with torch.no_grad():
            eager = model.infer(text, text_lengths, r=2, deterministic=True)
        assert_same(graphed.infer(text, text_lengths, r=2, deterministic=True), eager)
    assert len(graphed.graphs) == 2
    assert all(
        isinstance(g.decoding.step, torch._dynamo.eval_frame.OptimizedModule) for g in graphed.graphs.values()
    )
