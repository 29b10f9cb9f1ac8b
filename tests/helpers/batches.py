"""Random padded batches built through the real collate (`TextMelCollate`), for model and loss tests."""

from __future__ import annotations

import torch

from tacotron.data.batch import Batch, Utterance
from tacotron.data.collate import TextMelCollate

N_SYMBOLS = 24  # symbol ids are drawn from [2, N_SYMBOLS): no pad (0) or EOS (1) inside the text


def random_batch(
    text_lengths: list[int], mel_lengths: list[int], r: int = 1, n_mels: int = 80, seed: int = 0
) -> Batch:
    """Items u0, u1, ... with random ids and random mels [n_mels, frames], collated for reduction factor r."""
    gen = torch.Generator().manual_seed(seed)
    items = [
        Utterance(
            f"u{i}", torch.randint(2, N_SYMBOLS, (tl,), generator=gen), torch.randn(n_mels, ml, generator=gen)
        )
        for i, (tl, ml) in enumerate(zip(text_lengths, mel_lengths, strict=True))
    ]
    return TextMelCollate(r)(items)
