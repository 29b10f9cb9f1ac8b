"""Text encoder: embedding -> N x (Conv1d + BatchNorm + ReLU + dropout) -> bidirectional LSTM.

Masking is exact, so the encoding of an item never depends on what else is in the batch: padded
positions are zeroed after the embedding and after every conv block (a kernel of width 5 would
otherwise read padding into the last real positions), and the LSTM runs on packed sequences.
BatchNorm in training mode still sees batch statistics, by design of the reference model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from tacotron.data.batch import lengths_to_mask
from tacotron.model.dropout import dropout
from tacotron.model.fast_lstm import bilstm_padded


class Encoder(nn.Module):
    """text [B, L] (0 = pad), lengths [B] -> memory [B, L, encoder_dim] (zeros past each length)."""

    def __init__(
        self,
        *,
        n_symbols: int,
        embedding_dim: int,
        encoder_dim: int,
        n_convolutions: int,
        kernel_size: int,
        dropout: float,
    ):
        super().__init__()
        if encoder_dim % 2:
            raise ValueError(f"encoder_embedding_dim must be even (BiLSTM halves), got {encoder_dim}")
        if kernel_size % 2 == 0:
            raise ValueError(f"encoder_kernel_size must be odd to keep lengths, got {kernel_size}")
        self.embedding = nn.Embedding(n_symbols, embedding_dim, padding_idx=0)
        bound = math.sqrt(3.0) * math.sqrt(2.0 / (n_symbols + embedding_dim))
        with torch.no_grad():
            self.embedding.weight.uniform_(-bound, bound)
            self.embedding.weight[0].zero_()
        dims = [embedding_dim] + [encoder_dim] * n_convolutions
        self.convs = nn.ModuleList(
            nn.Conv1d(a, b, kernel_size, padding=(kernel_size - 1) // 2)
            for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        self.norms = nn.ModuleList(nn.BatchNorm1d(encoder_dim) for _ in range(n_convolutions))
        self.dropout = dropout
        self.lstm = nn.LSTM(dims[-1], encoder_dim // 2, batch_first=True, bidirectional=True)
        # True: run the BiLSTM without packing (no lengths.cpu() host sync), as CUDA graph capture
        # needs; same result (tacotron.model.fast_lstm). Set by the fast paths in tacotron.train.graphs.
        self.capturable = False

    def forward(self, text: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        keep = lengths_to_mask(lengths, text.size(1)).unsqueeze(1)  # (B, 1, L)
        x = self.embedding(text).transpose(1, 2)  # (B, C, L)
        x = x * keep.to(x.dtype)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = dropout(F.relu(norm(conv(x))), self.dropout, self.training)
            x = x * keep.to(x.dtype)
        if self.capturable:
            return bilstm_padded(self.lstm, x.transpose(1, 2), lengths)  # (B, L, encoder_dim)
        packed = pack_padded_sequence(
            x.transpose(1, 2), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=text.size(1))
        return out  # (B, L, encoder_dim)
