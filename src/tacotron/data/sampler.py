"""`BucketBatchSampler`: length-bucketed, shuffled, DDP-split batches with an exact resume position.

Why buckets: a Tacotron batch is padded to its longest mel, so random batches of LJSpeech waste
about a third of every step on padding. Sorting by length inside buckets of bucket_size x
batch_size shuffled items keeps batches nearly uniform in length while batch order still changes
every epoch.

Why noisy ranks: sorting alone makes batch *membership* a function of bucket content, and when the
corpus fits in one bucket (at most bucket_size x batch_size items, as the demo corpus does) that
content never changes, so every epoch would train on the same batches in a new order, the same
leftover batch of the longest items included (a repeated batch like that shows up as gradient
spikes at the same steps of every run). So a bucket
is sorted by noisy length, as AllenNLP's `padding_noise` does, but with the noise on each item's
length *rank in the whole corpus*: uniform noise `rank_jitter` batch widths wide. In rank units the
mixing is the same for any length distribution (ties included), and it costs padding only where
lengths are sparse; in corpus units it is strongest where it is needed: a one-bucket corpus lets
each item trade places with items up to a batch away, while in a corpus of many buckets (whose
random content already changes membership) it only reorders near-equal lengths. On a one-bucket
corpus no batch of one epoch recurs in the next and about half of the batchmate pairs change, for a
padding cost of a few percent (random batches waste about 40%); on a corpus of many buckets the
padding barely changes (numbers: benchmarks/RESULTS.md). A bucket's one short batch sits at a random
point of its order, so it (and, with drop_last, the dropped items) is not always the longest items.

Why a stored position: resuming mid-epoch must replay exactly the batches that were not yet
trained on, or a resumed run is not the run it continues.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from itertools import accumulate
from typing import Any

from torch.utils.data import Sampler


def padding_fraction(lengths: Sequence[int], batches: Sequence[Sequence[int]]) -> float:
    """Share of padded frames when each batch is padded to its longest item (0 = no padding)."""
    real = sum(lengths[i] for b in batches for i in b)
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches if b)
    return 1.0 - real / padded if padded else 0.0


def length_ranks(lengths: Sequence[int]) -> list[int]:
    """Each item's place in the corpus sorted by length (ties by index): 0 = shortest."""
    ranks = [0] * len(lengths)
    for place, i in enumerate(sorted(range(len(lengths)), key=lambda i: (lengths[i], i))):
        ranks[i] = place
    return ranks


class BucketBatchSampler(Sampler[list[int]]):
    """Yields lists of dataset indices for this rank, one epoch per iteration.

    Determinism: the batches of an epoch depend only on (lengths, batch_size, bucket_size, shuffle,
    seed, epoch, world_size, drop_last, rank_jitter); each rank takes every world_size-th batch, and all ranks get
    the same number of batches (without drop_last, the batch list is padded by repeating batches
    from its start, as DistributedSampler does with items).
    Resume: `state_dict()` = {"epoch", "position", "batch_size"}; `position` counts batches this
    rank has yielded in the current epoch, and the next iteration after `load_state_dict` starts there.
    Batch-size changes (`set_batch_size`) take effect at the start of the next epoch.
    rank_jitter: width, in batches, of the uniform noise added to each item's length rank before a
    bucket is cut into batches (0 = plain sort; ignored without shuffle, which keeps exact length order).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        bucket_size: int = 64,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = False,
        rank_jitter: float = 1.0,
    ) -> None:
        if batch_size < 1 or bucket_size < 1:
            raise ValueError(f"batch_size and bucket_size must be >= 1, got {batch_size} and {bucket_size}")
        if not rank_jitter >= 0:
            raise ValueError(f"rank_jitter must be >= 0, got {rank_jitter}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size={world_size}), got {rank}")
        self.lengths = [int(n) for n in lengths]
        self.batch_size = batch_size
        self.bucket_size = bucket_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.drop_last = drop_last
        self.rank_jitter = float(rank_jitter)
        self._length_rank = length_ranks(self.lengths)
        self.epoch = 0
        self.position = 0
        self._next_batch_size: int | None = None

    # ------------------------------------------------------------------ epoch plan
    def _all_batches(self) -> list[list[int]]:
        """Every batch of the current epoch, across all ranks, in training order."""
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        order = list(range(len(self.lengths)))
        if self.shuffle:
            rng.shuffle(order)
        span = self.bucket_size * self.batch_size
        batches: list[list[int]] = []
        for start in range(0, len(order), span):
            batches += self._cut_bucket(order[start : start + span], rng)
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def _cut_bucket(self, bucket: list[int], rng: random.Random) -> list[list[int]]:
        """Batches of one bucket: consecutive runs of its items sorted by (noisy, when shuffling) length rank."""
        width = self.rank_jitter * self.batch_size if self.shuffle else 0.0
        place = self._length_rank
        noisy = {i: place[i] + rng.uniform(0.0, width) for i in bucket} if width else None
        ranked = sorted(bucket, key=noisy.__getitem__ if noisy else place.__getitem__)
        n_full, leftover = divmod(len(ranked), self.batch_size)
        sizes = [self.batch_size] * n_full
        if leftover:
            sizes.insert(rng.randint(0, n_full) if self.shuffle else n_full, leftover)
        ends = list(accumulate(sizes))
        return [ranked[end - size : end] for end, size in zip(ends, sizes, strict=True)]

    def batches(self) -> list[list[int]]:
        """This rank's batches for the current epoch (all of them, ignoring `position`)."""
        everything = self._all_batches()
        if not everything:
            return []
        per_rank = self._per_rank(len(everything))
        total = per_rank * self.world_size
        if total > len(everything):  # pad by repeating from the start so every rank gets per_rank batches
            everything = (everything * (total // len(everything) + 1))[:total]
        return everything[:total][self.rank :: self.world_size]

    def _per_rank(self, n_batches: int) -> int:
        return n_batches // self.world_size if self.drop_last else -(-n_batches // self.world_size)

    def __iter__(self) -> Iterator[list[int]]:
        plan = self.batches()
        while self.position < len(plan):
            batch = plan[self.position]
            self.position += 1
            yield batch
        self._advance_epoch_state()

    def __len__(self) -> int:
        return len(self.batches())

    # ------------------------------------------------------------------ control
    def set_epoch(self, epoch: int) -> None:
        """Select the epoch's shuffle; a different epoch starts at position 0 with any pending batch size."""
        if epoch != self.epoch:
            self.epoch = epoch
            self._advance_epoch_state()

    def _advance_epoch_state(self) -> None:
        self.position = 0
        if self._next_batch_size is not None:
            self.batch_size, self._next_batch_size = self._next_batch_size, None

    def set_batch_size(self, batch_size: int) -> None:
        """Use `batch_size` from the next epoch on (the current epoch's batches stay as planned)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self._next_batch_size = batch_size

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "position": self.position, "batch_size": self.batch_size}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue at (epoch, position); a stored batch_size (if any) replaces the current one."""
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])
        if "batch_size" in state:
            self.batch_size = int(state["batch_size"])

    def padding_fraction(self, batches: Sequence[Sequence[int]] | None = None) -> float:
        """Padded share of frames for `batches` (default: this rank's current epoch)."""
        return padding_fraction(self.lengths, self.batches() if batches is None else batches)
