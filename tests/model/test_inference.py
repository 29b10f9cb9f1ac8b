"""Batched inference: per-item stop, lengths, max-steps guard, batch == one-at-a-time, determinism."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tacotron.config import Config
from tacotron.model import Tacotron2, build_model
from tacotron.model.inference import STOP_REASONS, gate_logit, stop_finish, stop_start, stop_update

N_SYMBOLS = 24
TEXT_LENGTHS = [40, 35, 30, 25, 20, 15, 10, 5]


class StepAttention(nn.Module):
    """Test double for the attention: moves one symbol per decoder step from symbol 0 and stays on the
    last one. It makes the stop step of each item a known function of its text length."""

    def process_memory(self, memory: torch.Tensor) -> torch.Tensor:
        return memory

    def forward(self, query, memory, processed_memory, weights_cat, mask):
        started = weights_cat[:, 1].sum(dim=1) > 0
        position = torch.where(started, weights_cat[:, 0].argmax(dim=1) + 1, 0)
        position = torch.minimum(position, mask.sum(dim=1) - 1)
        weights = F.one_hot(position, mask.size(1)).to(memory.dtype)
        return torch.bmm(weights.unsqueeze(1), memory).squeeze(1), weights


def make_texts(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    text = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for i, n in enumerate(lengths):
        text[i, :n] = torch.randint(2, N_SYMBOLS, (n,), generator=gen)
    return text, torch.tensor(lengths)


def scripted_model(cfg: Config, r: int, gate_bias: float, stop_at_end_of_text: bool) -> Tacotron2:
    cfg.model.n_frames_per_step = r
    cfg.model.stop_at_end_of_text = stop_at_end_of_text
    torch.manual_seed(0)
    model = build_model(cfg.model, N_SYMBOLS, 80).eval()
    model.decoder.attention = StepAttention()
    with torch.no_grad():
        model.decoder.gate_projection.weight.zero_()
        model.decoder.gate_projection.bias.fill_(gate_bias)
    return model


def assert_matches_one_at_a_time(model: Tacotron2, text, text_lengths, batched) -> None:
    r = batched.r
    for i, n in enumerate(text_lengths.tolist()):
        single = model.infer(text[i : i + 1, :n], text_lengths[i : i + 1], r=r, deterministic=True)
        assert single.r == r
        length = int(single.lengths[0])
        assert length == int(batched.lengths[i])
        assert single.stop_reasons[0] == batched.stop_reasons[i]
        t = single.mel.size(2)
        torch.testing.assert_close(
            batched.mel_postnet[i : i + 1, :, :t], single.mel_postnet, atol=1e-5, rtol=1e-4
        )
        torch.testing.assert_close(
            batched.alignments[i : i + 1, : t // r, :n], single.alignments, atol=1e-6, rtol=0
        )
        assert (batched.mel_postnet[i, :, length:] == 0).all(), "frames past an item's stop must be zero"


@pytest.mark.parametrize("r", [1, 2, 3])
def test_gate_stops_each_item_after_min_text_fraction(tiny_cfg, r):
    """Gate fires from the first step; each item may stop only once attention passed half its text."""
    model = scripted_model(tiny_cfg, r, gate_bias=10.0, stop_at_end_of_text=False)
    text, lengths = make_texts(TEXT_LENGTHS)
    out = model.infer(text, lengths, r=r, deterministic=True)
    assert out.r == r
    # attention is on symbol k at step k; 50% of n symbols reached at step ceil(n/2) - 1; first frame stops
    expected = [((n + 1) // 2 - 1) * r + 1 for n in TEXT_LENGTHS]
    assert out.lengths.tolist() == expected
    assert len(set(out.lengths.tolist())) == 8
    assert out.stop_reasons == ["gate"] * 8
    t_max = -(-max(expected) // r) * r
    assert out.mel.shape == out.mel_postnet.shape == (8, 80, t_max)
    assert out.gate_logits.shape == (8, t_max)
    assert out.alignments.shape == (8, t_max // r, 40)
    assert_matches_one_at_a_time(model, text, lengths, out)


def test_end_of_text_stop_when_gate_never_fires(tiny_cfg):
    model = scripted_model(tiny_cfg, 2, gate_bias=-10.0, stop_at_end_of_text=True)
    text, lengths = make_texts([9, 4, 6])
    out = model.infer(text, lengths, r=2, deterministic=True)
    # on the last symbol from step n - 1; 3 consecutive steps -> stop after step n + 1
    assert out.lengths.tolist() == [(n + 2) * 2 for n in (9, 4, 6)]
    assert out.stop_reasons == ["end_of_text"] * 3


def test_max_steps_guard_warns_with_item_indices(tiny_cfg, caplog):
    model = scripted_model(tiny_cfg, 2, gate_bias=-10.0, stop_at_end_of_text=False)
    text, lengths = make_texts([9, 4, 6])
    with caplog.at_level(logging.WARNING, logger="tacotron.model.inference"):
        out = model.infer(text, lengths, r=2, max_decoder_steps=12, deterministic=True)
    assert out.lengths.tolist() == [24, 24, 24]
    assert out.stop_reasons == ["max_steps"] * 3
    assert "items [0, 1, 2]" in caplog.text and "max_decoder_steps=12" in caplog.text


def test_real_attention_batched_equals_one_at_a_time(tiny_cfg):
    """With the real (random-weight) model: batching changes nothing for any item."""
    tiny_cfg.model.n_frames_per_step = 2
    tiny_cfg.model.max_decoder_steps = 20
    torch.manual_seed(1)
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80).eval()
    text, lengths = make_texts([11, 7, 3, 9])
    out = model.infer(text, lengths, r=2, deterministic=True)
    assert out.lengths.shape == (4,) and out.lengths.dtype == torch.long
    assert_matches_one_at_a_time(model, text, lengths, out)


def test_seeded_prenet_dropout_is_reproducible_and_deterministic_mode_is_stable(tiny_cfg):
    tiny_cfg.model.max_decoder_steps = 10
    tiny_cfg.model.prenet_dropout_at_inference = True
    torch.manual_seed(0)
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80).eval()
    text, lengths = make_texts([8, 5])
    a = model.infer(text, lengths, r=1, seed=3)
    b = model.infer(text, lengths, r=1, seed=3)
    c = model.infer(text, lengths, r=1, seed=4)
    assert torch.equal(a.mel, b.mel)
    assert not torch.equal(a.mel[:, :, :5], c.mel[:, :, :5])
    d = model.infer(text, lengths, r=1, deterministic=True)
    e = model.infer(text, lengths, r=1, deterministic=True, seed=99)
    assert torch.equal(d.mel, e.mel)


def _update(state, step, gates, weights, *, r, threshold=0.5, at_eos=False, eos_steps=3):
    """One stop-rule update for a block of steps starting at `step` (gates [B, K, r], weights [B, K, L])."""
    first = torch.tensor(step)
    return stop_update(state, first, gates, weights, r, gate_logit(threshold), at_eos, eos_steps)


def _finish(state, n_steps, r):
    lengths, codes = stop_finish(state, n_steps, r)
    return lengths, [STOP_REASONS[int(c)] for c in codes]


def test_stop_rule_gate_needs_text_progress_and_is_frame_precise():
    state = stop_start(torch.tensor([10, 10]), 0.5)
    early = torch.zeros(2, 10)
    early[:, 1] = 1.0  # attention on symbol 1 of 10
    fire_second_frame = torch.tensor([[-5.0, 5.0, 5.0], [-5.0, -5.0, -5.0]])
    state = _update(state, 0, fire_second_frame.unsqueeze(1), early.unsqueeze(1), r=3)
    assert not state.stopped.any(), "the gate must not stop before half the text was attended"
    late = torch.zeros(2, 10)
    late[:, 6] = 1.0
    state = _update(state, 1, fire_second_frame.unsqueeze(1), late.unsqueeze(1), r=3)
    assert state.stopped.tolist() == [True, False]
    lengths, reasons = _finish(state, 2, 3)
    assert lengths.tolist() == [1 * 3 + 1 + 1, 6]
    assert reasons == ["gate", "max_steps"]


def test_stop_rule_end_of_text_after_eos_steps_on_the_last_symbol():
    """Gate silent; attention reaches the last of 4 symbols at step 3 and stays: stop after 3 steps there."""
    state = stop_start(torch.tensor([4]), 0.5)
    peaks = [0, 1, 2, 3, 3, 3, 3]
    weights = torch.nn.functional.one_hot(torch.tensor([peaks]), 4).float()  # (1, 7, 4)
    gates = torch.full((1, 7, 2), -5.0)
    state = _update(state, 0, gates, weights, r=2, at_eos=True, eos_steps=3)
    lengths, reasons = _finish(state, 7, 2)
    assert lengths.tolist() == [(5 + 1) * 2] and reasons == ["end_of_text"]
    off = _update(stop_start(torch.tensor([4]), 0.5), 0, gates, weights, r=2, at_eos=False, eos_steps=3)
    lengths, reasons = _finish(off, 7, 2)
    assert lengths.tolist() == [14] and reasons == ["max_steps"], "end-of-text stop disabled"


def test_stop_rule_gate_wins_a_tie_and_first_stop_counts():
    state = stop_start(torch.tensor([2]), 0.5)
    weights = torch.nn.functional.one_hot(torch.tensor([[1, 1, 1, 1]]), 2).float()  # on EOS from step 0
    gates = torch.tensor([[[-5.0], [-5.0], [5.0], [5.0]]])  # fires at step 2, the step the EOS run hits 3
    state = _update(state, 0, gates, weights, r=1, at_eos=True, eos_steps=3)
    lengths, reasons = _finish(state, 4, 1)
    assert lengths.tolist() == [3] and reasons == ["gate"]
    later = _update(state, 4, gates, weights, r=1, at_eos=True, eos_steps=1)
    assert _finish(later, 8, 1)[0].tolist() == [3], "an item's first stop is final"


def test_stop_rule_rejects_a_threshold_outside_0_1():
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="gate_threshold must be in"):
            gate_logit(bad)


def test_infer_rejects_bad_shapes(tiny_cfg):
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80).eval()
    with pytest.raises(ValueError, match=r"text \[B, L\].*\(5,\)"):
        model.infer(torch.ones(5, dtype=torch.long), torch.tensor([5]), r=1)


def test_infer_requires_r_in_range_and_names_the_limit(tiny_cfg):
    """No default r: a forgotten or out-of-range r fails loudly instead of decoding with a stale one."""
    tiny_cfg.model.max_frames_per_step = 3
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80).eval()
    text, lengths = make_texts([5, 3])
    with pytest.raises(TypeError, match="'r'"):
        model.infer(text, lengths)
    for bad in (0, 4, 2.0, True, None):
        with pytest.raises(
            ValueError, match=r"reduction factor r must be an int in 1\.\.3 \(model\.max_frames_per_step\)"
        ):
            model.infer(text, lengths, r=bad, max_decoder_steps=2)
    out = model.infer(text, lengths, r=3, max_decoder_steps=2, deterministic=True)
    assert out.r == 3 and out.alignments.size(1) == out.mel.size(2) // 3


def _reference_stops(lengths, gates, weights, *, r, threshold, fraction, eos_steps, at_eos):
    """The stop rule written step by step in plain Python: the oracle for `stop_update` on blocks."""
    logit = torch.logit(torch.tensor(threshold)).item()
    out = []
    for b, length in enumerate(lengths):
        needed, max_peak, run = max(1, -(-int(fraction * length * 1000) // 1000)), -1, 0
        result = None
        for t in range(gates.size(1)):
            peak = int(weights[b, t].argmax())
            max_peak = max(max_peak, peak)
            run = run + 1 if peak == length - 1 else 0
            fires = [i for i in range(r) if gates[b, t, i] > logit]
            if result is None and fires and max_peak + 1 >= needed:
                result = (t * r + fires[0] + 1, "gate")
            elif result is None and at_eos and run >= eos_steps:
                result = ((t + 1) * r, "end_of_text")
        out.append(result or (gates.size(1) * r, "max_steps"))
    return out


@pytest.mark.parametrize("block", [1, 3, 8, 40])
@pytest.mark.parametrize("at_eos", [True, False])
def test_stop_rule_blocks_give_the_same_stops_as_the_step_by_step_rule(block, at_eos):
    """Random gate logits and attention walks (sometimes stuck on the last symbol, sometimes firing
    before half the text): updating in blocks of any size must give each item the stop step, frame
    and reason of the plain per-step rule."""
    gen = torch.Generator().manual_seed(block * 2 + at_eos)
    lengths = [10, 7, 3, 12, 5, 9, 1, 6]
    n_steps, r = 40, 3
    peaks = torch.cumsum(torch.randint(0, 2, (len(lengths), n_steps), generator=gen), dim=1)
    weights = torch.zeros(len(lengths), n_steps, 12)
    for b, length in enumerate(lengths):
        weights[b, torch.arange(n_steps), peaks[b].clamp(max=length - 1)] = 1.0
    gates = torch.randn(len(lengths), n_steps, r, generator=gen) * 3 - 4.5  # fires now and then
    gates[::3] = -10.0  # some items never fire: they stop at the end of text or run to max_steps
    state = stop_start(torch.tensor(lengths), 0.5)
    for start in range(0, n_steps, block):
        g, w = gates[:, start : start + block], weights[:, start : start + block]
        state = _update(state, start, g, w, r=r, threshold=0.5, at_eos=at_eos, eos_steps=4)
    got_lengths, got_reasons = _finish(state, n_steps, r)
    want = _reference_stops(
        lengths, gates, weights, r=r, threshold=0.5, fraction=0.5, eos_steps=4, at_eos=at_eos
    )
    assert list(zip(got_lengths.tolist(), got_reasons, strict=True)) == want
    assert len({reason for _, reason in want}) >= 2, "the random case must exercise several stop reasons"
