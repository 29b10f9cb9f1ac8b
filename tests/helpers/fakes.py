"""Stand-ins for real parts: a tiny Tacotron-shaped model and batch (health tests), a spying Synthesizer (serve)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch
from torch import nn

from tacotron.data.batch import Batch


@dataclass
class FakeOutput:
    mel: torch.Tensor
    mel_postnet: torch.Tensor
    gate_logits: torch.Tensor
    alignments: torch.Tensor
    r: int


class FakeDecoder(nn.Module):
    def __init__(self, n_mels: int, dim: int):
        super().__init__()
        self.prenet = nn.Linear(n_mels, dim)
        self.attention_layer = nn.Linear(dim, dim)
        self.linear_projection = nn.Linear(2 * dim, n_mels)
        self.gate_layer = nn.Linear(2 * dim, 1)


class FakeTacotron(nn.Module):
    """embedding -> encoder; decoder(prenet, attention_layer, linear_projection, gate_layer); postnet."""

    def __init__(self, n_symbols: int = 10, n_mels: int = 8, dim: int = 6):
        super().__init__()
        self.embedding = nn.Embedding(n_symbols, dim)
        self.encoder = nn.Linear(dim, dim)
        self.decoder = FakeDecoder(n_mels, dim)
        self.postnet = nn.Linear(n_mels, n_mels)

    def forward(self, text, text_lengths, mels, mel_lengths, *, r: int) -> FakeOutput:
        memory = self.encoder(self.embedding(text))  # (B, L, D)
        frames = mels[:, :, ::r].transpose(1, 2)  # (B, T//r, n_mels)
        query = self.decoder.attention_layer(self.decoder.prenet(frames))  # (B, T//r, D)
        mask = torch.arange(text.size(1))[None, :] < text_lengths[:, None]
        scores = (query @ memory.transpose(1, 2)).masked_fill(~mask[:, None, :], -1e9)
        align = torch.softmax(scores, dim=-1)  # (B, T//r, L)
        hidden = torch.cat([query, align @ memory], dim=-1)
        mel = self.decoder.linear_projection(hidden).repeat_interleave(r, 1).transpose(1, 2)
        gate = self.decoder.gate_layer(hidden).squeeze(-1).repeat_interleave(r, 1)
        post = mel + self.postnet(mel.transpose(1, 2)).transpose(1, 2)
        return FakeOutput(mel, post, gate, align, r)


def fake_batch(n: int = 3, n_mels: int = 8, r: int = 1, seed: int = 0) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    text_lengths = torch.tensor([7, 5, 4][:n])
    mel_lengths = torch.tensor([12, 9, 6][:n])
    length = -(-int(mel_lengths.max()) // r) * r
    text = torch.randint(2, 10, (n, int(text_lengths.max())), generator=gen)
    text = text * (torch.arange(text.size(1))[None, :] < text_lengths[:, None])
    mels = torch.randn(n, n_mels, length, generator=gen)
    gate = (torch.arange(length)[None, :] >= (mel_lengths - 1)[:, None]).float()
    return Batch(
        ids=[f"utt{i}" for i in range(n)],
        text=text,
        text_lengths=text_lengths,
        mels=mels,
        mel_lengths=mel_lengths,
        gate_target=gate,
        r=r,
    )


class SpySynthesizer:
    """Wraps the real Synthesizer: records every batch and can hold calls until `release` is set."""

    def __init__(self, inner, hold: bool = False) -> None:
        self.inner = inner
        self.cfg = inner.cfg
        self.step = inner.step
        self.calls: list[tuple[list[str], int | None]] = []
        self.release = threading.Event()
        self.entered = threading.Event()
        if not hold:
            self.release.set()

    def synthesize(self, texts, batch_size=8, *, seed=None):
        self.calls.append((list(texts), seed))
        self.entered.set()
        if not self.release.wait(timeout=30):
            raise RuntimeError("SpySynthesizer was never released")
        return self.inner.synthesize(texts, batch_size=batch_size, seed=seed)
