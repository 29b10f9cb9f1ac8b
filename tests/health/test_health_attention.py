"""Attention health scores on synthetic alignments with known answers."""

from __future__ import annotations

import pytest
import torch

from tacotron.frames import decoder_steps
from tacotron.metrics.attention import attention_health, attention_health_per_item


def diagonal(steps: int, symbols: int) -> torch.Tensor:
    """A hard, perfectly diagonal alignment [T_dec, L]."""
    a = torch.zeros(steps, symbols)
    pos = (torch.arange(steps) * symbols) // steps
    a[torch.arange(steps), pos] = 1.0
    return a


def test_diagonal_scores_one_uniform_scores_low():
    diag = diagonal(40, 20)[None]
    h = attention_health(diag, torch.tensor([20]), torch.tensor([40]))
    assert h["attn/diagonality"] == pytest.approx(1.0)
    assert h["attn/monotonicity"] == pytest.approx(1.0)
    assert h["attn/coverage"] == pytest.approx(1.0)
    assert h["attn/end_alignment"] == 1.0

    uniform = torch.full((1, 40, 20), 1 / 20)
    u = attention_health(uniform, torch.tensor([20]), torch.tensor([40]))
    assert u["attn/diagonality"] == pytest.approx(1 / 20)
    assert u["attn/coverage"] == 0.0  # 0.05 < coverage threshold everywhere
    assert u["attn/end_alignment"] == 0.0  # argmax of a flat row is the first symbol


def test_per_item_masking_ignores_padding():
    """A short item padded into a long batch scores as if it were alone."""
    short = diagonal(10, 5)
    padded = torch.zeros(2, 30, 15)
    padded[0] = diagonal(30, 15)
    padded[1, :10, :5] = short
    padded[1, 10:, :] = 1 / 15  # garbage in the padding must not count
    per = attention_health_per_item(padded, torch.tensor([15, 5]), torch.tensor([30, 10]))
    assert torch.allclose(per["attn/diagonality"], torch.ones(2))
    assert torch.allclose(per["attn/coverage"], torch.ones(2))
    assert torch.allclose(per["attn/end_alignment"], torch.ones(2))


def test_backwards_attention_lowers_monotonicity():
    a = diagonal(20, 20).flip(0)[None]  # peak walks from the end to the start
    h = attention_health(a, torch.tensor([20]), torch.tensor([20]))
    assert h["attn/diagonality"] == pytest.approx(1.0)
    assert h["attn/monotonicity"] == pytest.approx(0.0)


def test_end_alignment_uses_gate_step():
    a = diagonal(40, 20)[None]
    early = attention_health(a, torch.tensor([20]), torch.tensor([40]), gate_fired=torch.tensor([10]))
    assert early["attn/end_alignment"] == 0.0  # gate fired at the 6th symbol
    never = attention_health(a, torch.tensor([20]), torch.tensor([40]), gate_fired=torch.tensor([-1]))
    assert never["attn/end_alignment"] == 1.0  # falls back to the last real step


def test_partial_coverage_when_words_are_skipped():
    a = torch.zeros(1, 10, 20)
    a[0, torch.arange(10), torch.arange(10)] = 1.0  # only the first half of the text is read
    h = attention_health(a, torch.tensor([20]), torch.tensor([10]))
    assert h["attn/coverage"] == pytest.approx(0.5)
    assert h["attn/end_alignment"] == 0.0


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\[B, T_dec, L\]"):
        attention_health(torch.zeros(4, 5), torch.tensor([5]), torch.tensor([4]))
    with pytest.raises(ValueError, match="exceed"):
        attention_health(torch.zeros(1, 4, 5), torch.tensor([6]), torch.tensor([4]))
    with pytest.raises(ValueError, match="must both be"):
        attention_health(torch.zeros(2, 4, 5), torch.tensor([5]), torch.tensor([4, 4]))


def test_decoder_steps_round_up():
    assert decoder_steps(torch.tensor([9, 10, 12]), 3).tolist() == [3, 4, 4]
