"""BucketBatchSampler: coverage, DDP split, exact mid-epoch resume, low padding, batch-size changes,
and batch membership that changes every epoch even when the corpus fits in one bucket."""

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


@pytest.mark.parametrize("bucket_size", [4, 64])  # many buckets; the whole corpus in one bucket
def test_resume_from_state_dict_reproduces_remaining_batches(bucket_size):
    lengths = _lengths()
    full = BucketBatchSampler(lengths, 8, bucket_size=bucket_size, seed=2)
    full.set_epoch(3)
    expected = list(full)
    first = BucketBatchSampler(lengths, 8, bucket_size=bucket_size, seed=2)
    first.set_epoch(3)
    iterator = iter(first)
    consumed = [next(iterator) for _ in range(10)]
    state = first.state_dict()
    assert state["epoch"] == 3 and state["position"] == 10
    resumed = BucketBatchSampler(lengths, 8, bucket_size=bucket_size, seed=2)
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


# ---------------------------------------------------------------- a corpus that fits in one bucket
# 200 items < bucket_size 64 x batch_size 8: before the noisy-rank sort, every epoch cut the one sorted
# bucket at the same places, so every batch (and every pair of batchmates) recurred in every epoch.


def _epoch_sets(sampler: BucketBatchSampler, epochs: range) -> list[set[frozenset[int]]]:
    sets = []
    for epoch in epochs:
        sampler.set_epoch(epoch)
        sets.append({frozenset(b) for b in sampler.batches()})
    return sets


def _batchmate_pairs(batches: set[frozenset[int]]) -> set[frozenset[int]]:
    return {frozenset((i, j)) for b in batches for i in b for j in b if i < j}


def test_small_corpus_batch_membership_changes_every_epoch():
    sampler = BucketBatchSampler(_lengths(200), batch_size=8, bucket_size=64, seed=4)
    sets = _epoch_sets(sampler, range(6))
    assert sets[0] != sets[1]
    for before, after in zip(sets, sets[1:], strict=False):
        # old code: 100% of batches and of batchmate pairs recur; now (seed 4) 0-8% of batches, 46-56% of pairs
        assert len(before & after) / len(after) <= 0.15
        assert len(_batchmate_pairs(before) & _batchmate_pairs(after)) / len(_batchmate_pairs(after)) < 0.7


def test_small_corpus_longest_items_do_not_always_share_a_batch():
    lengths = _lengths(203)  # 203 = 25 x 8 + 3: also a short leftover batch
    sampler = BucketBatchSampler(lengths, batch_size=8, bucket_size=64, seed=0)
    longest = sorted(range(len(lengths)), key=lambda i: lengths[i])[-8:]
    mates, leftovers = set(), set()
    for epoch in range(8):
        sampler.set_epoch(epoch)
        batches = sampler.batches()
        mates.add(next(frozenset(b) for b in batches if longest[-1] in b))
        leftovers.add(next(frozenset(b) for b in batches if len(b) < 8))
    assert len(mates) >= 4  # old code: the same 3 longest items formed the leftover batch every epoch
    assert len(leftovers) == 8 and frozenset(longest[-3:]) not in leftovers


def test_small_corpus_drop_last_drops_different_items_each_epoch():
    lengths = _lengths(203)
    sampler = BucketBatchSampler(lengths, batch_size=8, bucket_size=64, seed=0, drop_last=True)
    dropped = []
    for epoch in range(4):
        sampler.set_epoch(epoch)
        kept = {i for b in sampler for i in b}
        assert len(kept) == 200
        dropped.append(frozenset(range(len(lengths))) - kept)
    assert len(set(dropped)) == 4  # old code: always the 3 longest items, never trained on


def test_small_corpus_covers_every_index_once_and_is_deterministic():
    lengths = _lengths(203)
    for epoch in range(4):
        a = BucketBatchSampler(lengths, batch_size=8, bucket_size=64, seed=9)
        b = BucketBatchSampler(lengths, batch_size=8, bucket_size=64, seed=9)
        a.set_epoch(epoch)
        b.set_epoch(epoch)
        batches = list(a)
        assert batches == list(b)  # same (seed, epoch) -> same batches in the same order
        assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    seed_9, seed_10 = (BucketBatchSampler(lengths, batch_size=8, bucket_size=64, seed=s) for s in (9, 10))
    assert {frozenset(b) for b in seed_9} != {frozenset(b) for b in seed_10}


def _demo_like_lengths(n: int = 1140) -> list[int]:
    rng = random.Random(0)
    return [int(min(600, max(100, rng.gauss(330, 110)))) for _ in range(n)]


def test_small_corpus_padding_stays_near_the_sorted_value():
    # 1,140 demo-like lengths (100-600 frames), batch 32, one bucket. Mean over 4 epochs, measured:
    # old sorted cut 0.019, noisy ranks 0.033, plain sort of this code (rank_jitter=0) 0.020, random 0.41.
    lengths = _demo_like_lengths()
    noisy = BucketBatchSampler(lengths, batch_size=32, bucket_size=64, seed=1)
    sorted_ = BucketBatchSampler(lengths, batch_size=32, bucket_size=64, seed=1, rank_jitter=0)
    fractions = {}
    for name, sampler in (("noisy", noisy), ("sorted", sorted_)):
        values = []
        for epoch in range(4):
            sampler.set_epoch(epoch)
            values.append(sampler.padding_fraction())
        fractions[name] = sum(values) / len(values)
    assert fractions["sorted"] < 0.025
    assert fractions["noisy"] < 0.045 and fractions["noisy"] < 2.5 * fractions["sorted"]


def test_many_buckets_padding_barely_changes():
    # 13,100 demo-like lengths span 7 buckets, whose random content already changes membership: the noise
    # is one batch width in corpus ranks, so it only reorders near-equal lengths (measured 1.23% -> 1.29%).
    lengths = _demo_like_lengths(13100)
    noisy = BucketBatchSampler(lengths, batch_size=32, seed=1).padding_fraction()
    sorted_ = BucketBatchSampler(lengths, batch_size=32, seed=1, rank_jitter=0).padding_fraction()
    assert noisy < sorted_ * 1.15


def test_invalid_arguments():
    with pytest.raises(ValueError, match="rank"):
        BucketBatchSampler([1, 2], 1, rank=2, world_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        BucketBatchSampler([1, 2], 0)
    with pytest.raises(ValueError, match="rank_jitter"):
        BucketBatchSampler([1, 2], 1, rank_jitter=-1.0)
