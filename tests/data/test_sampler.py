"""BucketBatchSampler: coverage, DDP split, exact mid-epoch resume, low padding, batch-size changes."""

from __future__ import annotations

import random

import pytest

from tacotron.data.sampler import BucketBatchSampler, padding_fraction


def _lengths(n: int = 203, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(50, 900) for _ in range(n)]


def test_every_index_exactly_once_per_epoch():
    lengths = _lengths()
    sampler = BucketBatchSampler(lengths, batch_size=8, bucket_size=4, seed=1)
    epochs = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(len(lengths)))
        assert len(batches) == len(sampler) == 26 and all(1 <= len(b) <= 8 for b in batches)
        epochs.append(batches)
    assert epochs[0] != epochs[1]  # reshuffled every epoch
    sampler.set_epoch(0)
    assert list(sampler) == epochs[0]  # and deterministic


def test_drop_last_keeps_only_full_batches():
    sampler = BucketBatchSampler(_lengths(), batch_size=8, bucket_size=4, drop_last=True)
    batches = list(sampler)
    assert all(len(b) == 8 for b in batches) and len(batches) == 203 // 8


@pytest.mark.parametrize("drop_last", [False, True])
def test_ranks_get_disjoint_equal_shares(drop_last):
    lengths = _lengths()
    per_rank = [
        list(BucketBatchSampler(lengths, 8, bucket_size=4, seed=5, rank=r, world_size=3, drop_last=drop_last))
        for r in range(3)
    ]
    assert len({len(b) for b in per_rank}) == 1
    seen = [i for batches in per_rank for b in batches for i in b]
    if drop_last:
        assert len(seen) == len(set(seen))  # no item on two ranks
    else:
        assert set(seen) == set(range(len(lengths)))  # all covered; only the padding batch repeats
        assert len(seen) - len(set(seen)) <= 8


def test_resume_from_state_dict_reproduces_remaining_batches():
    lengths = _lengths()
    full = BucketBatchSampler(lengths, 8, bucket_size=4, seed=2)
    full.set_epoch(3)
    expected = list(full)
    first = BucketBatchSampler(lengths, 8, bucket_size=4, seed=2)
    first.set_epoch(3)
    iterator = iter(first)
    consumed = [next(iterator) for _ in range(10)]
    state = first.state_dict()
    assert state["epoch"] == 3 and state["position"] == 10
    resumed = BucketBatchSampler(lengths, 8, bucket_size=4, seed=2)
    resumed.load_state_dict(state)
    assert consumed + list(resumed) == expected
    assert resumed.state_dict()["position"] == 0  # a finished epoch starts over at 0


def test_bucketing_pads_less_than_random_batches():
    lengths = _lengths(800)
    sampler = BucketBatchSampler(lengths, batch_size=16, bucket_size=8, seed=0)
    rng = random.Random(0)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    random_batches = [order[i : i + 16] for i in range(0, len(order), 16)]
    bucketed = sampler.padding_fraction()
    unbucketed = padding_fraction(lengths, random_batches)
    assert bucketed < unbucketed / 3 and unbucketed > 0.3


def test_padding_fraction_values():
    assert padding_fraction([2, 4], [[0, 1]]) == pytest.approx(0.25)
    assert padding_fraction([3, 3], [[0], [1]]) == 0.0


def test_set_batch_size_applies_from_next_epoch():
    sampler = BucketBatchSampler(_lengths(), batch_size=8, bucket_size=4)
    sampler.set_batch_size(16)
    assert max(len(b) for b in sampler) == 8  # current epoch unchanged (and now finished)
    assert max(len(b) for b in sampler) == 16
    assert sampler.state_dict()["batch_size"] == 16
    other = BucketBatchSampler(_lengths(), batch_size=8, bucket_size=4)
    other.set_batch_size(4)
    other.set_epoch(1)
    assert max(len(b) for b in other) == 4


def test_unshuffled_is_length_sorted_within_buckets():
    lengths = _lengths(40)
    batches = list(BucketBatchSampler(lengths, 4, bucket_size=100, shuffle=False))
    flat = [i for b in batches for i in b]
    assert [lengths[i] for i in flat] == sorted(lengths)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="rank"):
        BucketBatchSampler([1, 2], 1, rank=2, world_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        BucketBatchSampler([1, 2], 0)
