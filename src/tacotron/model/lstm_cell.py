"""The LSTM cell's pointwise half, for loops that compute the gate matmuls themselves.

Why: `nn.LSTMCell` multiplies its whole input by `weight_ih` at every step. Under teacher forcing
most of that input is known for all steps before the loop starts (the prenet frames; for the decoder
LSTM, every attention output), so the decoder computes those gate parts as one large matmul and only
the recurrent part per step; this function then finishes the cell exactly as `nn.LSTMCell` does.
"""

from __future__ import annotations

import torch


def lstm_pointwise(
    input_gates: torch.Tensor, hidden_gates: torch.Tensor, cell: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gate pre-activations [B, 4H] (input and recurrent parts, biases included, `nn.LSTMCell`'s
    i, f, g, o order) and cell [B, H] -> (hidden, cell).

    On CUDA this is the fused kernel `nn.LSTMCell` itself runs (one launch, with its own backward); on
    other devices, and inside `torch.compile` (where the fused kernel would be an opaque fallback that
    inductor cannot fuse with its neighbours), the same arithmetic written out.
    """
    if input_gates.is_cuda and not torch.compiler.is_compiling():
        hidden, cell, _ = torch.ops.aten._thnn_fused_lstm_cell(
            input_gates, hidden_gates.to(input_gates.dtype), cell.to(input_gates.dtype)
        )
        return hidden, cell
    i, f, g, o = (input_gates + hidden_gates).chunk(4, dim=-1)
    cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cell), cell
