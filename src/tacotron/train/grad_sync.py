"""DDP's work around a step it cannot wrap: the CUDA-graph training step under `torchrun`.

Why not DDP: its autograd hooks (bucketing, launching all-reduces during backward) cannot run inside a
captured CUDA graph, so the graph computes each rank's local gradients and `GradientSync` does, around
the replays, what DDP does around an eager step:

- construction: rank 0's parameters and buffers are broadcast to every rank (DDP's constructor does
  the same), so the ranks start identical whatever each built or loaded;
- buffers, once per optimizer step before the first forward: rank 0's BatchNorm running statistics
  are broadcast, which is exactly when DDP (`broadcast_buffers=True`) broadcasts under gradient
  accumulation (it syncs before a forward that follows a synced backward, i.e. the step's first
  micro-batch). A rank's statistics are thus rank 0's plus its own micro-batches, as with DDP; rank 0's
  (which checkpoints and validation use) are single-process statistics of rank 0's batches;
- gradients, after the last micro-batch: summed over ranks. Every trainable parameter's `.grad` is a
  view of one flat buffer per (device, dtype), so that is one all-reduce per bucket with no copies
  (DDP's `gradient_as_bucket_view`). The graph accumulates into these `.grad` tensors by address, so they
  exist before capture and are zeroed, never replaced (`optimizer.zero_grad(set_to_none=False)`);
  `all_reduce` refuses to run if they were replaced, since it would then sync tensors nobody reads.

Scaling: the loss is normalised by the counts of all ranks' micro-batches (`step.global_norm`), so the
gradient of the global loss is the plain sum of the ranks' gradients: SUM, no division. `EagerStep`
reaches the same by back-propagating world_size x loss through DDP's average (bit-equal for a
power-of-two world size, equal up to rounding otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from tacotron.train.distributed import DistInfo


@dataclass
class GradBucket:
    """One flat buffer and the parameters whose `.grad` tensors are views of it, in order."""

    flat: torch.Tensor
    params: list[torch.nn.Parameter]
    views: list[torch.Tensor]


class GradientSync:
    """Rank 0's state to every rank, then after each step's backward the gradients summed over ranks.

    Build it after the model is in its final starting state (initialised, warm-started or resumed) and
    before anything captures its backward; it replaces every trainable parameter's `.grad` with a
    bucket view (keeping the values).
    """

    def __init__(self, model: torch.nn.Module, info: DistInfo):
        if not info.enabled:
            raise ValueError("GradientSync needs a process group of more than one rank")
        self.model, self.info = model, info
        self.buckets = bucket_gradients([p for p in model.parameters() if p.requires_grad])
        with torch.no_grad():
            broadcast_from_rank0([p.detach() for p in model.parameters()])
        self.broadcast_buffers()

    def broadcast_buffers(self) -> None:
        """Rank 0's buffers (BatchNorm running statistics) into every rank's, in place (call per step)."""
        buffers = list(self.model.buffers())
        if buffers:
            with torch.no_grad():
                broadcast_from_rank0(buffers)

    def all_reduce(self) -> None:
        """Sum every rank's gradients in place: one all-reduce per bucket."""
        self._check_views()
        for bucket in self.buckets:
            dist.all_reduce(bucket.flat, op=dist.ReduceOp.SUM)

    def _check_views(self) -> None:
        for bucket in self.buckets:
            for p, view in zip(bucket.params, bucket.views, strict=True):
                if p.grad is not view:
                    raise RuntimeError(
                        "GradientSync: a parameter's .grad was replaced or set to None; under CUDA-graph "
                        "DDP training use optimizer.zero_grad(set_to_none=False)"
                    )


def bucket_gradients(params: Sequence[torch.nn.Parameter]) -> list[GradBucket]:
    """One zero-initialised flat buffer per (device, dtype); each parameter's `.grad` becomes its view
    (an existing gradient's values are copied in)."""
    buckets = []
    for group in _by_device_and_dtype(params):
        flat = torch.zeros(sum(p.numel() for p in group), dtype=group[0].dtype, device=group[0].device)
        views, offset = [], 0
        for p in group:
            view = flat[offset : offset + p.numel()].view(p.shape)
            if p.grad is not None:
                view.copy_(p.grad)
            p.grad = view
            views.append(view)
            offset += p.numel()
        buckets.append(GradBucket(flat, list(group), views))
    return buckets


def broadcast_from_rank0(tensors: Sequence[torch.Tensor]) -> None:
    """Rank 0's values into `tensors` on every rank, in place: one broadcast per (device, dtype)."""
    for group in _by_device_and_dtype(tensors):
        flat = _flatten_dense_tensors(group)
        dist.broadcast(flat, src=0)
        torch._foreach_copy_(group, _unflatten_dense_tensors(flat, group))


def _by_device_and_dtype(tensors: Iterable[torch.Tensor]) -> list[list[torch.Tensor]]:
    groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.device, t.dtype), []).append(t)
    return list(groups.values())
