"""Tacotron2Loss and its masked primitives: masking, per-item guided attention, accumulation, errors."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from tests.helpers.batches import N_SYMBOLS, random_batch
from tests.helpers.configs import variant_config

from tacotron.config import Config, LossConfig
from tacotron.data.batch import Batch
from tacotron.losses import (
    LossNorm,
    Tacotron2Loss,
    guided_attention_loss,
    guided_attention_mask,
    guided_attention_weight,
    masked_gate_loss,
    masked_mel_loss,
    weighted_total,
)
from tacotron.model import build_model
from tacotron.model.tacotron2 import Tacotron2Output

KEYS = {"loss", "mel/before", "mel/after", "gate", "attn/guided"}


def random_output(batch: Batch, seed: int = 1) -> Tacotron2Output:
    gen = torch.Generator().manual_seed(seed)
    b, n_mels, t = batch.mels.shape
    align = torch.rand(b, t // batch.r, batch.text.size(1), generator=gen).softmax(-1)
    return Tacotron2Output(
        torch.randn(b, n_mels, t, generator=gen).requires_grad_(),
        torch.randn(b, n_mels, t, generator=gen).requires_grad_(),
        torch.randn(b, t, generator=gen).requires_grad_(),
        align.requires_grad_(),
        batch.r,
    )


def pad_more(batch: Batch, extra_frames: int, extra_symbols: int) -> Batch:
    """The same items with more padding (as a longer batch mate would cause)."""
    b, n_mels, _ = batch.mels.shape
    return replace(
        batch,
        text=torch.cat([batch.text, torch.zeros(b, extra_symbols, dtype=torch.long)], 1),
        mels=torch.cat([batch.mels, torch.zeros(b, n_mels, extra_frames)], 2),
        gate_target=torch.cat([batch.gate_target, torch.ones(b, extra_frames)], 1),
    )


def test_returns_named_terms_and_weighted_total():
    batch = random_batch([7, 5], [13, 9], r=2)
    cfg = LossConfig(mel_weight=1.0, postnet_weight=2.0, gate_weight=0.5, guided_attn_weight=3.0)
    losses = Tacotron2Loss(cfg)(random_output(batch), batch, step=0)
    assert set(losses) == KEYS
    expected = (
        losses["mel/before"] + 2 * losses["mel/after"] + 0.5 * losses["gate"] + 3 * losses["attn/guided"]
    )
    torch.testing.assert_close(losses["loss"], expected)


def test_weighted_total_sums_weighted_terms_and_skips_numeric_zeros():
    terms = {"a": torch.tensor(2.0), "b": torch.tensor(float("nan")), "c": torch.tensor(5.0)}
    total = weighted_total(terms, {"a": 1.5, "b": 0.0, "c": torch.tensor(0.2), "unused": 9.0})
    assert total.item() == pytest.approx(1.5 * 2 + 0.2 * 5)  # the NaN term is switched off, not 0 * NaN
    with_tensor_zero = weighted_total(terms, {"a": 1.0, "b": torch.tensor(0.0), "c": 1.0})
    assert torch.isnan(with_tensor_zero), "a tensor weight is always applied (its value is not read)"
    with pytest.raises(ValueError, match=r"no weight for loss term\(s\) \['c'\]"):
        weighted_total(terms, {"a": 1.0, "b": 1.0})
    with pytest.raises(ValueError, match="no active loss term"):
        weighted_total(terms, {"a": 0, "b": 0.0, "c": 0})


def test_weighted_total_keeps_the_order_of_the_terms():
    """Same terms, same order, same bits: the eager and graphed totals must not differ by summation order."""
    terms = {k: torch.tensor(v, dtype=torch.float32) for k, v in (("a", 1e8), ("b", 1.0), ("c", -1e8))}
    weights = {"c": 1.0, "b": 1.0, "a": 1.0}  # weight order does not matter
    assert weighted_total(terms, weights).item() == 0.0  # (1e8 + 1) - 1e8 in float32
    reordered = {k: terms[k] for k in ("a", "c", "b")}
    assert weighted_total(reordered, weights).item() == 1.0


def model_config(kind: str) -> Config:
    """A tiny plain, GST or DDC model with every dropout off."""
    return variant_config(kind, gst_ref_channels=(4,), guided_attn_decay_steps=4)


@pytest.mark.parametrize("kind", ["plain", "gst", "ddc"])
def test_forward_total_is_the_weighted_total_of_its_terms(kind):
    cfg = model_config(kind)
    torch.manual_seed(0)
    model = build_model(cfg.model, N_SYMBOLS, 80).train()
    batch = random_batch([9, 6, 4], [21, 14, 8], r=1)
    loss_fn = Tacotron2Loss(cfg.loss)
    out = model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=batch.r)
    losses = loss_fn(out, batch, step=6)
    terms = loss_fn.terms(out, batch)
    expected_keys = set(KEYS) - {"loss"} | (
        {"ddc/mel", "ddc/gate", "ddc/attn_consistency"} if kind == "ddc" else set()
    )
    assert set(terms) == expected_keys and set(losses) == expected_keys | {"loss"}
    weights = loss_fn.weights(6)
    assert weights["attn/guided"] == pytest.approx(3.0 * 0.5**1.5)
    torch.testing.assert_close(losses["loss"], weighted_total(terms, weights), rtol=0, atol=0)
    by_hand = sum(weights[k] * terms[k] for k in terms)
    torch.testing.assert_close(losses["loss"], by_hand)


def test_guided_attention_override_changes_only_the_guided_weight():
    cfg = model_config("ddc").loss
    loss_fn = Tacotron2Loss(cfg)
    base, steered = loss_fn.weights(8), loss_fn.weights(8, guided_attn_weight=10.0)
    assert {k for k in base if base[k] != steered[k]} == {"attn/guided"}
    assert steered["attn/guided"] == pytest.approx(10.0 * 0.5**2)  # the config's decay, applied to 10
    assert steered["attn/guided"] == guided_attention_weight(cfg, 8, 10.0)
    assert cfg.guided_attn_weight == 3.0, "the override must not write into the config"
    assert loss_fn.weights(8, guided_attn_weight=0.0)["attn/guided"] == 0.0
    batch = random_batch([7, 5], [13, 9], r=1)
    out = random_output(batch)
    plain, override = loss_fn(out, batch, 8), loss_fn(out, batch, 8, guided_attn_weight=10.0)
    for key in plain:
        if key != "loss":
            torch.testing.assert_close(override[key], plain[key])
    shift = (steered["attn/guided"] - base["attn/guided"]) * plain["attn/guided"]
    torch.testing.assert_close(override["loss"], plain["loss"] + shift)


def test_mel_loss_is_mean_over_real_elements_only():
    pred, target = torch.zeros(1, 2, 4), torch.zeros(1, 2, 4)
    pred[0, :, :3] = 2.0
    pred[0, :, 3] = float("nan")  # padded frame: must not matter
    mask = torch.tensor([[True, True, True, False]])
    assert masked_mel_loss(pred, target, mask, "mse", denominator=6).item() == pytest.approx(4.0)
    assert masked_mel_loss(pred, target, mask, "l1", denominator=6).item() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="mse' or 'l1"):
        masked_mel_loss(pred, target, mask, "huber", denominator=6)


def test_gate_loss_weights_stop_frames_and_ignores_padding():
    logits = torch.tensor([[0.0, 0.0, 100.0]])
    target = torch.tensor([[0.0, 1.0, 1.0]])
    mask = torch.tensor([[True, True, False]])
    value = masked_gate_loss(logits, target, mask, pos_weight=5.0, denominator=2)
    assert value.item() == pytest.approx((math.log(2) + 5 * math.log(2)) / 2)


def test_loss_unchanged_when_extra_padding_is_added(tiny_cfg):
    tiny_cfg.model.n_frames_per_step = 2
    tiny_cfg.model.prenet_dropout = 0.0
    torch.manual_seed(0)
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80).eval()
    criterion = Tacotron2Loss(tiny_cfg.loss)
    batch = random_batch([9, 6, 4], [21, 14, 8], r=2)
    padded = pad_more(batch, extra_frames=6, extra_symbols=5)
    results = []
    for b in (batch, padded):
        out = model(b.text, b.text_lengths, b.mels, b.mel_lengths, r=b.r)
        results.append(criterion(out, b, step=0))
    for key in KEYS:
        torch.testing.assert_close(results[0][key], results[1][key], rtol=1e-5, atol=1e-7)


def test_guided_attention_uses_each_items_own_lengths():
    w = guided_attention_mask(torch.tensor([4, 2]), torch.tensor([8, 3]), n_steps=8, n_text=4, sigma=0.2)
    assert w.shape == (2, 8, 4)
    assert (w[1, 3:] == 0).all() and (w[1, :, 2:] == 0).all(), "zero outside the item's own region"
    assert w[0, 4, 2].item() == pytest.approx(0.0)  # on the diagonal: 2/4 == 4/8
    assert w[1, 0, 1].item() == pytest.approx(1 - math.exp(-((1 / 2) ** 2) / (2 * 0.04)))
    # an item with 6 symbols and 12 decoder steps in a batch padded to 30 steps x 8 symbols, aligned on
    # its own diagonal: cheap with its own lengths, heavily penalised with the padded ones (the old bug)
    own = torch.zeros(1, 30, 8)
    for t in range(12):
        own[0, t, t // 2] = 1.0
    own_loss = guided_attention_loss(own, torch.tensor([6]), torch.tensor([12]), 0.2, denominator=72)
    padded_loss = guided_attention_loss(own, torch.tensor([8]), torch.tensor([30]), 0.2, denominator=72)
    assert own_loss < 0.25 * padded_loss


def test_guided_attention_weight_schedule():
    cfg = LossConfig(
        guided_attn_weight=2.0,
        guided_attn_decay_start=100,
        guided_attn_decay_rate=0.5,
        guided_attn_decay_steps=50,
        guided_attn_min_weight=0.3,
    )
    assert guided_attention_weight(cfg, 0) == 2.0
    assert guided_attention_weight(cfg, 100) == 2.0
    assert guided_attention_weight(cfg, 150) == pytest.approx(1.0)
    assert guided_attention_weight(cfg, 175) == pytest.approx(2.0 * 0.5**1.5)
    assert guided_attention_weight(cfg, 10_000) == 0.3
    assert guided_attention_weight(replace(cfg, guided_attn_weight=0.0), 0) == 0.0
    assert guided_attention_weight(cfg, 150, 4.0) == pytest.approx(2.0)  # a given base, same schedule
    assert guided_attention_weight(cfg, 150, 0.0) == 0.0
    assert guided_attention_weight(replace(cfg, guided_attn_weight=0.0), 0, 1.5) == 1.5


def test_all_weights_zero_raises():
    cfg = LossConfig(mel_weight=0, postnet_weight=0, gate_weight=0, guided_attn_weight=0)
    batch = random_batch([3], [4], r=1)
    with pytest.raises(ValueError, match="no active loss term"):
        Tacotron2Loss(cfg)(random_output(batch), batch, step=0)


def test_loss_that_does_not_depend_on_the_model_raises():
    batch = random_batch([3, 2], [4, 6], r=2)
    detached = random_output(batch).detach()
    with pytest.raises(ValueError, match="does not depend on the model"):
        Tacotron2Loss(LossConfig())(detached, batch, step=0)
    with torch.no_grad():  # validation: no graph expected, no error
        assert set(Tacotron2Loss(LossConfig())(detached, batch, step=0)) == KEYS


def test_shape_mismatch_raises_with_shapes_and_r():
    batch = random_batch([5, 3], [431, 200], r=2)
    out = random_output(batch)
    bad = replace(out, mel=out.mel[:, :, :430])
    with pytest.raises(ValueError, match=r"output.mel has shape \(2, 80, 430\).*\(2, 80, 432\).*r=2"):
        Tacotron2Loss(LossConfig())(bad, batch, step=0)
    bad_align = replace(out, alignments=out.alignments[:, :215])
    with pytest.raises(ValueError, match=r"alignments has shape \(2, 215, 5\).*r=2.*\(2, 216, 5\)"):
        Tacotron2Loss(LossConfig())(bad_align, batch, step=0)


def test_output_computed_with_another_r_than_the_batch_raises():
    """r=4 alignments of a 432-frame batch have 108 steps; without comparing r they could pass for shapes
    of another batch. The loss compares out.r with batch.r and names both."""
    batch = random_batch([5, 3], [431, 200], r=2)
    other_r = replace(random_output(batch), r=4)
    with pytest.raises(ValueError, match=r"Tacotron2Loss: .*computed with r=4 .*padded for r=2"):
        Tacotron2Loss(LossConfig())(other_r, batch, step=0)


def test_non_finite_terms_are_reported_not_replaced():
    batch = random_batch([4, 3], [6, 5], r=1)
    out = random_output(batch)
    with torch.no_grad():
        out.mel[0, 0, 0] = float("nan")
        out.gate_logits[1, 5] = float("inf")  # padded frame of item 1: masked, stays finite
    losses = Tacotron2Loss(LossConfig())(out, batch, step=0)
    assert torch.isnan(losses["mel/before"]) and torch.isnan(losses["loss"])
    assert torch.isfinite(losses["gate"]) and torch.isfinite(losses["mel/after"])


def test_loss_norm_from_batches_sums_counts():
    batch = random_batch([5, 3, 4], [10, 7, 3], r=3)
    norm = LossNorm.from_batch(batch)
    assert norm.frames == 20 and norm.mel_elements == 20 * 80 and norm.items == 3
    assert norm.attn_cells == 4 * 5 + 3 * 3 + 1 * 4  # ceil(mel / 3) x text, per item
    parts = LossNorm.from_batches([batch.select([0]), batch.select([1, 2])])
    assert parts == norm


def _grads(model) -> dict[str, torch.Tensor]:
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return grads


def test_gradient_accumulation_matches_full_batch(tiny_cfg):
    """k micro-batches of different lengths, normalised by the whole batch's real frames == one batch."""
    tiny_cfg.model.n_frames_per_step = 2
    tiny_cfg.model.prenet_dropout = 0.0
    torch.manual_seed(0)
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80).eval()  # BatchNorm batch stats differ by design
    criterion = Tacotron2Loss(tiny_cfg.loss)
    batch = random_batch([12, 10, 9, 7, 5, 4], [41, 12, 30, 9, 25, 6], r=2)

    def run(b: Batch, norm: LossNorm | None) -> torch.Tensor:
        out = model(b.text, b.text_lengths, b.mels, b.mel_lengths, r=b.r)
        return criterion(out, b, step=0, norm=norm)["loss"]

    run(batch, None).backward()
    full = _grads(model)
    micro = [batch.select([0, 3]), batch.select([1, 5]), batch.select([2, 4])]
    assert len({m.mels.size(2) for m in micro}) == 3, "micro-batches must differ in length"
    norm = LossNorm.from_batches(micro)
    for m in micro:
        run(m, norm).backward()
    accumulated = _grads(model)
    for name in full:
        torch.testing.assert_close(accumulated[name], full[name], rtol=1e-4, atol=1e-7, msg=name)
    for m in micro:  # the naive way (mean per micro-batch, divided by k) is measurably different
        (run(m, None) / len(micro)).backward()
    naive = _grads(model)
    diff = (naive["decoder.frame_projection.weight"] - full["decoder.frame_projection.weight"]).abs().max()
    assert diff > 1e-3 * full["decoder.frame_projection.weight"].abs().max()
