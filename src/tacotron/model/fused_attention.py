"""The attention of one decoding step in two Triton kernels (inference only: no autograd).

Why: at batch 1 a decoding step is launch- and latency-bound; `attend` is about a dozen kernels per step
(stack of the previous and cumulative weights, the location conv, two adds, tanh, the `v` projection,
mask, softmax, bmm, the cumulative add). Here, built by `_kernels()`:
- `energies` (one program per batch item and block of text positions): the location conv as a
  small matrix product (the [L, 2K] window of the weights times the folded kernel [2K, A]), plus the
  projected query and memory, tanh, the `v` projection and the mask -> energies [B, L] in fp32;
- `context` (one program per batch item and block of encoder channels): softmax over the text
  (max and normaliser first, then the weights), the context (weights @ memory) and the new cumulative
  weights.
Same formula as `attention.attend` (tests/model/test_prepared_step.py compares them in Triton's CPU
interpreter, `TRITON_INTERPRET=1`); everything is computed in fp32 (IEEE products, no TF32) whatever
the input dtype, so in bf16 the kernels round less than the eager ops they replace.
Triton is imported when a kernel is first needed: `available()` says whether it can be.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from types import SimpleNamespace

import torch


def available(device: torch.device) -> bool:
    """Whether the kernels can run on `device`: CUDA with Triton installed, or any device under Triton's
    interpreter (`TRITON_INTERPRET=1`, what the CPU tests use)."""
    if importlib.util.find_spec("triton") is None:
        return False
    return device.type == "cuda" or os.environ.get("TRITON_INTERPRET") == "1"


def folded_kernel(location_kernel: torch.Tensor) -> torch.Tensor:
    """`LocationSensitiveAttention.location_kernel()` [A, 2, K] -> [2K, A] (rows: channel-major taps),
    the right-hand side of the energies kernel's matrix product; computed once per decoding call."""
    return location_kernel.permute(1, 2, 0).reshape(-1, location_kernel.size(0)).contiguous()


