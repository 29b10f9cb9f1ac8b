"""CUDA-graph training under DDP: `GradientSync` does DDP's work outside the graph, with DDP's result.

Two gloo ranks (scripts/grad_sync_worker.py), each starting from its own random initialisation, so the
initial broadcast from rank 0 is part of what is checked. On the CPU the graph step runs its bodies
uncaptured (`capture=False`: the same bookkeeping and sync); the CUDA test captures real graphs with
both ranks on one GPU (gloo takes CUDA tensors; NCCL refuses two ranks on one device).
SGD, not Adam: Adam turns the rounding noise of a zero true gradient (conv biases before BatchNorm)
into full-size steps, which would hide real differences among fake ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from tests.helpers.processes import run_ranks

from tacotron.train.distributed import DistInfo
from tacotron.train.grad_sync import GradientSync

WORKER = Path(__file__).resolve().parent / "scripts" / "grad_sync_worker.py"


def run_worker(mode: str, out: Path) -> list[dict]:
    run_ranks([sys.executable, str(WORKER), mode, str(out)], timeout=240)
    return [torch.load(out / f"rank{r}.pt") for r in range(2)]


def assert_identical(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], what: str) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), f"{what}: {name} differs"


def assert_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], what: str, **tol) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], msg=lambda m, n=name: f"{what}: {n}: {m}", **tol)


def assert_trained(end: dict[str, torch.Tensor], start: dict[str, torch.Tensor]) -> None:
    moved = [name for name in end if not torch.equal(end[name], start[name])]
    assert len(moved) > 0.9 * len(end), f"only {len(moved)} of {len(end)} parameters changed"


def test_gradient_sync_sums_like_ddp_averages_and_keeps_ranks_identical(tmp_path):
    ranks = run_worker("unit", tmp_path)
    # the initial broadcast replaced rank 1's own initialisation with rank 0's
    assert_identical(ranks[1]["initial"]["params"], ranks[0]["initial"]["params"], "initial")
    for rank in ranks:
        assert rank["buckets"] == 1 and rank["grad_is_view"], "one fp32 bucket whose views are the .grads"
        for step, (synced, ddp) in enumerate(zip(rank["grads_sync"], rank["grads_ddp"], strict=True)):
            for g, ref in zip(synced, ddp, strict=True):
                torch.testing.assert_close(
                    g, ref, rtol=1e-6, atol=1e-7, msg=lambda m, s=step: f"step {s}: {m}"
                )
        assert_close(rank["sync"]["params"], rank["ddp"]["params"], "sync vs DDP", rtol=1e-6, atol=1e-7)
        # buffers: rank 0's at each step's start plus this rank's batches, exactly as DDP broadcasts them
        assert_close(rank["sync"]["buffers"], rank["ddp"]["buffers"], "buffers", rtol=1e-6, atol=1e-7)
    assert_identical(ranks[0]["sync"]["params"], ranks[1]["sync"]["params"], "ranks")
    running = [rank["sync"]["buffers"]["1.running_mean"] for rank in ranks]
    assert not torch.equal(*running), "each rank's own batches move its statistics after the broadcast"
    assert all("zero_grad(set_to_none=False)" in rank["refused"] for rank in ranks)


@pytest.mark.slow
def test_graph_step_with_gradient_sync_trains_like_eager_ddp(tmp_path):
    ranks = run_worker("step", tmp_path)
    for rank in ranks:
        assert rank["graph_losses"] == pytest.approx(rank["eager_losses"], rel=1e-5)
        assert_close(rank["graph"]["params"], rank["eager"]["params"], "graph vs eager", rtol=1e-4, atol=1e-6)
        assert_close(rank["graph"]["buffers"], rank["eager"]["buffers"], "buffers", rtol=1e-4, atol=1e-6)
        assert_trained(rank["graph"]["params"], rank["initial"]["params"])
    assert_identical(ranks[0]["graph"]["params"], ranks[1]["graph"]["params"], "ranks")
    assert ranks[0]["graph_losses"] != ranks[1]["graph_losses"], "the ranks trained on different batches"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_captured_graphs_under_ddp_match_one_process_on_the_union(tmp_path):
    """Two ranks on one GPU replaying captured graphs end identical, and equal to one process
    accumulating both ranks' micro-batches (the global batch: DDP without SyncBatchNorm, so per-rank
    BatchNorm statistics, is accumulation, not one concatenated batch). TF32 off."""
    ranks = run_worker("cuda", tmp_path)
    assert ranks[0]["graphs"] == ranks[1]["graphs"] == 1
    assert_identical(ranks[0]["ddp"]["params"], ranks[1]["ddp"]["params"], "ranks")
    assert_trained(ranks[0]["ddp"]["params"], ranks[0]["initial"]["params"])
    single = ranks[0]["single"]["params"]
    assert_close(ranks[0]["ddp"]["params"], single, "DDP vs one process", rtol=1e-4, atol=1e-5)
    total = [a + b for a, b in zip(ranks[0]["losses"], ranks[1]["losses"], strict=True)]
    assert total == pytest.approx(ranks[0]["single_losses"], rel=1e-4)


def test_gradient_sync_needs_a_process_group_of_two_or_more():
    with pytest.raises(ValueError, match="more than one rank"):
        GradientSync(torch.nn.Linear(2, 2), DistInfo())
