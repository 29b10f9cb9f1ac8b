"""benchmarks/graph_shapes.py: text bucketed by its mel bucket gives one graph shape per (B, T), fewer than before.

A CPU simulation of the real sampler and padding rule over demo-like lengths (see the script's docstring).
"""

from __future__ import annotations

import importlib

import pytest

from tacotron.data.sampler import BucketBatchSampler
from tacotron.frames import padded_frames
from tacotron.train.graphs import TextBound, bucket_shape

DEMO = dict(batch_size=64, bucket_size=64, r=2, text_multiple=16, mel_multiple=32)  # demo-cuda.yaml


@pytest.fixture
def shapes(monkeypatch):
    from tacotron.commands.bench import BENCH_DIR

    monkeypatch.syspath_prepend(str(BENCH_DIR))
    return importlib.import_module("graph_shapes")


def test_bounded_text_always_fits_and_gives_one_shape_per_mel_bucket_and_batch_size(shapes):
    corpus = shapes.demo_like(seed=1)
    bound = TextBound(corpus.text, corpus.frames)
    sampler = BucketBatchSampler(corpus.frames, DEMO["batch_size"], DEMO["bucket_size"], shuffle=True, seed=1)
    keys, mel_buckets = set(), set()
    for epoch in range(10):
        sampler.set_epoch(epoch)
        for batch in sampler.batches():
            text = max(corpus.text[i] for i in batch)
            frames = padded_frames(max(corpus.frames[i] for i in batch), DEMO["r"])
            length, t = bucket_shape(text, frames, DEMO["r"], text_multiple=16, mel_multiple=32, bound=bound)
            assert length >= bound(t) >= text  # the corpus bound covers every batch: never a fallback
            keys.add((len(batch), length, t))
            mel_buckets.add((len(batch), t))
    assert len(keys) == len(mel_buckets)


def test_bounded_text_cuts_the_shapes_of_the_demo_like_corpus(shapes):
    corpus = shapes.demo_like(seed=0)
    run = dict(DEMO, epochs=[1, 20], seed=0)
    old = shapes.simulate(corpus, bounded=False, **run)
    new = shapes.simulate(corpus, bounded=True, **run)
    assert new.too_long == 0
    assert new.keys_after[20] <= 0.85 * old.keys_after[20]  # 28 against 36 at seed 0
    assert new.padding.mel_share() == old.padding.mel_share()  # mels are padded as before
    assert new.padding.text_share() - old.padding.text_share() < 0.06  # the cost: some more text padding
