"""`PreparedDecoderStep` (merged matmuls, weights derived once) and the Triton attention kernels.

On the CPU the prepared step runs its torch attention; the Triton kernels run in Triton's interpreter
(`TRITON_INTERPRET=1`, a subprocess: the variable is read when Triton is imported), which checks their
indexing, masking and arithmetic, not their speed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tests.helpers.processes import SRC, run_python, subprocess_env
from tests.model.test_fast_infer import assert_same, long_running_model, texts

from tacotron.model.fast_infer import GraphedInference
from tacotron.model.fused_attention import available
from tacotron.model.inference import DecoderStep
from tacotron.model.prepared_step import InferenceWeights, PreparedDecoderStep

ROOT = SRC.parent


def step_inputs(model, batch_lengths: list[int], seed: int = 0) -> list[torch.Tensor]:
    """Random step inputs in `DecoderStep` order, with padded text positions masked."""
    gen = torch.Generator().manual_seed(seed)
    d = model.decoder
    b, length = len(batch_lengths), max(batch_lengths)
    a, h = d.attention_rnn.hidden_size, d.decoder_rnn.hidden_size
    mask = torch.arange(length)[None] < torch.tensor(batch_lengths)[:, None]
    memory = torch.randn(b, length, d.attention.memory_layer.in_features, generator=gen)
    weights = torch.softmax(torch.randn(b, length, generator=gen), 1) * mask
    state = [torch.randn(b, n, generator=gen) for n in (a, a, h, h)]
    with torch.no_grad():
        processed = d.attention.process_memory(memory)
    return [
        torch.randn(b, d.n_mels, generator=gen),
        *state,
        weights,
        weights + torch.rand(b, length, generator=gen) * mask,
        torch.randn(b, memory.size(2), generator=gen),
        memory,
        processed,
        mask,
    ]


@pytest.mark.parametrize("r", [1, 2])
def test_prepared_step_computes_the_decoder_step(r):
    """Same outputs, shapes and dtypes as `DecoderStep` up to the rounding of the merged matmuls."""
    model = long_running_model()
    inputs = step_inputs(model, [11, 4, 7])
    with torch.no_grad():
        want = DecoderStep(model.decoder, r)(*inputs)
        got = PreparedDecoderStep(InferenceWeights(model.decoder, torch.float32), r, fused=False)(*inputs)
    names = ["frames", "gate", "ah", "ac", "dh", "dc", "weights", "weights_cum", "context"]
    for name, a, b in zip(names, got, want, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype, name
        torch.testing.assert_close(a, b, atol=2e-6, rtol=1e-5, msg=name)
    assert not got[6][~inputs[-1]].any()  # padded positions get weight exactly 0


def test_graphed_inference_with_the_prepared_step_decodes_like_eager():
    """Lengths, stop reasons and (to rounding) mels of eager `infer`, over text buckets and two r."""
    for r in (1, 2):
        model = long_running_model(r=r)
        graphed = GraphedInference(model, capture=False, text_multiple=8, prepared_step=True)
        reasons = set()
        for lengths in ([5, 7], [13, 16, 2], [9], [40, 3]):  # 40: cut at max_decoder_steps
            text, text_lengths = texts(lengths, seed=sum(lengths))
            with torch.no_grad():
                eager = model.infer(text, text_lengths, r=r, deterministic=True)
            assert_same(graphed.infer(text, text_lengths, r=r, deterministic=True), eager)
            reasons |= set(eager.stop_reasons)
        assert all(isinstance(g.decoding.step, PreparedDecoderStep) for g in graphed.graphs.values())
        assert reasons == {"end_of_text", "max_steps"}


def test_weights_loaded_into_the_model_later_are_used_in_the_same_tensors():
    """A checkpoint loaded into the same model after the first synthesis: the derived weights follow
    (in place, so graphs captured over them stay valid), and decoding equals eager with the new weights."""
    model = long_running_model(r=2)
    graphed = GraphedInference(model, capture=False, text_multiple=8, prepared_step=True)
    text, text_lengths = texts([6, 9])
    before = graphed.infer(text, text_lengths, r=2, deterministic=True)
    storage = {name: t.data_ptr() for name, t in graphed.inference_weights.tensors.items()}
    other = long_running_model(r=2)
    with torch.no_grad():
        for p in other.decoder.parameters():
            p.add_(0.05 * torch.randn_like(p))
    model.load_state_dict(other.state_dict())
    after = graphed.infer(text, text_lengths, r=2, deterministic=True)
    with torch.no_grad():
        eager = model.infer(text, text_lengths, r=2, deterministic=True)
    assert_same(after, eager)
    assert not torch.allclose(after.mel, before.mel[:, :, : after.mel.size(2)])
    assert {name: t.data_ptr() for name, t in graphed.inference_weights.tensors.items()} == storage
    assert graphed.inference_weights.refresh() is False  # nothing changed since


def test_refusals():
    model = long_running_model()
    with pytest.raises(ValueError, match="pick one"):
        GraphedInference(model, capture=False, compile_step=True, prepared_step=True)
    model.train()
    with pytest.raises(ValueError, match="inference"):
        PreparedDecoderStep(InferenceWeights(model.decoder, torch.float32), 1)
    assert not available(torch.device("cpu"))  # outside the interpreter the CPU runs the torch attention


def test_triton_attention_kernels_in_the_interpreter():
    """The two kernels against `attention.attend`: fp32 to 1e-6 with padded items, text lengths across
    blocks and sizes that are not powers of two; bf16 inputs no less accurate than the eager bf16 ops;
    and a decoding through them with eager's lengths and stop reasons."""
    script = Path(__file__).parent / "scripts" / "interpreted_attention.py"
    env = subprocess_env(TRITON_INTERPRET="1", PYTHONPATH=f"{SRC}:{ROOT}")
    done = run_python([str(script)], env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["available"]
    for case in result["attention"]:
        assert max(case["diff"]) < 1e-5, case
        assert case["masked_weight"] == 0.0, case
        assert case["dtypes"] == ["torch.float32"] * 3
    bf16 = result["bf16"]
    assert bf16["dtypes"] == ["torch.bfloat16", "torch.float32", "torch.float32"]
    assert bf16["fused"][1] <= bf16["eager"][1] and bf16["fused"][0] < 1e-2, bf16
    assert bf16["state_bf16"][:3] == ["torch.bfloat16", "torch.float32", "torch.bfloat16"]
    assert max(bf16["state_bf16"][3:]) < 2e-2, bf16  # context, weights, bf16 cumulative weights
    decoding = result["decoding"]
    assert decoding["fused"]
    assert decoding["lengths"][0] == decoding["lengths"][1]
    assert decoding["reasons"][0] == decoding["reasons"][1]
    assert decoding["mel_diff"] < 1e-5


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_triton_attention_kernels_on_cuda(dtype):
    """Compiled for the GPU (not interpreted): fp32 equal to `attend` (TF32 off) to 1e-5; bf16 inputs within
    bf16 rounding of the fp32 result; masked positions exactly 0."""
    from tacotron.model.attention import LocationSensitiveAttention
    from tacotron.model.fused_attention import folded_kernel, fused_attend, reference_attend

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        torch.manual_seed(0)
        for b, length, dim, channels in ((1, 7, 128, 512), (3, 190, 128, 512), (64, 97, 96, 200)):
            att = LocationSensitiveAttention(
                query_dim=16, memory_dim=channels, attention_dim=dim, n_filters=32, kernel_size=31
            ).cuda()
            memory = torch.randn(b, length, channels, device="cuda")
            mask = torch.arange(length, device="cuda")[None] < torch.randint(
                1, length + 1, (b, 1), device="cuda"
            )
            mask[0] = True
            weights = torch.softmax(torch.randn(b, length, device="cuda"), 1) * mask
            cum = (weights + torch.rand(b, length, device="cuda")) * mask
            query = torch.randn(b, dim, device="cuda")
            with torch.no_grad():
                processed, kernel = att.process_memory(memory), att.location_kernel()
                want = reference_attend(query, memory, processed, weights, cum, mask, kernel, att.v.weight)
                low = [
                    t.to(dtype) for t in (query, memory, processed, folded_kernel(kernel), att.v.weight[0])
                ]
                got = fused_attend(*low[:3], weights, cum, mask, *low[3:], 31)
            tolerance = 1e-5 if dtype == torch.float32 else 3e-2
            for name, a, g in zip(("context", "weights", "weights_cum"), want, got, strict=True):
                torch.testing.assert_close(g.float(), a, atol=tolerance, rtol=tolerance, msg=name)
            assert not got[1][~mask].any()
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
