"""A weight multiplied at every step of a loop, with its gradient formed in a few large matmuls.

Why: in the decoder's recurrent loops the same weight multiplies a new input at every step (the
attention LSTM's [W_hh | query layer] and its context half of W_ih; the decoder LSTM's W_hh). Plain
autograd then runs, at every step of backward, a weight-gradient matmul and a full-size add into the
weight's gradient buffer: for the 4,224 x 1,024 attention weight that is ~50 MB of memory traffic per
step in fp32, hundreds of times per training step, with a bf16 gradient summed in bf16. `StepMatmul`
files each step's output gradient instead and, every `chunk` steps, forms their weight gradient as one
matmul over chunk x B rows (the cuDNN backward-weights pass, in chunks so that the filed gradients
take chunk x B x N memory, not steps x B x N), summed in fp32.

Use: `matmul = StepMatmul(weight)` before the loop, `y = matmul(x, add)` (= add + x @ weight.T) at each
step. Only where a gradient is wanted (training, grad enabled, a weight that requires grad:
`defer_weight_grad`); otherwise `step_matmul` calls the plain op, as it does inside `torch.compile`
(which traces the plain op).
"""

from __future__ import annotations

import torch


class StepMatmul:
    """`weight` [N, K] used at every step: `self(x [B, K], add [B, N] | None)` -> add + x @ weight.T.

    The weight's gradient is completed when autograd reaches the node that produced `self.weight`, which
    runs after every step's node (they all consume it). The graph's nodes hold only the step records,
    which hold plain tensors (inputs detached, gradients): no reference cycle keeps memory alive.
    """

    def __init__(self, weight: torch.Tensor, chunk: int = 32):
        self._records = _StepRecords(chunk)
        self.weight = _CollectedWeight.apply(weight, self._records)

    def __call__(self, x: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        return _StepProduct.apply(x, self.weight, add, self._records)


class _StepRecords:
    """Each step's input (a detached reference to the graph's own tensor, no copy) and its version; during
    backward, the output gradients not yet summed (`pending`) and the fp32 (fp64 for fp64 weights) sum so
    far. The versions stand in for autograd's saved-tensor check: an input changed in place after its step
    would silently give a wrong gradient, so it raises as autograd would."""

    def __init__(self, chunk: int):
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        self.chunk = chunk
        self.inputs: list[torch.Tensor] = []
        self.versions: list[int] = []
        self.pending: dict[int, torch.Tensor] = {}
        self.weight_grad: torch.Tensor | None = None

    def file(self, index: int, output_grad: torch.Tensor) -> None:
        self.pending[index] = output_grad
        if len(self.pending) >= self.chunk:
            self.sum_pending()

    def sum_pending(self) -> None:
        """weight_grad += (the pending steps' output gradients).T @ (their inputs), one matmul."""
        if not self.pending:
            return
        steps = sorted(self.pending)
        changed = [i for i in steps if self.inputs[i]._version != self.versions[i]]
        if changed:
            raise RuntimeError(
                f"StepMatmul: the inputs of steps {changed[:5]} were modified in place after their step; "
                "their weight gradient would be wrong"
            )
        grads = torch.cat([self.pending.pop(i) for i in steps], dim=0)  # [len(steps) * B, N]
        partial = grads.t() @ torch.cat([self.inputs[i] for i in steps], dim=0).to(grads.dtype)
        if self.weight_grad is None:
            self.weight_grad = partial.to(torch.promote_types(partial.dtype, torch.float32))
        else:
            self.weight_grad.add_(partial)


def step_matmul(
    x: torch.Tensor, weight: torch.Tensor | StepMatmul, add: torch.Tensor | None = None
) -> torch.Tensor:
    """add + x @ weight.T, with `weight` a plain tensor (one op, as autograd differentiates it per step)
    or a `StepMatmul` (weight gradient formed in chunks of steps)."""
    if isinstance(weight, StepMatmul):
        return weight(x, add)
    return _product(x, weight, add)


def _product(x: torch.Tensor, weight: torch.Tensor, add: torch.Tensor | None) -> torch.Tensor:
    """add + x @ weight.T in the weight's dtype: the one formula of both paths."""
    x = x.to(weight.dtype)
    return torch.addmm(add.to(weight.dtype), x, weight.t()) if add is not None else x @ weight.t()


def defer_weight_grad(weight: torch.Tensor) -> torch.Tensor | StepMatmul:
    """`StepMatmul(weight)` when backward will run through it (grad enabled, weight requires grad);
    the weight itself otherwise (validation, inference)."""
    return StepMatmul(weight) if torch.is_grad_enabled() and weight.requires_grad else weight


class _StepProduct(torch.autograd.Function):
    """One step: add + x @ w.T. Backward returns the input's gradient and files the output's; the
    weight's gradient is None here (summed by the records, completed by `_CollectedWeight`)."""

    @staticmethod
    def forward(ctx, x, weight, add, steps: _StepRecords):  # noqa: ANN001, ANN205 (autograd.Function)
        x = x.to(weight.dtype)
        ctx.steps, ctx.index = steps, len(steps.inputs)
        ctx.has_add = add is not None
        ctx.save_for_backward(weight)
        steps.inputs.append(x.detach())  # shares x's version counter
        steps.versions.append(x._version)
        return _product(x, weight, add)

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        (weight,) = ctx.saved_tensors
        ctx.steps.file(ctx.index, grad)
        return grad.to(weight.dtype) @ weight, None, grad if ctx.has_add else None, None


class _CollectedWeight(torch.autograd.Function):
    """The weight as every step sees it; its backward runs after all steps' and returns their sum."""

    @staticmethod
    def forward(ctx, weight, steps: _StepRecords):  # noqa: ANN001, ANN205
        ctx.steps, ctx.dtype = steps, weight.dtype
        ctx.set_materialize_grads(False)  # the steps return None for it: no full-size zero tensor
        return weight.view_as(weight)

    @staticmethod
    def backward(ctx, _unused):  # noqa: ANN001, ANN205
        steps = ctx.steps
        steps.sum_pending()
        weight_grad = steps.weight_grad
        steps.weight_grad = None  # a retained graph's next backward starts again from 0
        return (weight_grad.to(ctx.dtype) if weight_grad is not None else None), None
