"""Timed measurements: training steps, decoding, end-to-end real-time factor, largest batch.

Every training step variant does the same work: forward, the same masked `Tacotron2Loss`
(mel before/after postnet, gate, guided attention), backward, global-norm clipping and a fused Adam
step. Throughput counts *real* mel frames (padding is not credited), as in the numbers we compare to.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import torch
from torch import nn
from workloads import Workload

from tacotron.config import LossConfig
from tacotron.losses import Tacotron2Loss
from tacotron.model.tacotron2 import Tacotron2Output
from tacotron.train.graphs import GraphedTrainStep, pad_to_bucket

StepFn = Callable[[Workload, int], None]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def make_optimizer(model: nn.Module, device: torch.device) -> torch.optim.Optimizer:
    return torch.optim.Adam(model.parameters(), lr=1e-4, fused=device.type == "cuda")


def _finish_step(model: nn.Module, opt: torch.optim.Optimizer) -> None:
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
    opt.step()
    opt.zero_grad(set_to_none=False)


def eager_step(model: nn.Module, precision: str, *, torchaudio_model: bool) -> StepFn:
    """Plain PyTorch training step for ours (Tacotron2Output) or torchaudio's (4-tuple output)."""
    device = next(model.parameters()).device
    loss_fn, opt = Tacotron2Loss(LossConfig()), make_optimizer(model, device)

    def step(work: Workload, i: int) -> None:
        b = work.batch
        with _autocast(device, precision):
            if torchaudio_model:
                out = Tacotron2Output(*model(b.text, b.text_lengths, b.mels, b.mel_lengths), r=b.r)
            else:
                out = model(b.text, b.text_lengths, b.mels, b.mel_lengths, r=b.r)
        loss_fn(out, b, i, work.norm)["loss"].backward()
        _finish_step(model, opt)

    return step


def graphed_step(model: nn.Module, precision: str, *, text_multiple: int, mel_multiple: int) -> StepFn:
    """Our CUDA-graph training step (forward + loss + backward replayed), then clip + Adam eagerly."""
    device = next(model.parameters()).device
    graphed = GraphedTrainStep(model, Tacotron2Loss(LossConfig()), precision=precision)
    opt = make_optimizer(model, device)

    def step(work: Workload, i: int) -> None:
        graphed(
            pad_to_bucket(work.batch, text_multiple=text_multiple, mel_multiple=mel_multiple), i, work.norm
        )
        _finish_step(model, opt)

    step.graphed = graphed  # type: ignore[attr-defined]
    return step


def time_train(step: StepFn, works: list[Workload], *, warmup: int, iters: int, device: torch.device) -> dict:
    """Run `warmup` untimed steps (one per distinct batch at least, so graphs are captured), then time."""
    for i in range(max(warmup, 1)):
        step(works[i % len(works)], i)
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    frames = 0
    start = time.perf_counter()
    for i in range(iters):
        work = works[i % len(works)]
        step(work, warmup + i)
        frames += work.frames
    _sync(device)
    seconds = time.perf_counter() - start
    # reserved, not allocated: a replayed graph's working memory lives in its pool, not in allocations
    peak = torch.cuda.max_memory_reserved(device) / 2**30 if device.type == "cuda" else float("nan")
    return {"frames_per_s": frames / seconds, "s_per_step": seconds / iters, "peak_gib": peak, "iters": iters}


def time_calls(fn: Callable[[], object], *, repeats: int, device: torch.device) -> float:
    """Median wall seconds of `fn()` over `repeats` runs (after one untimed run)."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def fits(step: StepFn, work: Workload, device: torch.device) -> bool:
    """One training step at this size; False on CUDA out-of-memory (a measurement, not error hiding)."""
    try:
        step(work, 0)
        _sync(device)
        return True
    except torch.cuda.OutOfMemoryError:
        return False
    finally:
        torch.cuda.empty_cache()


def largest_batch_from_memory(
    try_size: Callable[[int], tuple[bool, int]],
    *,
    total_bytes: int,
    small: tuple[int, int] = (16, 48),
    step: float = 0.08,
) -> int:
    """Largest batch that trains: peak memory at two small batches gives bytes per item, the
    prediction is verified, then grown (or shrunk) by `step` until the boundary is bracketed.

    `try_size(n)` -> (fits, peak bytes). Cheaper than a bisection from scratch, since each try at a
    large batch is a full training step.
    """
    (_, p1), (_, p2) = try_size(small[0]), try_size(small[1])
    per_item = max(1, (p2 - p1) // (small[1] - small[0]))
    fixed = p1 - small[0] * per_item
    size = max(small[1], int((0.97 * total_bytes - fixed) / per_item) // 8 * 8)
    if try_size(size)[0]:
        for _ in range(6):
            bigger = max(size + 8, int(size * (1 + step)) // 8 * 8)  # always grow, even for small sizes
            if not try_size(bigger)[0]:
                break
            size = bigger
        return size
    for _ in range(6):
        size = min(size - 8, int(size * (1 - step)) // 8 * 8)
        if size < 1:
            return 0
        if try_size(size)[0]:
            return size
    return 0
