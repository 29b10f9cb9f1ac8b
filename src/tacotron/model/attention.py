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

    def energies(
        self, query: torch.Tensor, processed_memory: torch.Tensor, weights_cat: torch.Tensor
    ) -> torch.Tensor:
        """query [B, Q], processed_memory [B, L, A], weights_cat [B, 2, L] -> energies [B, L]."""
        processed_query = self.query_layer(query).unsqueeze(1)  # (B, 1, A)
        return self.v(torch.tanh(processed_query + self.location(weights_cat) + processed_memory)).squeeze(-1)

    def location(self, weights_cat: torch.Tensor) -> torch.Tensor:
        """weights_cat [B, 2, L] -> location features [B, L, A].

        `location_dense(location_conv(x))` is linear in x, so it runs as one conv whose kernel is the
        dense weight applied to the conv kernel: the same parameters and result with one op instead of
        conv + transpose copy + matmul per decoder step (1.86 -> 1.28 ms fwd+bwd on CPU at the demo sizes).
        """
        conv = self.location_conv
        kernel = torch.einsum("af,fck->ack", self.location_dense.weight, conv.weight)  # (A, 2, K)
        return F.conv1d(weights_cat, kernel.to(weights_cat.dtype), padding=conv.padding).transpose(1, 2)

    def forward(
        self,
        query: torch.Tensor,
        memory: torch.Tensor,
        processed_memory: torch.Tensor,
        weights_cat: torch.Tensor,
        mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (context [B, E], weights [B, L]); weights are exactly 0 where mask is False."""
        energies = self.energies(query, processed_memory, weights_cat)
        energies = energies.masked_fill(~mask, torch.finfo(energies.dtype).min)
        weights = F.softmax(energies, dim=1)
        context = torch.bmm(weights.unsqueeze(1).to(memory.dtype), memory).squeeze(1)
        return context, weights
