"""A low-precision tensor read at every step of a loop, its gradient summed over the steps in fp32.

Why: the decoder's attention loop reads the same tensors at every one of its hundreds of steps (the
encoder memory and its projection, the folded location kernel, the `v` weight). Under bf16 autocast they
are bf16, and autograd sums their per-step gradients in bf16: over 900 teacher-forced steps that sum
drifts (measured on the CPU, tiny model, against fp32: the encoder's gradient 25% off, the attention's
weights' 41%, where 100 steps give 5% and 8%; tests/model/test_step_shared.py). Here each step's
gradient is added into one fp32 sum as it arrives (one add per step, as autograd's own) and handed back,
cast once, when the loop's last use is done.

Use: `shared = defer_shared_grad(t)` before the loop; at each step read `shared.use()` (or `read(shared)`
for code that also takes plain tensors). Only for bf16/fp16 tensors that get a gradient; anything else
is returned as it is (fp32 sums are already fp32).
"""

from __future__ import annotations

import torch


class StepShared:
    """`tensor` read at every step; `use()` is the tensor for one step (an alias through a node whose
    backward adds that step's gradient into the fp32 sum)."""

    def __init__(self, tensor: torch.Tensor):
        self._sum = _Sum()
        self.tensor = _Collected.apply(tensor, self._sum)

    def use(self) -> torch.Tensor:
        return _Use.apply(self.tensor, self._sum)


def defer_shared_grad(tensor: torch.Tensor) -> torch.Tensor | StepShared:
    """`StepShared(tensor)` where backward will run through a reduced-precision tensor; else `tensor`."""
    low = tensor.dtype in (torch.bfloat16, torch.float16)
    return StepShared(tensor) if low and torch.is_grad_enabled() and tensor.requires_grad else tensor


def read(value: torch.Tensor | StepShared) -> torch.Tensor:
    """The tensor for this step: `value.use()` for a `StepShared`, a plain tensor as it is."""
    return value.use() if isinstance(value, StepShared) else value


class _Sum:
    """The sum of the steps' gradients so far, in fp32 (fp64 for fp64 gradients); None before the first."""

    def __init__(self) -> None:
        self.total: torch.Tensor | None = None

    def add(self, grad: torch.Tensor) -> None:
        if self.total is None:
            self.total = grad.to(torch.promote_types(grad.dtype, torch.float32), copy=True)
        else:
            self.total.add_(grad)


class _Use(torch.autograd.Function):
    """One step's read: forward an alias, backward files the gradient (None to autograd)."""

    @staticmethod
    def forward(ctx, tensor, total: _Sum):  # noqa: ANN001, ANN205 (autograd.Function)
        ctx.total = total
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        if grad is not None:
            ctx.total.add(grad)
        return None, None


class _Collected(torch.autograd.Function):
    """The tensor as the steps see it; its backward runs after all of theirs and returns the sum."""

    @staticmethod
    def forward(ctx, tensor, total: _Sum):  # noqa: ANN001, ANN205
        ctx.total, ctx.dtype = total, tensor.dtype
        ctx.set_materialize_grads(False)
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, _unused):  # noqa: ANN001, ANN205
        total, ctx.total.total = ctx.total.total, None  # a retained graph's next backward starts from 0
        return (total.to(ctx.dtype) if total is not None else None), None
