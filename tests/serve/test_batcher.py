"""Batcher: concurrent submits share one call, seeded jobs run alone, failures reach every waiter."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from tacotron.serve.batcher import Batcher


class Recorder:
    """A batch function that echoes its texts and records each call (optionally blocking the first)."""

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[list[str], int | None]] = []
        self.fail = fail
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, texts, seed, speakers=None):
        self.gate.wait(timeout=10)
        self.calls.append((list(texts), seed))
        if self.fail:
            raise RuntimeError("model exploded")
        return [f"{text}|{seed}" for text in texts]


async def _with_batcher(fn, coro_factory, max_batch_size=8, wait_s=0.05):
    executor = ThreadPoolExecutor(max_workers=1)
    batcher = Batcher(fn, executor, max_batch_size, wait_s)
    batcher.start()
    try:
        return await coro_factory(batcher)
    finally:
        await batcher.stop()
        executor.shutdown(wait=True)


def test_concurrent_requests_share_one_call_and_get_their_own_results():
    rec = Recorder()

    async def go(batcher):
        return await asyncio.gather(batcher.submit(["a", "b"]), batcher.submit(["c"]), batcher.submit(["d"]))

    results = asyncio.run(_with_batcher(rec, go))
    assert results == [["a|None", "b|None"], ["c|None"], ["d|None"]]
    assert rec.calls == [(["a", "b", "c", "d"], None)]


def test_batches_are_capped_at_max_batch_size():
    rec = Recorder()

    async def go(batcher):
        return await asyncio.gather(*(batcher.submit([str(i)]) for i in range(5)))

    results = asyncio.run(_with_batcher(rec, go, max_batch_size=2))
    assert [r[0] for r in results] == [f"{i}|None" for i in range(5)]
    assert [len(texts) for texts, _ in rec.calls] == [2, 2, 1]


def test_seeded_jobs_run_alone_with_their_seed():
    rec = Recorder()

    async def go(batcher):
        return await asyncio.gather(
            batcher.submit(["x"]), batcher.submit(["y"], seed=7), batcher.submit(["z"])
        )

    results = asyncio.run(_with_batcher(rec, go))
    assert results == [["x|None"], ["y|7"], ["z|None"]]
    assert (["y"], 7) in rec.calls
    assert (["x", "z"], None) in rec.calls
    assert len(rec.calls) == 2


def test_a_failing_batch_fails_every_request_in_it():
    rec = Recorder(fail=True)

    async def go(batcher):
        return await asyncio.gather(batcher.submit(["a"]), batcher.submit(["b"]), return_exceptions=True)

    results = asyncio.run(_with_batcher(rec, go))
    assert all(isinstance(r, RuntimeError) and "exploded" in str(r) for r in results)


def test_a_cancelled_request_is_not_synthesised():
    rec = Recorder()
    rec.gate.clear()  # the first batch blocks, so the second request is still queued when cancelled

    async def go(batcher):
        first = asyncio.ensure_future(batcher.submit(["first"]))
        await asyncio.sleep(0.1)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(batcher.submit(["dropped"]), timeout=0.05)
        rec.gate.set()
        return await first, await batcher.submit(["after"])

    first, after = asyncio.run(_with_batcher(rec, go, wait_s=0.0))
    assert first == ["first|None"] and after == ["after|None"]
    assert [texts for texts, _ in rec.calls] == [["first"], ["after"]]


def test_submit_requires_start_and_texts():
    batcher = Batcher(Recorder(), ThreadPoolExecutor(max_workers=1), 4, 0.0)
    with pytest.raises(RuntimeError, match="start"):
        asyncio.run(batcher.submit(["a"]))
    with pytest.raises(ValueError, match="max_batch_size"):
        Batcher(Recorder(), ThreadPoolExecutor(max_workers=1), 0, 0.0)


def test_each_text_carries_its_requests_speaker():
    rec = Recorder()
    seen = []

    def fn(texts, seed, speakers):
        seen.append(list(speakers))
        return rec(texts, seed)

    async def go(batcher):
        return await asyncio.gather(
            batcher.submit(["a", "b"], speaker="alice"),
            batcher.submit(["c"]),
            batcher.submit(["d"], None, "bob"),
        )

    assert asyncio.run(_with_batcher(fn, go)) == [["a|None", "b|None"], ["c|None"], ["d|None"]]
    assert seen == [["alice", "alice", None, "bob"]]


def test_a_prepared_call_runs_alone_in_queue_order_and_is_skipped_once_abandoned():
    rec = Recorder()
    rec.gate.clear()  # the first batch blocks until the others are queued
    ran: list[str] = []

    def call(name):
        def run():
            ran.append(name)
            rec.calls.append(([name], None))
            return name

        return run

    async def go(batcher):
        first = asyncio.ensure_future(batcher.submit(["a"]))
        await asyncio.sleep(0.1)  # "a" is running, blocked
        streamed = asyncio.ensure_future(batcher.submit_call(call("piece")))
        dropped = asyncio.ensure_future(batcher.submit_call(call("dropped")))
        later = asyncio.ensure_future(batcher.submit(["b"]))
        await asyncio.sleep(0.05)
        dropped.cancel()
        rec.gate.set()
        return await asyncio.gather(first, streamed, later)

    results = asyncio.run(_with_batcher(rec, go, wait_s=0.05))
    assert results == [["a|None"], "piece", ["b|None"]]
    assert ran == ["piece"]
    assert rec.calls == [(["a"], None), (["piece"], None), (["b"], None)]  # never one call with "b"
