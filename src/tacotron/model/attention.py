"""Location-sensitive attention (Chorowski et al. 2015, as used by Tacotron 2).

Energies at padded text positions are filled with the dtype's most negative *finite* value, not
-inf: under bf16/fp16 autocast -inf arithmetic can produce NaN, while exp(min - max) is exactly 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LocationSensitiveAttention(nn.Module):
    """Content + location attention over the encoder memory.

    The location features come from a conv over [previous weights, cumulative weights], which is
    what lets the alignment move forward monotonically.
    """

    def __init__(
        self, *, query_dim: int, memory_dim: int, attention_dim: int, n_filters: int, kernel_size: int
    ):
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"attention_location_kernel_size must be odd, got {kernel_size}")
        self.query_layer = nn.Linear(query_dim, attention_dim, bias=False)
        self.memory_layer = nn.Linear(memory_dim, attention_dim, bias=False)
        self.v = nn.Linear(attention_dim, 1, bias=False)
        self.location_conv = nn.Conv1d(2, n_filters, kernel_size, padding=(kernel_size - 1) // 2, bias=False)
        self.location_dense = nn.Linear(n_filters, attention_dim, bias=False)

    def process_memory(self, memory: torch.Tensor) -> torch.Tensor:
        """[B, L, E] -> [B, L, A]; computed once per utterance, not once per decoder step."""
        return self.memory_layer(memory)

    def location_kernel(self) -> torch.Tensor:
        """The location layer as one conv kernel [A, 2, K]; a function of the weights only, so a decoding
        loop computes it once, not once per step.

        `location_dense(location_conv(x))` is linear in x, so it runs as one conv whose kernel is the
        dense weight applied to the conv kernel: the same parameters and result with one op instead of
        conv + transpose copy + matmul per decoder step (1.86 -> 1.28 ms fwd+bwd on CPU at the demo sizes).
        """
        return torch.einsum("af,fck->ack", self.location_dense.weight, self.location_conv.weight)

    def attend(
        self,
        processed_query: torch.Tensor,
        memory: torch.Tensor,
        processed_memory: torch.Tensor,
        weights_cat: torch.Tensor,
        mask: torch.Tensor,
        location_kernel: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One step from a projected query [B, A] -> (context [B, E], weights [B, L]); weights are exactly
        0 where mask is False. The math is `attend` (module level), with this module's parameters."""
        return attend(
            processed_query, memory, processed_memory, weights_cat, mask, location_kernel, self.v.weight
        )

    def forward(
        self,
        query: torch.Tensor,
        memory: torch.Tensor,
        processed_memory: torch.Tensor,
        weights_cat: torch.Tensor,
        mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """`attend` from the raw query [B, Q]: (context [B, E], weights [B, L])."""
        return self.attend(
            self.query_layer(query), memory, processed_memory, weights_cat, mask, self.location_kernel()
        )


def attend(
    processed_query: torch.Tensor,
    memory: torch.Tensor,
    processed_memory: torch.Tensor,
    weights_cat: torch.Tensor,
    mask: torch.Tensor,
    location_kernel: torch.Tensor,
    v_weight: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The attention step as a pure function (tensors in, tensors out), the one place its math lives.

    processed_query [B, A] (`query_layer` of the query), memory [B, L, E], processed_memory [B, L, A],
    weights_cat [B, 2, L] (previous and cumulative weights), mask [B, L] (True = real), location_kernel
    [A, 2, K] (`location_kernel`, K odd), v_weight [1, A] -> (context [B, E], weights [B, L]).
    Why a function: the decoder's `attention_step` (eager or `torch.compile`d) calls it with no module
    or Python state in between, and `LocationSensitiveAttention.attend` calls it with its parameters.
    """
    energies = location_energies(processed_query, processed_memory, weights_cat, location_kernel, v_weight)
    energies = energies.masked_fill(~mask, torch.finfo(energies.dtype).min)
    weights = F.softmax(energies, dim=1)
    context = torch.bmm(weights.unsqueeze(1).to(memory.dtype), memory).squeeze(1)
    return context, weights


def location_energies(
    processed_query: torch.Tensor,
    processed_memory: torch.Tensor,
    weights_cat: torch.Tensor,
    location_kernel: torch.Tensor,
    v_weight: torch.Tensor,
) -> torch.Tensor:
    """Energies [B, L] = v(tanh(query + location features + processed memory)), before masking.

    The location features are one conv of weights_cat by the folded kernel (`location_kernel`), padded
    to keep length L (K is odd).
    """
    conv = location_conv_op if torch.compiler.is_compiling() else _location_conv
    # the cast is autocast's own (a conv runs in the kernel's dtype); explicit, the op's dtype is plain
    location = conv(weights_cat.to(location_kernel.dtype), location_kernel).transpose(1, 2)
    return F.linear(torch.tanh(processed_query.unsqueeze(1) + location + processed_memory), v_weight).squeeze(
        -1
    )


def _location_conv(weights_cat: torch.Tensor, location_kernel: torch.Tensor) -> torch.Tensor:
    """weights_cat [B, 2, L], kernel [A, 2, K] (K odd) -> [B, A, L]."""
    return F.conv1d(weights_cat, location_kernel, padding=location_kernel.size(-1) // 2)


# --- the location conv as an opaque op inside torch.compile ---------------------------------------------
# Why: inductor's lowering of a conv's backward (torch 2.13, `convolution_backward_lowering`) guards the
# input gradient's strides as integers, which makes the text length L static: every new text length
# would compile the step anew (seen on CPU; the code path is the same for CUDA). As a custom op with an
# opaque backward, the conv and its backward run the same ATen/cuDNN kernels inductor would have called
# (it has no fused conv for this shape), the compiled step stays dynamic in L and has no graph break.
# Eager code calls `_location_conv` directly.


@torch.library.custom_op("tacotron::location_conv", mutates_args=())
def location_conv_op(weights_cat: torch.Tensor, location_kernel: torch.Tensor) -> torch.Tensor:
    """`_location_conv` as one op (inputs of one dtype); output contiguous, as its fake says."""
    return _location_conv(weights_cat, location_kernel).contiguous()


@location_conv_op.register_fake
def _(weights_cat: torch.Tensor, location_kernel: torch.Tensor) -> torch.Tensor:
    return weights_cat.new_empty(weights_cat.size(0), location_kernel.size(0), weights_cat.size(2))


@torch.library.custom_op("tacotron::location_conv_backward", mutates_args=())
def _location_conv_backward(
    grad: torch.Tensor, weights_cat: torch.Tensor, location_kernel: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients of `location_conv_op` for weights_cat and location_kernel (both contiguous)."""
    padding = location_kernel.size(-1) // 2
    grad_input, grad_kernel, _ = torch.ops.aten.convolution_backward(
        grad.to(weights_cat.dtype), weights_cat, location_kernel, None, [1], [padding], [1], False, [0], 1,
        [True, True, False],
    )  # fmt: skip
    return grad_input.contiguous(), grad_kernel.contiguous()


@_location_conv_backward.register_fake
def _(
    grad: torch.Tensor, weights_cat: torch.Tensor, location_kernel: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    return weights_cat.new_empty(weights_cat.shape), location_kernel.new_empty(location_kernel.shape)


def _save_conv_inputs(ctx, inputs: tuple[torch.Tensor, torch.Tensor], output: torch.Tensor) -> None:
    ctx.save_for_backward(*inputs)


def _location_conv_grads(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return _location_conv_backward(grad, *ctx.saved_tensors)


location_conv_op.register_autograd(_location_conv_grads, setup_context=_save_conv_inputs)
