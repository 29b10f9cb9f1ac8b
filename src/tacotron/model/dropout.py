"""Inverted dropout with a cheaper mask on CPU.

Why: on CPU, `F.dropout` draws one mt19937 double per element (~8-10 ns each, `bernoulli_`); in the
CPU demo that was ~9% of a training step, mostly the postnet's masks over [B, 128, T]. Here one 64-bit
draw decides four elements (one 16-bit slice each), about 7x less random-number work; the keep
probability is quantised to 1/65536 (p = 0.1 drops 6554/65536 = 0.100006) and the kept values are
scaled by the exact inverse of that probability, so the expectation is unchanged. On other devices
`F.dropout` (Philox on CUDA) is already cheap and is used as it is.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_LEVELS = 1 << 16  # a mask element is one uniformly random int16


def dropout(
    x: torch.Tensor, p: float, training: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p); identity when not training.

    With a generator the mask comes from `torch.rand(generator=...)` (reproducible seeded synthesis on
    any device); otherwise CPU tensors take the cheap mask and other devices `F.dropout`.
    """
    if not _active(p, training):
        return x
    if generator is not None:
        keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
        return x * keep.to(x.dtype) / (1.0 - p)
    if x.device.type != "cpu":
        return F.dropout(x, p, training=True)
    keep, scale = _cheap_keep_mask(x.shape, p)
    return apply_keep_mask(x, keep, scale)


def dropout_keep_masks(
    shape: torch.Size | tuple[int, ...], p: float, training: bool, device: torch.device | str
) -> tuple[torch.Tensor, float] | None:
    """`dropout`'s masks drawn ahead of use: (keep [*shape] bool, True = kept; scale for kept values), or
    None when `dropout` would be the identity. Apply one with `apply_keep_mask`.

    Why: a loop that drops out a [B, H] tensor at every step (the decoder's attention LSTM) draws all S
    masks as one [S, B, H] tensor before the loop: one draw instead of S, and no random numbers inside the
    step (a `torch.compile`d step stays free of RNG state). The statistics are `dropout`'s: on CPU the same
    cheap mask (keep probability quantised to 1/65536, scale its exact inverse); elsewhere the mask of
    `torch.native_dropout`, the kernel `F.dropout` runs (keep probability 1 - p, scale 1 / (1 - p)).
    """
    if not _active(p, training):
        return None
    if torch.device(device).type == "cpu":
        return _cheap_keep_mask(shape, p)
    _, keep = torch.native_dropout(torch.ones(shape, device=device), p, True)
    return keep, 1.0 / (1.0 - p)


def apply_keep_mask(x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
    """x * keep * scale in x's dtype: exactly `dropout`'s arithmetic with that mask.

    On CPU `dropout`'s own expression (in bf16 it rounds keep * scale first: 1 / 0.9 -> 1.109); on other
    devices `_MaskedScale`, F.dropout's kernels. Inside `torch.compile` the float product written out,
    which inductor fuses with the LSTM cell.
    """
    if torch.compiler.is_compiling():
        return (x.float() * keep * scale).to(x.dtype)
    if x.device.type == "cpu":
        return x * (keep.to(x.dtype) * scale)
    return _MaskedScale.apply(x, keep, scale)


class _MaskedScale(torch.autograd.Function):
    """x * keep * scale (keep bool) by the kernel `F.dropout` runs backward, `native_dropout_backward`,
    in both directions: one launch each on CUDA, the product in float and rounded once, as F.dropout.

    Why not that op alone: its own derivative is three kernels that form keep * scale in x's dtype (a
    bf16 gradient would be scaled by 1.109 instead of 1 / 0.9).
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return torch.ops.aten.native_dropout_backward(x, keep, scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (keep,) = ctx.saved_tensors
        return torch.ops.aten.native_dropout_backward(grad, keep, ctx.scale), None, None


def _active(p: float, training: bool) -> bool:
    """Whether dropout with probability p changes anything; a p outside [0, 1) is an error."""
    if not training or p == 0.0:
        return False
    if not 0.0 < p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    return True


def _cheap_keep_mask(shape: torch.Size | tuple[int, ...], p: float) -> tuple[torch.Tensor, float]:
    """CPU keep mask [*shape] bool and its scale: one random int64 decides four elements."""
    dropped_levels = round(p * _LEVELS)
    n = math.prod(shape)
    words = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), 2**63 - 1)
    slices = words.view(torch.int16)[:n].view(shape)  # uniform over [-32768, 32767]
    keep = slices >= -(_LEVELS // 2) + dropped_levels
    return keep, _LEVELS / (_LEVELS - dropped_levels)
