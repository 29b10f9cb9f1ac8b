"""Global Style Tokens (Wang et al. 2018): a reference encoder and a bank of learned style tokens.

Why this shape: a style embedding combined with the encoder outputs one way in training and another
way at inference gives the model at inference an input it never learned from, so there is one path. Every style, whatever its source, becomes token attention weights
[B, heads, n_tokens], and `GlobalStyleTokens.embedding_from_weights` turns weights into the style
embedding; `condition` adds it (projected to the encoder size) to every real encoder position.

- Training: the reference is the target mel itself; the reference encoder's summary is the query of a
  multi-head attention over tanh(tokens); its weights go through `embedding_from_weights`.
- Inference from audio: the same reference encoder and attention over a reference mel.
- Inference from token weights ("3:0.5,5:0.5"): the weights are used for every head. Because the
  value projection has no bias, that embedding is exactly sum_k w_k * value(tanh(token_k)), the
  weighted sum of the tokens as the attention sees them. Weights need not sum to 1 (training weights
  do, per head); larger sums exaggerate the style.
- No style given: uniform weights (1 / n_tokens), the mean of the tokens.

Projected-add instead of concatenation: adding W s to each encoder state equals concatenating s and
letting the next linear layers learn W, and it keeps the decoder's sizes (and its checkpoints) the same.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tacotron.data.batch import lengths_to_mask


class ReferenceEncoder(nn.Module):
    """mel [B, n_mels, T], lengths [B] -> summary [B, gru_dim].

    Conv2d(3x3, stride 2) + BatchNorm + ReLU per channel entry, then a GRU over time whose last state is
    the summary. Frames past each length are zeroed after every layer and the summary is read at each item's
    last real step, so (in eval mode) an item's summary does not depend on the padding of the batch it is in.
    """

    def __init__(self, *, n_mels: int, channels: list[int], gru_dim: int):
        super().__init__()
        if not channels or any(c < 1 for c in channels):
            raise ValueError(
                f"model.gst_ref_channels must be a non-empty list of positive ints, got {channels}"
            )
        dims = [1, *channels]
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, kernel_size=3, stride=2, padding=1)
            for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        self.norms = nn.ModuleList(nn.BatchNorm2d(c) for c in channels)
        freq = n_mels
        for _ in channels:
            freq = _downsampled(freq)
        self.gru = nn.GRU(channels[-1] * freq, gru_dim, batch_first=True)

    def forward(self, mel: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = mel.transpose(1, 2).unsqueeze(1)  # (B, 1, T, n_mels)
        x = x * lengths_to_mask(lengths, x.size(2))[:, None, :, None].to(x.dtype)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            x = F.relu(norm(conv(x)))
            lengths = _downsampled(lengths)
            x = x * lengths_to_mask(lengths, x.size(2))[:, None, :, None].to(x.dtype)
        b, c, t, f = x.shape
        x = x.permute(0, 2, 1, 3).reshape(b, t, c * f)  # (B, T', C * F')
        # A forward GRU's output at the last real step equals its final state on the packed sequence,
        # without packing's lengths.cpu() host sync (so CUDA graphs can capture it).
        out, _ = self.gru(x)  # (B, T', gru_dim)
        return out[torch.arange(b, device=x.device), lengths - 1]


def _downsampled(n: int | torch.Tensor) -> int | torch.Tensor:
    """Length after a kernel-3, stride-2, padding-1 convolution: ceil(n / 2) (ints or LongTensors)."""
    return (n - 1) // 2 + 1


class StyleTokenLayer(nn.Module):
    """n_tokens learned tokens; multi-head attention from a query to tanh(tokens).

    `attention_weights(query)` -> [B, heads, n_tokens]; `combine(weights)` -> [B, token_dim].
    """

    def __init__(self, *, query_dim: int, n_tokens: int, token_dim: int, n_heads: int):
        super().__init__()
        if n_tokens < 1 or n_heads < 1 or token_dim % n_heads:
            raise ValueError(
                f"GST needs n_tokens >= 1 and gst_token_dim divisible by gst_heads; "
                f"got n_tokens={n_tokens}, token_dim={token_dim}, heads={n_heads}"
            )
        self.n_tokens = n_tokens
        self.n_heads = n_heads
        self.head_dim = token_dim // n_heads
        self.tokens = nn.Parameter(torch.randn(n_tokens, self.head_dim) * 0.5)  # N(0, 0.5) as in the paper
        self.query = nn.Linear(query_dim, token_dim, bias=False)
        self.key = nn.Linear(self.head_dim, token_dim, bias=False)
        self.value = nn.Linear(self.head_dim, token_dim, bias=False)  # no bias: see module docstring

    def attention_weights(self, query: torch.Tensor) -> torch.Tensor:
        """query [B, query_dim] -> softmax weights [B, heads, n_tokens] (each head sums to 1)."""
        b = query.size(0)
        q = self.query(query).view(b, self.n_heads, self.head_dim)  # (B, H, d)
        k = self.key(torch.tanh(self.tokens)).view(self.n_tokens, self.n_heads, self.head_dim)  # (N, H, d)
        scores = torch.einsum("bhd,nhd->bhn", q, k) / math.sqrt(self.head_dim)
        return F.softmax(scores, dim=-1)

    def combine(self, weights: torch.Tensor) -> torch.Tensor:
        """weights [B, heads, n_tokens] (or [B, n_tokens], used for every head) -> [B, token_dim]."""
        if weights.dim() == 2:
            weights = weights.unsqueeze(1).expand(-1, self.n_heads, -1)
        if weights.dim() != 3 or weights.shape[1:] != (self.n_heads, self.n_tokens):
            raise ValueError(
                f"style weights must be [B, {self.n_tokens}] or [B, {self.n_heads}, {self.n_tokens}] "
                f"(n_tokens={self.n_tokens}, heads={self.n_heads}), got {tuple(weights.shape)}"
            )
        v = self.value(torch.tanh(self.tokens)).view(self.n_tokens, self.n_heads, self.head_dim)  # (N, H, d)
        out = torch.einsum("bhn,nhd->bhd", weights.to(v.dtype), v)  # (B, H, d)
        return out.reshape(weights.size(0), self.n_heads * self.head_dim)


class GlobalStyleTokens(nn.Module):
    """Reference encoder + style token layer + projection to the encoder size."""

    def __init__(
        self,
        *,
        n_mels: int,
        encoder_dim: int,
        ref_channels: list[int],
        ref_gru_dim: int,
        n_tokens: int,
        token_dim: int,
        n_heads: int,
    ):
        super().__init__()
        self.reference_encoder = ReferenceEncoder(n_mels=n_mels, channels=ref_channels, gru_dim=ref_gru_dim)
        self.style_tokens = StyleTokenLayer(
            query_dim=ref_gru_dim, n_tokens=n_tokens, token_dim=token_dim, n_heads=n_heads
        )
        self.projection = nn.Linear(token_dim, encoder_dim)

    @property
    def n_tokens(self) -> int:
        return self.style_tokens.n_tokens

    def weights_from_reference(self, mel: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Reference mel [B, n_mels, T] with real lengths [B] -> token weights [B, heads, n_tokens]."""
        return self.style_tokens.attention_weights(self.reference_encoder(mel, lengths))

    def uniform_weights(self, batch_size: int, like: torch.Tensor) -> torch.Tensor:
        """[B, n_tokens] of 1 / n_tokens: the style used when none is given."""
        return like.new_full((batch_size, self.n_tokens), 1.0 / self.n_tokens)

    def embedding_from_weights(self, weights: torch.Tensor) -> torch.Tensor:
        """Token weights -> style embedding [B, encoder_dim]; the one way any style enters the model."""
        return self.projection(self.style_tokens.combine(weights))

    @staticmethod
    def condition(memory: torch.Tensor, text_lengths: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """memory [B, L, E] + embedding [B, E] at real positions (padding stays 0, as the encoder leaves it)."""
        keep = lengths_to_mask(text_lengths, memory.size(1)).unsqueeze(2).to(memory.dtype)  # (B, L, 1)
        return memory + embedding.unsqueeze(1).to(memory.dtype) * keep


def parse_style_tokens(spec: str, n_tokens: int) -> torch.Tensor:
    """ "3:0.5,5:0.5" -> weights [n_tokens] (unnamed tokens 0). Clear errors for bad ids or numbers."""
    weights = torch.zeros(n_tokens)
    seen: set[int] = set()
    for part in spec.split(","):
        token, sep, value = part.strip().partition(":")
        if not sep:
            raise ValueError(
                f"--style-token entry {part.strip()!r} must look like TOKEN_ID:WEIGHT (e.g. 3:0.5)"
            )
        try:
            index, weight = int(token), float(value)
        except ValueError:
            raise ValueError(
                f"--style-token entry {part.strip()!r}: id must be an int and weight a number"
            ) from None
        if not 0 <= index < n_tokens:
            raise ValueError(
                f"--style-token id {index} is out of range: the model has tokens 0..{n_tokens - 1}"
            )
        if index in seen:
            raise ValueError(f"--style-token id {index} is given twice in {spec!r}")
        if not math.isfinite(weight):
            raise ValueError(f"--style-token weight for token {index} must be finite, got {value!r}")
        seen.add(index)
        weights[index] = weight
    return weights
