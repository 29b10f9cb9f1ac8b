"""StepMatmul: a weight used at every step of a loop, its gradient formed as one matmul after the loop."""

from __future__ import annotations

import gc
import weakref

import pytest
import torch

from tacotron.model.step_matmul import StepMatmul, defer_weight_grad, step_matmul


def _recurrence(weight, x0, adds, mix, *, deferred: bool, chunk: int = 32):
    """h_{t+1} = tanh((add_t + h_t @ W.T) @ mix); the last step's output reaches the loss only through
    its first column, and step 2's `add` is None (both kinds of step in one loop)."""
    w = StepMatmul(weight, chunk) if deferred else weight
    h, outputs = x0, []
    for t, add in enumerate(adds):
        y = step_matmul(h, w, add if t != 2 else None)
        outputs.append(y)
        h = torch.tanh(y @ mix)
    outputs[-1] = outputs[-1][:, :1]
    return torch.cat([o.flatten() for o in outputs])


def _inputs(steps=5, batch=3, n=6, k=4, dtype=torch.float64):
    torch.manual_seed(0)
    weight = torch.randn(n, k, dtype=dtype, requires_grad=True)
    x0 = torch.randn(batch, k, dtype=dtype, requires_grad=True)
    adds = torch.randn(steps, batch, n, dtype=dtype, requires_grad=True)
    mix = torch.randn(n, k, dtype=dtype) / 3
    return weight, x0, adds, mix


@pytest.mark.parametrize("chunk", [1, 2, 32])  # every step, chunks with a remainder (5 steps), all at the end
def test_a_loop_through_step_matmul_passes_fp64_gradcheck(chunk):
    weight, x0, adds, mix = _inputs()
    assert torch.autograd.gradcheck(
        lambda w, x, a: _recurrence(w, x, a.unbind(0), mix, deferred=True, chunk=chunk), (weight, x0, adds)
    )


@pytest.mark.parametrize("chunk", [1, 2, 32])
def test_values_and_gradients_equal_the_plain_per_step_matmul(chunk):
    weight, x0, adds, mix = _inputs()
    probe = torch.randn_like(_recurrence(weight, x0, adds.unbind(0), mix, deferred=False))
    results = []
    for deferred in (False, True):
        out = _recurrence(weight, x0, adds.unbind(0), mix, deferred=deferred, chunk=chunk)
        results.append((out, *torch.autograd.grad((out * probe).sum(), (weight, x0, adds))))
    for plain, deferred in zip(*results, strict=True):
        torch.testing.assert_close(deferred, plain, atol=1e-12, rtol=1e-10)


def test_a_second_backward_of_the_same_graph_gives_the_same_gradient():
    weight, x0, adds, mix = _inputs()
    out = _recurrence(weight, x0, adds.unbind(0), mix, deferred=True).sum()
    first = torch.autograd.grad(out, weight, retain_graph=True)[0]
    second = torch.autograd.grad(out, weight)[0]
    torch.testing.assert_close(second, first, atol=0, rtol=0)


def test_the_graph_holds_no_reference_cycle():
    """The records must be freed with the graph (no cycle waiting for the garbage collector: on a GPU that
    would keep every step's activations alive past the training step). Step 2's input is step 1's output,
    whose graph node holds the records: recording it with its graph would close a cycle."""
    weight, x0, adds, mix = _inputs()
    gc.collect()
    gc.disable()
    try:
        matmul = StepMatmul(weight)
        hidden = torch.tanh(step_matmul(x0, matmul, adds[0]) @ mix)
        alive = weakref.ref(hidden)
        out = step_matmul(hidden, matmul, adds[1]).sum()
        out.backward()
        del hidden, matmul, out
        assert alive() is None
    finally:
        gc.enable()


def test_an_input_changed_in_place_after_its_step_is_refused():
    weight, x0, adds, mix = _inputs()
    matmul = StepMatmul(weight)
    hidden = x0 * 1.0
    out = step_matmul(hidden, matmul, adds[0]).sum()
    hidden.add_(1.0)  # after the step used it: its weight gradient would need the old values
    with pytest.raises(RuntimeError, match="modified in place"):
        out.backward()


def test_a_chunk_below_one_step_is_refused():
    with pytest.raises(ValueError, match="chunk must be >= 1"):
        StepMatmul(torch.randn(2, 2, requires_grad=True), chunk=0)


def test_only_deferred_where_backward_will_run():
    weight = torch.randn(4, 3, requires_grad=True)
    assert isinstance(defer_weight_grad(weight), StepMatmul)
    frozen = weight.detach()
    assert defer_weight_grad(frozen) is frozen
    with torch.no_grad():
        assert defer_weight_grad(weight) is weight


def test_bf16_weight_gradient_summed_once_is_closer_to_the_exact_sum_than_per_step_adds():
    """Per-step bf16 gradients added into a bf16 buffer lose precision step after step; the deferred
    gradient sums chunks of steps in fp32 and is rounded to bf16 once."""
    torch.manual_seed(0)
    steps, batch, n, k = 400, 4, 8, 16
    weight = torch.randn(n, k, dtype=torch.float64)
    xs = torch.randn(steps, batch, k, dtype=torch.float64)
    output_grads = torch.randn(steps, batch, n, dtype=torch.float64)
    exact = torch.einsum("sbn,sbk->nk", output_grads, xs)

    def weight_grad(deferred: bool) -> torch.Tensor:
        w = weight.to(torch.bfloat16).requires_grad_()
        m = StepMatmul(w) if deferred else w
        outs = [step_matmul(x.to(torch.bfloat16), m) for x in xs]
        torch.autograd.backward(outs, [g.to(torch.bfloat16) for g in output_grads])
        return w.grad.double()

    plain_error = (weight_grad(False) - exact).abs().mean()
    deferred_error = (weight_grad(True) - exact).abs().mean()
    assert deferred_error < plain_error / 2, (deferred_error, plain_error)
