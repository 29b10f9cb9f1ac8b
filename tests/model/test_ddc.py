"""Double decoder consistency: both decoders train, masked coarse losses, alignment upsampling."""

from __future__ import annotations

import pytest
import torch
from tests.helpers.batches import N_SYMBOLS, random_batch
from tests.helpers.configs import tiny_config

from tacotron.config import Config
from tacotron.data.batch import Batch
from tacotron.losses import LossNorm, Tacotron2Loss
from tacotron.model import Tacotron2, build_model
from tacotron.model.ddc import attention_consistency_loss, coarse_gate_target, upsample_alignments

N_MELS = 80
DDC_KEYS = {"ddc/mel", "ddc/gate", "ddc/attn_consistency"}


def ddc_config(r: int = 1, ddc_r: int = 3, **model) -> Config:
    cfg = tiny_config()
    cfg.model.ddc, cfg.model.ddc_r, cfg.model.n_frames_per_step = True, ddc_r, r
    for key, value in model.items():
        setattr(cfg.model, key, value)
    return cfg


def build(cfg: Config) -> Tacotron2:
    torch.manual_seed(0)
    return build_model(cfg.model, N_SYMBOLS, N_MELS)


def run(model: Tacotron2, batch: Batch):
    return model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=batch.r)


def assert_grads(model: torch.nn.Module, prefixes: tuple[str, ...] = ("",)) -> None:
    checked = 0
    for name, p in model.named_parameters():
        if not name.startswith(prefixes):
            continue
        checked += 1
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"
    assert checked