def fused_attend(
    query: torch.Tensor,
    memory: torch.Tensor,
    processed: torch.Tensor,
    weights: torch.Tensor,
    weights_cum: torch.Tensor,
    mask: torch.Tensor,
    kernel: torch.Tensor,
    v: torch.Tensor,
    kernel_size: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One attention step: (context [B, E] in memory's dtype, weights [B, L] fp32, weights_cum [B, L]).

    query [B, A] (the query layer's output), memory [B, L, E], processed [B, L, A], weights and
    weights_cum [B, L] (previous step), mask [B, L] bool (True = real, at least one per item),
    kernel [2K, A] (`folded_kernel`), v [A] (the `v` layer's weight row); the last dimensions contiguous.
    """
    b, length, channels = memory.shape
    attention_dim = query.size(1)
    if kernel.shape != (2 * kernel_size, attention_dim) or kernel_size % 2 == 0:
        raise ValueError(
            f"kernel {tuple(kernel.shape)} is not a folded location kernel of size {kernel_size}"
        )
    k = _kernels()
    energies = torch.empty(b, length, device=memory.device, dtype=torch.float32)
    block_l = 32
    k.energies[(b, -(-length // block_l))](
        query, processed, weights, weights_cum, kernel, v, mask, energies,
        length, attention_dim, kernel_size,
        query.stride(0), processed.stride(0), processed.stride(1), weights.stride(0), weights_cum.stride(0),
        mask.stride(0),
        BLOCK_L=block_l, BLOCK_A=_pow2(attention_dim), BLOCK_T=_pow2(2 * kernel_size),
    )  # fmt: skip
    context = torch.empty(b, channels, device=memory.device, dtype=memory.dtype)
    new_weights = torch.empty(b, length, device=memory.device, dtype=torch.float32)
    new_cum = torch.empty(b, length, device=memory.device, dtype=weights_cum.dtype)
    block_e = 64
    k.context[(b, -(-channels // block_e))](
        energies, memory, weights_cum, new_weights, new_cum, context,
        length, channels, memory.stride(0), memory.stride(1), weights_cum.stride(0),
        BLOCK_L=64, BLOCK_E=block_e,
    )  # fmt: skip
    return context, new_weights, new_cum


def reference_attend(
    query: torch.Tensor,
    memory: torch.Tensor,
    processed: torch.Tensor,
    weights: torch.Tensor,
    weights_cum: torch.Tensor,
    mask: torch.Tensor,
    location_kernel: torch.Tensor,
    v_weight: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`fused_attend`'s contract computed by `attention.attend` (location_kernel [A, 2, K], v_weight [1, A]):
    where the kernels cannot run."""
    from tacotron.model.attention import attend

    weights_cat = torch.stack([weights, weights_cum], dim=1)
    context, new_weights = attend(query, memory, processed, weights_cat, mask, location_kernel, v_weight)
    return context, new_weights, weights_cum + new_weights


def _pow2(n: int) -> int:
    """The block size covering n (Triton blocks are powers of two; tl.dot needs at least 16)."""
    return max(16, 1 << (n - 1).bit_length())


@functools.cache
def _kernels() -> SimpleNamespace:
    """The two kernels, compiled by Triton on first use (import deferred: Triton is optional)."""
    import triton
    import triton.language as tl

    @triton.jit
    def energies(
        query_ptr, processed_ptr, weights_ptr, cum_ptr, kernel_ptr, v_ptr, mask_ptr, out_ptr,
        length, attention_dim, kernel_size,
        query_sb, processed_sb, processed_sl, weights_sb, cum_sb, mask_sb,
        BLOCK_L: tl.constexpr, BLOCK_A: tl.constexpr, BLOCK_T: tl.constexpr,
    ):  # fmt: skip
        item = tl.program_id(0)
        pos = tl.program_id(1) * BLOCK_L + tl.arange(0, BLOCK_L)
        dims = tl.arange(0, BLOCK_A)
        taps = tl.arange(0, BLOCK_T)
        # the conv's input window: column t reads channel t // K (0: previous weights, 1: cumulative)
        # at text position pos + t % K - K // 2 (zero outside the text, as the conv's zero padding)
        channel = taps // kernel_size
        src = pos[:, None] + (taps % kernel_size)[None, :] - kernel_size // 2
        inside = (src >= 0) & (src < length) & (taps < 2 * kernel_size)[None, :]
        # fp32 whatever the state's dtype (a bf16 decoding keeps its weights in bf16 buffers)
        previous = tl.load(
            weights_ptr + item * weights_sb + src, mask=inside & (channel == 0)[None, :], other=0.0
        )
        cumulative = tl.load(cum_ptr + item * cum_sb + src, mask=inside & (channel == 1)[None, :], other=0.0)
        window = previous.to(tl.float32) + cumulative.to(tl.float32)
        rows = (taps < 2 * kernel_size)[:, None] & (dims < attention_dim)[None, :]
        kernel = tl.load(kernel_ptr + taps[:, None] * attention_dim + dims[None, :], mask=rows, other=0.0)
        # fp32 products whatever the kernel's dtype: a small product ([BLOCK_L, 2K] x [2K, A]), and bf16
        # rounding of the weights here is the location features' largest error in the eager bf16 step
        location = tl.dot(window, kernel.to(tl.float32), input_precision="ieee")  # [BLOCK_L, BLOCK_A]
        real = (pos < length)[:, None] & (dims < attention_dim)[None, :]
        processed = tl.load(
            processed_ptr + item * processed_sb + pos[:, None] * processed_sl + dims[None, :],
            mask=real,
            other=0.0,
        )
        query = tl.load(query_ptr + item * query_sb + dims, mask=dims < attention_dim, other=0.0)
        x = location + processed.to(tl.float32) + query.to(tl.float32)[None, :]
        tanh = 2.0 * tl.sigmoid(2.0 * x) - 1.0
        v = tl.load(v_ptr + dims, mask=dims < attention_dim, other=0.0).to(tl.float32)
        energy = tl.sum(tanh * v[None, :], axis=1)
        keep = tl.load(mask_ptr + item * mask_sb + pos, mask=pos < length, other=0)
        energy = tl.where(keep != 0, energy, -3.4028234663852886e38)  # fp32's most negative finite value
        tl.store(out_ptr + item * length + pos, energy, mask=pos < length)

    @triton.jit
    def context(
        energy_ptr, memory_ptr, cum_ptr, weights_out_ptr, cum_out_ptr, context_ptr,
        length, channels, memory_sb, memory_sl, cum_sb,
        BLOCK_L: tl.constexpr, BLOCK_E: tl.constexpr,
    ):  # fmt: skip
        item = tl.program_id(0)
        block = tl.program_id(1)
        row = energy_ptr + item * length
        # softmax normaliser over the whole text in one pass (a running maximum rescales the sum)
        top = tl.max(tl.full([BLOCK_L], float("-inf"), tl.float32))
        total = tl.sum(tl.zeros([BLOCK_L], tl.float32))
        for start in range(0, length, BLOCK_L):
            pos = start + tl.arange(0, BLOCK_L)
            energy = tl.load(row + pos, mask=pos < length, other=float("-inf"))
            new_top = tl.maximum(top, tl.max(energy))  # finite: every block read has a real position
            total = total * tl.exp(top - new_top) + tl.sum(tl.exp(energy - new_top))
            top = new_top
        chans = block * BLOCK_E + tl.arange(0, BLOCK_E)
        acc = tl.zeros([BLOCK_E], dtype=tl.float32)
        for start in range(0, length, BLOCK_L):
            pos = start + tl.arange(0, BLOCK_L)
            real = pos < length
            weight = tl.exp(tl.load(row + pos, mask=real, other=-float("inf")) - top) / total
            first = real & ((pos * 0 + block) == 0)  # one program per item writes the weights
            tl.store(weights_out_ptr + item * length + pos, weight, mask=first)
            cum = tl.load(cum_ptr + item * cum_sb + pos, mask=first, other=0.0).to(tl.float32)
            tl.store(
                cum_out_ptr + item * length + pos, (cum + weight).to(cum_out_ptr.dtype.element_ty), mask=first
            )
            values = tl.load(
                memory_ptr + item * memory_sb + pos[:, None] * memory_sl + chans[None, :],
                mask=real[:, None] & (chans < channels)[None, :],
                other=0.0,
            )
            acc += tl.sum(weight[:, None] * values.to(tl.float32), axis=0)
        tl.store(
            context_ptr + item * channels + chans, acc.to(context_ptr.dtype.element_ty), mask=chans < channels
        )

    return SimpleNamespace(energies=energies, context=context)
