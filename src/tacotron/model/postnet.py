"""Postnet: N x (Conv1d + BatchNorm [+ tanh] + dropout) predicting a residual added to the mel.

Padded frames are zeroed before the first conv and after every block, so the residual at an item's
real frames does not depend on how much padding (or which other items) the batch has; at inference
this is what makes batched synthesis equal to one-at-a-time synthesis.
"""

from __future__ import annotations

import torch
from torch import nn

from tacotron.model.dropout import dropout


class Postnet(nn.Module):
    """mel [B, n_mels, T], mask [B, T] (True = real) -> residual [B, n_mels, T] (0 where mask is False)."""

    def __init__(
        self, *, n_mels: int, embedding_dim: int, kernel_size: int, n_convolutions: int, dropout: float
    ):
        super().__init__()
        if n_convolutions < 1:
            raise ValueError(f"postnet_n_convolutions must be >= 1, got {n_convolutions}")
        if kernel_size % 2 == 0:
            raise ValueError(f"postnet_kernel_size must be odd to keep lengths, got {kernel_size}")
        dims = [n_mels] + [embedding_dim] * (n_convolutions - 1) + [n_mels]
        pad = (kernel_size - 1) // 2
        self.convs = nn.ModuleList(
            nn.Conv1d(a, b, kernel_size, padding=pad) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        self.norms = nn.ModuleList(nn.BatchNorm1d(b) for b in dims[1:])
        self.dropout = dropout

    def forward(self, mel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        keep = mask.unsqueeze(1).to(mel.dtype)  # (B, 1, T)
        x = mel * keep
        last = len(self.convs) - 1
        for i, (conv, norm) in enumerate(zip(self.convs, self.norms, strict=True)):
            x = norm(conv(x))
            if i < last:
                x = torch.tanh(x)
            x = dropout(x, self.dropout, self.training) * keep
        return x
