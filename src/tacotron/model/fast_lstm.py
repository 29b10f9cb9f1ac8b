"""A bidirectional LSTM over padded sequences that needs no host synchronisation.

Why: `pack_padded_sequence` needs the lengths on the CPU (`lengths.cpu()`), a host sync that a CUDA
graph cannot capture. The packed result is reproduced exactly with two unidirectional cuDNN calls:
the forward direction runs over the padded batch as it is (outputs at real positions never see the
padding that follows them), and the backward direction runs *forward* over each sequence reversed
within its own length (a gather), whose outputs are reversed back with the same gather. Positions
past each length are zeroed, as `pad_packed_sequence` does.
"""

from __future__ import annotations

import torch
from torch import nn


def reverse_within_lengths(lengths: torch.Tensor, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (index [B, max_len], valid [B, max_len]); index[b, t] = len_b - 1 - t for real t, t otherwise.

    The map is its own inverse, so the same gather reverses inputs and restores outputs.
    """
    positions = torch.arange(max_len, device=lengths.device).unsqueeze(0)  # (1, L)
    lengths = lengths.to(positions.device).unsqueeze(1)  # (B, 1)
    valid = positions < lengths
    index = torch.where(valid, lengths - 1 - positions, positions.expand_as(valid))
    return index, valid


def _run_direction(lstm: nn.LSTM, x: torch.Tensor, suffix: str) -> torch.Tensor:
    """One direction of a 1-layer (bi)LSTM's weights run forward over x [B, L, C] -> [B, L, H]."""
    weights = [
        getattr(lstm, f"weight_ih_l0{suffix}"),
        getattr(lstm, f"weight_hh_l0{suffix}"),
        getattr(lstm, f"bias_ih_l0{suffix}"),
        getattr(lstm, f"bias_hh_l0{suffix}"),
    ]
    zeros = x.new_zeros(1, x.size(0), lstm.hidden_size)
    out, _, _ = torch.lstm(x, (zeros, zeros), weights, True, 1, 0.0, lstm.training, False, True)
    return out


def bilstm_padded(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """x [B, L, C] (batch_first), lengths [B] on x's device -> [B, L, 2H], equal to the packed BiLSTM.

    `lstm` must be a 1-layer, bidirectional, batch_first `nn.LSTM` with biases (the encoder's).
    """
    if not (lstm.bidirectional and lstm.num_layers == 1 and lstm.batch_first and lstm.bias):
        raise ValueError(
            "bilstm_padded needs a 1-layer bidirectional batch_first LSTM with biases, got "
            f"num_layers={lstm.num_layers}, bidirectional={lstm.bidirectional}, batch_first={lstm.batch_first}"
        )
    index, valid = reverse_within_lengths(lengths, x.size(1))
    gather_in = index.unsqueeze(2).expand(-1, -1, x.size(2))
    forward = _run_direction(lstm, x, "")
    backward_rev = _run_direction(lstm, x.gather(1, gather_in), "_reverse")
    backward = backward_rev.gather(1, index.unsqueeze(2).expand(-1, -1, backward_rev.size(2)))
    out = torch.cat([forward, backward], dim=2)
    return out * valid.unsqueeze(2).to(out.dtype)
