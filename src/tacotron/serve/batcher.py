"""Collect sentences from concurrent requests into batches: one model call at a time.

Why: a Tacotron decoder step costs about the same for 1 or 8 sequences on a GPU, so requests that arrive
together are synthesised together. The worker takes the first waiting job, keeps collecting for
`max_wait_s` (or until `max_batch_size` sentences), then runs one batch in a worker thread so the event
loop keeps accepting requests meanwhile.

Seeded jobs run alone: prenet dropout draws depend on the batch's size and order, so a request with a
`seed` must not share its batch for its output to depend only on (text, seed, checkpoint).

Speakers never split batches: each text carries its speaker (a name, or None for the voice's default)
and the batch function gets one per text, since a multi-speaker model takes one speaker id per sequence.

Streamed pieces (`submit_call`) are jobs of their own: a prepared call (one piece, decoded and vocoded in
chunks) run alone in the worker thread in queue order, so it never runs beside a batch on the one model.

Abandoned work is dropped: a request is queued as jobs of at most `max_batch_size` sentences, and when
its caller stops waiting (timeout, client gone) the jobs not yet started are skipped, so a long request
that timed out keeps the model busy for at most the batch already running, not for all its sentences.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

# (texts, seed, speakers: one name or None per text) -> one result per text, in order; runs in a worker thread.
BatchFn = Callable[[list[str], "int | None", list["str | None"]], Sequence[Any]]


@dataclass
class _Job:
    texts: list[str]
    seed: int | None
    future: asyncio.Future = field(repr=False)
    speaker: str | None = None
    call: Callable[[], Any] | None = None  # a job run alone as given (`submit_call`), not as a batch

    @property
    def alone(self) -> bool:
        """Seeded and prepared jobs never share a model call."""
        return self.seed is not None or self.call is not None


@dataclass
class BatcherStats:
    """Counters for /api/health: how well batching works under the current load."""

    batches: int = 0
    sentences: int = 0
    busy_seconds: float = 0.0

    @property
    def mean_batch_size(self) -> float:
        return self.sentences / self.batches if self.batches else 0.0


class Batcher:
    """Async front of a synchronous batch function; `start()` inside the event loop, `stop()` at shutdown."""

    def __init__(self, batch_fn: BatchFn, executor: Executor, max_batch_size: int, max_wait_s: float):
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        self._batch_fn = batch_fn
        self._executor = executor
        self._max_batch_size = max_batch_size
        self._max_wait_s = max_wait_s
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task | None = None
        self.stats = BatcherStats()

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.get_running_loop().create_task(self._run(), name="tts-batcher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        while self._queue is not None and not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(RuntimeError("server is shutting down"))

    async def submit(
        self, texts: list[str], seed: int | None = None, speaker: str | None = None
    ) -> list[Any]:
        """Results for `texts` (in order). Cancelling the awaiting task drops the jobs not yet started.

        Texts are queued as jobs of at most `max_batch_size`; a seeded request's job k gets seed + its
        first text's index, so the output still depends only on (texts, seed, settings).
        """
        if self._queue is None:
            raise RuntimeError("Batcher.start() was not called")
        if not texts:
            raise ValueError("submit needs at least one text")
        loop = asyncio.get_running_loop()
        jobs = [
            _Job(
                list(texts[i : i + self._max_batch_size]),
                None if seed is None else seed + i,
                loop.create_future(),
                speaker,
            )
            for i in range(0, len(texts), self._max_batch_size)
        ]
        for job in jobs:
            self._queue.put_nowait(job)
        try:
            parts = await asyncio.gather(*(job.future for job in jobs))
        except BaseException:  # cancelled (timeout, client gone) or one part failed: drop the rest
            for job in jobs:
                job.future.cancel()
            raise
        return [result for part in parts for result in part]

    async def submit_call(self, call: Callable[[], Any]) -> Any:
        """`call()`'s result, run in the worker thread alone, when its turn in the queue comes.

        Cancelling the awaiting task skips it if it has not started; once started, `call` has to notice
        by itself that nobody waits any more (a streamed piece's audio callback raises).
        """
        if self._queue is None:
            raise RuntimeError("Batcher.start() was not called")
        job = _Job([], None, asyncio.get_running_loop().create_future(), call=call)
        self._queue.put_nowait(job)
        try:
            return await job.future
        except BaseException:
            job.future.cancel()
            raise

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            first = await self._queue.get()
            if first.future.done():  # cancelled while waiting (request timed out)
                continue
            if first.alone:
                await self._execute_alone(first)
                continue
            batch, held = await self._collect(first)
            await self._execute(batch, None)
            for job in held:
                await self._execute_alone(job)

    async def _collect(self, first: _Job) -> tuple[list[_Job], list[_Job]]:
        """Unseeded jobs arriving within the wait window; seeded and prepared ones met meanwhile are held back."""
        assert self._queue is not None
        batch, held = [first], []
        size = len(first.texts)
        deadline = time.monotonic() + self._max_wait_s
        while size < self._max_batch_size:
            if not self._queue.empty():
                job = self._queue.get_nowait()
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), timeout=remaining)
                except asyncio.TimeoutError:
                    break
            if job.future.done():
                continue
            if job.alone:
                held.append(job)
            else:
                batch.append(job)
                size += len(job.texts)
        return batch, held

    async def _execute_alone(self, job: _Job) -> None:
        if job.call is None:
            await self._execute([job], job.seed)
            return
        if job.future.done():
            return
        started = time.monotonic()
        try:
            result = await asyncio.get_running_loop().run_in_executor(self._executor, job.call)
        except Exception as err:
            if not job.future.done():  # else abandoned: the call stopped because nobody waits
                logger.exception("streamed piece failed")
                job.future.set_exception(err)
            return
        self._record(1, time.monotonic() - started)
        if not job.future.done():
            job.future.set_result(result)

    async def _execute(self, jobs: list[_Job], seed: int | None) -> None:
        jobs = [job for job in jobs if not job.future.done()]
        if not jobs:
            return
        texts = [text for job in jobs for text in job.texts]
        speakers = [job.speaker for job in jobs for _ in job.texts]
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._executor, self._batch_fn, texts, seed, speakers)
        except Exception as err:  # handed to every waiting request, which reports it
            logger.exception("batch of %d sentences failed", len(texts))
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(err)
            return
        self._record(len(texts), time.monotonic() - started)
        offset = 0
        for job in jobs:
            part = list(results[offset : offset + len(job.texts)])
            offset += len(job.texts)
            if not job.future.done():
                job.future.set_result(part)

    def _record(self, n_sentences: int, seconds: float) -> None:
        self.stats.batches += 1
        self.stats.sentences += n_sentences
        self.stats.busy_seconds += seconds
        logger.debug("batch of %d sentences in %.3f s", n_sentences, seconds)