@pytest.mark.parametrize(("r", "ddc_r", "gst"), [(1, 3, False), (2, 5, True)])
def test_both_decoders_and_every_parameter_get_gradients(r, ddc_r, gst):
    cfg = ddc_config(r, ddc_r, gst=gst, gst_token_dim=8, gst_heads=2, gst_ref_channels=[4], gst_ref_gru_dim=8)
    model = build(cfg).train()
    batch = random_batch([9, 7, 5], [23, 17, 11], r)  # 23 frames: not a multiple of r or ddc_r
    out = run(model, batch)
    assert out.ddc is not None and out.ddc.r == ddc_r
    t_c = -(-batch.mels.size(2) // ddc_r) * ddc_r
    assert out.ddc.mel.shape == (3, N_MELS, t_c)
    assert out.ddc.alignments.shape == (3, t_c // ddc_r, 9)
    losses = Tacotron2Loss(cfg.loss)(out, batch, step=0)
    assert set(losses) >= DDC_KEYS
    for key in DDC_KEYS:
        assert torch.isfinite(losses[key]) and losses[key] > 0, key
    losses["loss"].backward()
    assert any(n.startswith("coarse_decoder.") for n, _ in model.named_parameters())
    assert_grads(model)


def test_consistency_loss_alone_trains_both_attentions_and_the_encoder():
    cfg = ddc_config(1, 3)
    model = build(cfg).train()
    batch = random_batch([9, 7], [20, 14], 1)
    losses = Tacotron2Loss(cfg.loss)(run(model, batch), batch, step=0)
    losses["ddc/attn_consistency"].backward()
    assert_grads(model, ("decoder.attention.", "coarse_decoder.attention.", "encoder.lstm."))


def test_total_includes_weighted_ddc_terms():
    cfg = ddc_config(1, 3)
    model = build(cfg).eval()
    batch = random_batch([9, 7], [20, 14], 1)
    out = run(model, batch)
    cfg.loss.ddc_weight, cfg.loss.ddc_attn_weight = 0.0, 0.0
    base = Tacotron2Loss(cfg.loss)(out, batch, step=0)
    cfg.loss.ddc_weight, cfg.loss.ddc_attn_weight = 2.0, 3.0
    weighted = Tacotron2Loss(cfg.loss)(out, batch, step=0)
    extra = 2.0 * (base["ddc/mel"] + base["ddc/gate"]) + 3.0 * base["ddc/attn_consistency"]
    torch.testing.assert_close(weighted["loss"], base["loss"] + extra)


def test_coarse_losses_ignore_padded_frames():
    cfg = ddc_config(2, 5)
    model = build(cfg).eval()
    batch = random_batch([9, 7], [23, 12], 2)  # T = 24 -> coarse T_c = 25
    out = run(model, batch)
    loss_fn = Tacotron2Loss(cfg.loss)
    before = loss_fn(out, batch, step=0)
    out.ddc.mel[1, :, 12:] = float("nan")
    out.ddc.mel[0, :, 23:] = 1e6
    out.ddc.gate_logits[1, 12:] = float("nan")
    out.ddc.alignments[1, 3:] = float("nan")  # coarse steps past ceil(12 / 5) = 3
    after = loss_fn(out, batch, step=0)
    for key in DDC_KEYS:
        torch.testing.assert_close(after[key], before[key])


def test_ddc_off_adds_no_terms_and_no_parameters():
    cfg = tiny_config()
    model = build(cfg)
    batch = random_batch([9, 7], [20, 14], 1)
    out = run(model, batch)
    assert out.ddc is None
    assert not DDC_KEYS & set(Tacotron2Loss(cfg.loss)(out, batch, step=0))
    assert not any(k.startswith("coarse_decoder.") for k in model.state_dict())


def test_detach_and_inference_with_ddc():
    cfg = ddc_config(1, 3, max_decoder_steps=6)
    model = build(cfg).train()
    batch = random_batch([9, 7], [20, 14], 1)
    detached = run(model, batch).detach()
    assert detached.ddc is not None and detached.ddc.mel.grad_fn is None
    out = model.eval().infer(batch.text, batch.text_lengths, r=batch.r, deterministic=True)
    assert out.alignments.size(1) <= 6  # fine decoder (r = 1) only
    assert out.mel.size(2) <= 6


def test_upsample_is_repeat_interleave_for_integer_ratios():
    coarse = torch.rand(2, 4, 5)
    up = upsample_alignments(coarse, n_fine_steps=11, fine_r=2, coarse_r=6)
    torch.testing.assert_close(up, coarse.repeat_interleave(3, dim=1)[:, :11])
    odd = upsample_alignments(coarse, n_fine_steps=8, fine_r=2, coarse_r=5)  # frames 0,2,..,14 -> steps
    assert [int(i) for i in torch.arange(8) * 2 // 5] == [0, 0, 0, 1, 1, 2, 2, 2]
    torch.testing.assert_close(odd, coarse[:, [0, 0, 0, 1, 1, 2, 2, 2]])
    with pytest.raises(ValueError, match="do not cover"):
        upsample_alignments(coarse, n_fine_steps=13, fine_r=2, coarse_r=6)


def test_consistency_loss_is_zero_for_matching_alignments_and_masked():
    coarse = torch.softmax(torch.randn(2, 3, 6), dim=-1)
    fine = coarse.repeat_interleave(2, dim=1)  # r = 1, ddc_r = 2
    text_lengths, mel_lengths = torch.tensor([6, 4]), torch.tensor([6, 3])
    fine[1, :, 4:] = 0.0
    coarse[1, :, 4:] = 5.0  # past text length 4: ignored
    fine[1, 3:] = 7.0  # past 3 frames: ignored
    zero = attention_consistency_loss(fine, coarse, text_lengths, mel_lengths, 1, 2, denominator=9.0)
    assert float(zero) == 0.0
    fine[0, 0, 0] += 0.5
    assert float(
        attention_consistency_loss(fine, coarse, text_lengths, mel_lengths, 1, 2, 9.0)
    ) == pytest.approx(0.5 / 9.0)


def test_coarse_gate_target_and_loss_norm_denominator():
    torch.testing.assert_close(
        coarse_gate_target(torch.tensor([3, 1]), 5), torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1.0]])
    )
    batch = random_batch([5, 4], [10, 7], 2)
    assert LossNorm.from_batch(batch).frames / batch.r == 8.5  # ~ real decoder steps (5 + 3.5)
