"""Decoder prenet: a bottleneck of ReLU layers with dropout that stays on (Shen et al. 2018).

Why dropout at inference: the paper keeps it on so the autoregressive decoder does not lock onto
its own previous frame; the caller decides (`dropout_active`), and a `torch.Generator` makes the
masks reproducible for seeded synthesis.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tacotron.model.dropout import dropout


class Prenet(nn.Module):
    """Linear(no bias) + ReLU + dropout, `len(sizes)` times: [..., in_dim] -> [..., sizes[-1]]."""

    def __init__(self, *, in_dim: int, sizes: list[int], dropout: float):
        super().__init__()
        if not sizes:
            raise ValueError("Prenet needs at least one layer (prenet_n_layers >= 1)")
        dims = [in_dim, *sizes]
        self.layers = nn.ModuleList(
            nn.Linear(a, b, bias=False) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        self.dropout = dropout

    def forward(
        self, x: torch.Tensor, *, dropout_active: bool, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        for linear in self.layers:
            x = F.relu(linear(x))
            x = dropout(x, self.dropout, dropout_active, generator)
        return x
