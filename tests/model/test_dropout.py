"""The CPU dropout mask: right drop rate, unbiased, gradients through the mask, seeded, identity off."""

from __future__ import annotations

import pytest
import torch

from tacotron.model.dropout import _MaskedScale, apply_keep_mask, dropout, dropout_keep_masks


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_drops_at_rate_p_and_keeps_the_expectation(p):
    torch.manual_seed(0)
    x = torch.ones(64, 128, 300)  # odd sizes for the 4-per-word packing are covered below
    y = dropout(x, p, training=True)
    dropped = (y == 0).float().mean().item()
    assert dropped == pytest.approx(p, abs=0.003)
    assert y.mean().item() == pytest.approx(1.0, abs=0.006)
    kept = y[y != 0]
    assert torch.allclose(kept, torch.full_like(kept, kept[0].item())) and kept[0] > 1


def test_every_position_is_dropped_independently_of_its_place_in_the_word():
    torch.manual_seed(1)
    y = dropout(torch.ones(200_003), 0.5, training=True)  # not a multiple of 4
    rates = [(y[k:200_000:4] == 0).float().mean().item() for k in range(4)]
    assert all(r == pytest.approx(0.5, abs=0.01) for r in rates), rates
    assert y.shape == (200_003,)


def test_gradient_is_the_mask_times_the_scale():
    torch.manual_seed(2)
    x = torch.randn(32, 256, requires_grad=True)
    y = dropout(x, 0.1, training=True)
    y.sum().backward()
    scale = y.detach()[y != 0] / x.detach()[y != 0]
    assert torch.equal(x.grad, (y.detach() != 0).float() * scale[0])


def test_same_seed_same_mask_and_identity_when_off():
    x = torch.randn(8, 100)
    torch.manual_seed(3)
    a = dropout(x, 0.3, training=True)
    torch.manual_seed(3)
    b = dropout(x, 0.3, training=True)
    assert torch.equal(a, b)
    assert dropout(x, 0.3, training=False) is x and dropout(x, 0.0, training=True) is x


def test_a_generator_gives_reproducible_masks_and_bad_p_is_refused():
    x = torch.ones(4, 50)
    a = dropout(x, 0.5, True, torch.Generator().manual_seed(7))
    b = dropout(x, 0.5, True, torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and 0 < (a == 0).sum() < a.numel()
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        dropout(x, 1.0, training=True)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_masks_drawn_ahead_have_the_keep_rate_and_scale_of_dropout(p):
    """`dropout_keep_masks` is `dropout`'s CPU mask, drawn for many steps at once: the same keep
    probability (quantised to 1/65536) and the same scale, applied by `apply_keep_mask`."""
    torch.manual_seed(4)
    keep, scale = dropout_keep_masks((300, 64, 128), p, training=True, device="cpu")
    assert keep.dtype == torch.bool and keep.shape == (300, 64, 128)
    kept = round((1 - p) * 65536) / 65536
    assert keep.float().mean().item() == pytest.approx(kept, abs=0.002)
    assert scale == 1 / kept
    x = torch.ones(64, 128)
    assert torch.tensor(scale).item() == dropout(x, p, training=True).max().item()  # dropout's scale, in fp32
    y = apply_keep_mask(torch.full((64, 128), 2.0), keep[0], scale)
    assert torch.equal(y, torch.where(keep[0], 2.0 * scale, 0.0))


def test_masks_drawn_ahead_are_none_when_dropout_is_off_and_refuse_bad_p():
    assert dropout_keep_masks((3, 4), 0.5, training=False, device="cpu") is None
    assert dropout_keep_masks((3, 4), 0.0, training=True, device="cpu") is None
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        dropout_keep_masks((3, 4), 1.0, training=True, device="cpu")


def test_apply_keep_mask_passes_the_gradient_through_the_kept_elements_only():
    x = torch.randn(5, 7, requires_grad=True)
    keep = torch.rand(5, 7, generator=torch.Generator().manual_seed(0)) > 0.3
    apply_keep_mask(x, keep, 1.25).sum().backward()
    assert torch.equal(x.grad, keep.float() * 1.25)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_device_path_scales_forward_and_backward_like_f_dropout(dtype):
    """`_MaskedScale` (apply_keep_mask off the CPU; the op runs on CPU too): F.dropout's arithmetic, the
    product in float rounded once, in both directions."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(6, 10, generator=gen).to(dtype).requires_grad_()
    keep = torch.rand(6, 10, generator=gen) > 0.1
    y = _MaskedScale.apply(x, keep, 1 / 0.9)
    grad = torch.randn(6, 10, generator=gen).to(dtype)
    y.backward(grad)
    assert y.dtype == x.grad.dtype == dtype
    assert torch.equal(y, (x.detach().float() * keep * (1 / 0.9)).to(dtype))
    assert torch.equal(x.grad, (grad.float() * keep * (1 / 0.9)).to(dtype))


def test_the_device_path_passes_fp64_gradcheck():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(4, 7, generator=gen, dtype=torch.float64, requires_grad=True)
    keep = torch.rand(4, 7, generator=gen) > 0.3
    assert torch.autograd.gradcheck(lambda t: _MaskedScale.apply(t, keep, 1 / 0.7), (x,))
    assert torch.autograd.gradgradcheck(lambda t: _MaskedScale.apply(t, keep, 1 / 0.7), (x,))
