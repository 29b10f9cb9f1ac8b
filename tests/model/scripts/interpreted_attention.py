"""Run under TRITON_INTERPRET=1 (Triton's CPU interpreter) by tests/model/test_prepared_step.py.

Prints one JSON object: for each attention shape, the largest difference of `fused_attend` from
`reference_attend` per output and the largest weight at a masked position; then the lengths and stop
reasons of one decoding through `GraphedInference(prepared_step=True)` (fused attention) and eager
`Tacotron2.infer`, and the largest mel difference.
"""

from __future__ import annotations

import json
import sys

import torch

from tacotron.model.attention import LocationSensitiveAttention
from tacotron.model.fast_infer import GraphedInference
from tacotron.model.fused_attention import available, folded_kernel, fused_attend, reference_attend


def attention_case(batch: int, length: int, attention_dim: int, channels: int, kernel_size: int) -> dict:
    torch.manual_seed(batch * 1000 + length)
    att = LocationSensitiveAttention(
        query_dim=16, memory_dim=channels, attention_dim=attention_dim, n_filters=8, kernel_size=kernel_size
    )
    memory = torch.randn(batch, length, channels)
    lengths = torch.randint(1, length + 1, (batch,))
    lengths[0] = length
    mask = torch.arange(length)[None] < lengths[:, None]
    weights = torch.softmax(torch.randn(batch, length), 1) * mask
    cum = (weights + torch.rand(batch, length)) * mask
    query = torch.randn(batch, attention_dim)
    with torch.no_grad():
        processed = att.process_memory(memory)
        kernel = att.location_kernel()
        want = reference_attend(query, memory, processed, weights, cum, mask, kernel, att.v.weight)
        got = fused_attend(
            query, memory, processed, weights, cum, mask, folded_kernel(kernel), att.v.weight[0], kernel_size
        )
    return {
        "shape": [batch, length, attention_dim, channels, kernel_size],
        "diff": [float((a - b).abs().max()) for a, b in zip(want, got, strict=True)],
        "masked_weight": float(got[1][~mask].abs().max()) if (~mask).any() else 0.0,
        "dtypes": [str(t.dtype) for t in got],
    }


def bf16_case() -> dict:
    """bf16 inputs (query, memory and its projection, kernel, v) against the fp32 reference: the fused
    kernels' error beside that of the eager ops under CPU autocast."""
    torch.manual_seed(1)
    batch, length, attention_dim, channels, kernel_size = 2, 50, 128, 512, 31
    att = LocationSensitiveAttention(
        query_dim=16, memory_dim=channels, attention_dim=attention_dim, n_filters=32, kernel_size=kernel_size
    )
    memory = torch.randn(batch, length, channels)
    mask = torch.arange(length)[None] < torch.tensor([length, 30])[:, None]
    weights = torch.softmax(torch.randn(batch, length), 1) * mask
    cum = (weights + torch.rand(batch, length)) * mask
    query = torch.randn(batch, attention_dim)
    bf16 = torch.bfloat16
    with torch.no_grad():
        processed, kernel = att.process_memory(memory), att.location_kernel()
        want = reference_attend(query, memory, processed, weights, cum, mask, kernel, att.v.weight)
        low = [t.to(bf16) for t in (query, memory, processed, folded_kernel(kernel), att.v.weight[0])]
        fused = fused_attend(*low[:3], weights, cum, mask, *low[3:], kernel_size)
        with torch.autocast("cpu", dtype=bf16):
            eager = reference_attend(*low[:3], weights, cum, mask, kernel.to(bf16), att.v.weight.to(bf16))
        # the state in bf16 too, as a bf16 decoding's static buffers hold it
        state = fused_attend(*low[:3], weights.to(bf16), cum.to(bf16), mask, *low[3:], kernel_size)
    return {
        "state_bf16": [str(t.dtype) for t in state]
        + [float((a - b.float()).abs().max()) for a, b in zip(want, state, strict=True)],
        "dtypes": [str(t.dtype) for t in fused],
        "fused": [float((a - b.float()).abs().max()) for a, b in zip(want, fused, strict=True)],
        "eager": [float((a - b.float()).abs().max()) for a, b in zip(want, eager, strict=True)],
    }


def decoding_case() -> dict:
    sys.path.insert(0, ".")
    from tests.model.test_fast_infer import long_running_model, texts

    model = long_running_model(r=2)
    text, text_lengths = texts([13, 6, 9])
    graphed = GraphedInference(model, capture=False, text_multiple=8, prepared_step=True)
    with torch.no_grad():
        eager = model.infer(text, text_lengths, r=2, deterministic=True)
    fast = graphed.infer(text, text_lengths, r=2, deterministic=True)
    step = next(iter(graphed.graphs.values())).decoding.step
    return {
        "fused": bool(step.fused),
        "lengths": [fast.lengths.tolist(), eager.lengths.tolist()],
        "reasons": [fast.stop_reasons, eager.stop_reasons],
        "mel_diff": float((fast.mel_postnet - eager.mel_postnet).abs().max()),
    }


if __name__ == "__main__":
    cases = [(1, 7, 128, 512, 31), (3, 70, 24, 40, 5), (2, 130, 128, 100, 31), (4, 16, 16, 64, 3)]
    print(
        json.dumps(
            {
                "available": available(torch.device("cpu")),
                "attention": [attention_case(*case) for case in cases],
                "bf16": bf16_case(),
                "decoding": decoding_case(),
            }
        )
    )
