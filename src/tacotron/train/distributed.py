"""Process-group setup for DDP (`torchrun ... -m tacotron train` or `tacotron train --gpus N`).

Rank, world size and local rank come from torchrun's environment variables (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR, MASTER_PORT). NCCL on GPUs, gloo on CPU. `agree` all-reduces small flags so
every rank takes the same decision (skip this step, stop now) and none is left waiting in a collective;
`broadcast_object` hands rank 0's steering decisions (rollback target, LR scale) to the others.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job; world_size 1 means no process group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def is_main_process() -> bool:
    """Rank 0 of a torchrun job, or a single process (readable before the process group exists)."""
    return int(os.environ.get("RANK", "0")) == 0


def resolve_device(request: str, local_rank: int = 0) -> torch.device:
    """'auto' | 'cpu' | 'cuda' | 'cuda:N' -> a device; under DDP 'cuda'/'auto' mean cuda:LOCAL_RANK."""
    if request == "auto":
        request = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(request)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"--device {request}: CUDA is not available on this machine (use cpu or auto)")
        index = local_rank if device.index is None else device.index
        if index >= torch.cuda.device_count():
            raise RuntimeError(f"--device {request}: only {torch.cuda.device_count()} CUDA device(s) visible")
        device = torch.device("cuda", index)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise RuntimeError(f"--device must be auto, cpu, cuda or cuda:N, got {request!r}")
    return device


def init_distributed(device_request: str, timeout_s: float) -> tuple[DistInfo, torch.device]:
    """Read torchrun's env vars; start the process group when WORLD_SIZE > 1; pick the device.

    timeout_s (train.ddp_timeout_s): a collective that waits longer raises instead of hanging.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    info = DistInfo(rank=rank, world_size=world_size, local_rank=local_rank)
    device = resolve_device(device_request, local_rank)
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        kwargs = {"device_id": device} if device.type == "cuda" else {}
        dist.init_process_group(
            backend=backend, rank=rank, world_size=world_size, timeout=timedelta(seconds=timeout_s), **kwargs
        )
        log.info("DDP: rank %d of %d on %s (%s)", rank, world_size, device, backend)
    return info, device


def teardown(info: DistInfo) -> None:
    """Wait for every rank, then destroy the process group.

    Why the barrier: a rank that destroyed its group and exited while a peer was still finishing its part
    of the last collective made that peer abort at exit ("terminate called without an active exception",
    gloo, seen on the non-writing rank of two torchrun nodes), and torchrun's other agent then waited out
    its exit barrier. A peer already gone fails the barrier at once (closed connection); that is logged.
    """
    if info.enabled and dist.is_initialized():
        try:
            dist.barrier()
        except RuntimeError as err:
            log.warning("DDP teardown: not every rank reached the end (%s); closing this one's group", err)
        dist.destroy_process_group()


def agree(flags: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Element-wise max over ranks of a small float tensor of flags (any rank's 1 becomes everyone's)."""
    if info.enabled:
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
    return flags


def all_sum(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Sum over ranks (in place, returned for chaining); identity without a process group."""
    if info.enabled:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's picklable `obj` on every rank (what other ranks pass is ignored); identity without DDP."""
    if not info.enabled:
        return obj
    box = [obj if info.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]
