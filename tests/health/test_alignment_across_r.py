"""The r-independent alignment measure: a perfect alignment scores the same at every reduction factor r,
a broken one scores low at every r (raw diagonality does neither)."""

from __future__ import annotations

import pytest
import torch

from tacotron.metrics.attention import attention_health

SYMBOLS = 30


def perfect(frames_per_symbol: int, r: int, symbols: int = SYMBOLS) -> torch.Tensor:
    """The attention of a perfect reader at r: each decoder step's weight is the share of its r frames
    spent on each symbol (a hard one-symbol-per-frame alignment averaged over the step's frames)."""
    frames = symbols * frames_per_symbol
    per_frame = torch.nn.functional.one_hot(torch.arange(frames) // frames_per_symbol, symbols).float()
    steps = -(-frames // r)
    return torch.stack([per_frame[t * r : (t + 1) * r].mean(0) for t in range(steps)])


def health(alignment: torch.Tensor) -> dict[str, float]:
    steps, symbols = alignment.shape
    return attention_health(alignment[None], torch.tensor([symbols]), torch.tensor([steps]))


@pytest.mark.parametrize("frames_per_symbol", [3, 5])
def test_a_perfect_alignment_scores_the_same_at_r_1_2_4_6(frames_per_symbol):
    scores = {r: health(perfect(frames_per_symbol, r)) for r in (1, 2, 4, 6)}
    aligned = [s["attn/alignment"] for s in scores.values()]
    assert min(aligned) > 0.95 and max(aligned) - min(aligned) < 0.05
    # what the measure fixes: raw diagonality of the same perfect reading falls with r
    assert scores[6]["attn/diagonality"] < scores[1]["attn/diagonality"] - 0.2


def _broken(kind: str, r: int) -> torch.Tensor:
    """A broken alignment with as many decoder steps as a correct reading at this r."""
    steps = perfect(4, r).size(0)
    if kind == "uniform":
        return torch.full((steps, SYMBOLS), 1 / SYMBOLS)
    if kind == "stuck":
        return torch.nn.functional.one_hot(torch.zeros(steps, dtype=torch.long), SYMBOLS).float()
    if kind == "scrambled":
        positions = torch.randint(0, SYMBOLS, (steps,), generator=torch.Generator().manual_seed(0))
        return torch.nn.functional.one_hot(positions, SYMBOLS).float()
    return perfect(4, r).flip(0)  # "reversed": reads the text backwards


@pytest.mark.parametrize("kind", ["uniform", "stuck", "scrambled", "reversed"])
@pytest.mark.parametrize("r", [1, 2, 4, 6])
def test_a_broken_alignment_scores_low_at_every_r(kind, r):
    assert health(_broken(kind, r))["attn/alignment"] < 0.25


def test_padding_does_not_change_the_measure():
    alone = health(perfect(3, 4))["attn/alignment"]
    item = perfect(3, 4)
    padded = torch.zeros(2, item.size(0) + 7, SYMBOLS + 5)
    padded[0, : item.size(0), :SYMBOLS] = item
    padded[1] = 1 / (SYMBOLS + 5)
    lengths = torch.tensor([SYMBOLS, SYMBOLS + 5]), torch.tensor([item.size(0), item.size(0) + 7])
    from tacotron.metrics.attention import attention_health_per_item

    per_item = attention_health_per_item(padded, *lengths)["attn/alignment"]
    assert per_item[0] == pytest.approx(alone) and per_item[1] < 0.1
