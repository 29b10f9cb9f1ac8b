"""The training batch stream: bucketed batches over endless epochs, with an exact resume position.

Why we count batches ourselves: a DataLoader with workers prefetches, so the sampler runs ahead of
what training has consumed. The checkpoint stores (epoch, batches consumed this epoch) as seen by the
training loop, and on resume the sampler is told to start at exactly that batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader

from tacotron.data.batch import Batch
from tacotron.data.collate import TextMelCollate
from tacotron.train.distributed import DistInfo

log = logging.getLogger(__name__)


class BatchStream:
    """Endless iterator of host (CPU) `Batch`es for one (r, batch_size) stage.

    `state_dict()` -> {"epoch", "position", "batch_size", "r"}; `load_state_dict` continues from there
    (only when batch size and r match: after an r-schedule stage change the new stage starts its epoch
    at position 0).
    """

    def __init__(
        self,
        dataset: Any,
        *,
        batch_size: int,
        r: int,
        bucket_size: int,
        seed: int,
        dist: DistInfo,
        workers: int,
        pin_memory: bool,
        epoch: int = 0,
        drop_last: bool = False,
    ):
        from tacotron.data.sampler import BucketBatchSampler

        self.batch_size, self.r, self.seed = batch_size, r, seed
        # Each DataLoader iterator draws a worker base seed; from its own generator, not the global RNG,
        # so starting an epoch iterator (also on resume) leaves the training RNG stream untouched.
        self._generator = torch.Generator()
        self.epoch, self.position = epoch, 0
        self.sampler = BucketBatchSampler(
            dataset.lengths,
            batch_size=batch_size,
            bucket_size=bucket_size,
            shuffle=True,
            seed=seed,
            rank=dist.rank,
            world_size=dist.world_size,
            drop_last=drop_last,
        )
        self.loader = DataLoader(
            dataset,
            batch_sampler=self.sampler,
            collate_fn=TextMelCollate(r),
            num_workers=workers,
            pin_memory=pin_memory,
            generator=self._generator,
        )
        self._iter: Iterator[Batch] | None = None
        if len(self.sampler) == 0:
            raise ValueError(f"the training split yields no batches of size {batch_size} on this rank")

    def __next__(self) -> Batch:
        if self._iter is None:
            self._start_epoch()
        try:
            batch = next(self._iter)
        except StopIteration:
            self.epoch += 1
            self.position = 0
            self._start_epoch()
            batch = next(self._iter)
        self.position += 1
        return batch

    def __iter__(self) -> BatchStream:
        return self

    def _start_epoch(self) -> None:
        self.sampler.set_epoch(self.epoch)
        self._generator.manual_seed(self.seed * 1_000_003 + self.epoch)
        if self.position:
            self.sampler.load_state_dict({"epoch": self.epoch, "position": self.position})
        self._iter = iter(self.loader)

    def take(self, n: int) -> list[Batch]:
        return [next(self) for _ in range(n)]

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position, "batch_size": self.batch_size, "r": self.r}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch = int(state["epoch"])
        same_stage = state.get("batch_size") == self.batch_size and state.get("r") == self.r
        self.position = int(state["position"]) if same_stage else 0
        self._iter = None


def collate_all(dataset: Any, indices: list[int], batch_size: int, r: int) -> list[Batch]:
    """Validation batches, in length order (less padding), collated once and reused each evaluation."""
    order = sorted(indices, key=lambda i: dataset.lengths[i])
    collate = TextMelCollate(r)
    return [
        collate([dataset[i] for i in order[s : s + batch_size]]) for s in range(0, len(order), batch_size)
    ]


def padding_stats(batch: Batch) -> tuple[int, int]:
    """(real mel frames, padded mel frames) of a host batch; CPU tensors, so no device sync."""
    real = int(batch.mel_lengths.sum())
    return real, batch.size * int(batch.mels.size(2))


def move(batch: Batch, device: torch.device) -> Batch:
    """Copy to `device`; asynchronous from pinned memory on CUDA."""
    return batch.to(device, non_blocking=device.type == "cuda")
