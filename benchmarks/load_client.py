"""A bounded loopback load generator for the service: N requests, at most C in flight, latency percentiles.

Bounded in count (n_requests) and time (per-request timeout), and it refuses any URL whose host is not a
loopback address: a load test must never leave this machine. Used by `benchmarks/serve_load.py` and
its smaller test.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import asdict, dataclass, field
from urllib.parse import urlparse

import numpy as np

DEFAULT_TEXTS = (
    "Hello world.",
    "The quick brown fox jumps over the lazy dog.",
    "Speech synthesis turns text into sound. It is batched on the server!",
    "How are you today?",
    "Printing, in the only sense with which we are at present concerned, differs from most arts.",
)


@dataclass
class LoadReport:
    """Latencies in seconds over successful and failed requests alike (a fast error is still latency)."""

    requests: int
    concurrency: int
    ok: int
    errors: int
    p50: float
    p90: float
    p99: float
    mean: float
    max: float
    wall_seconds: float
    requests_per_second: float
    audio_seconds: float  # total audio returned, from X-Audio-Seconds
    error_examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"{self.requests} requests, {self.concurrency} concurrent: {self.ok} ok, {self.errors} errors; "
            f"latency p50 {self.p50 * 1000:.0f} ms, p90 {self.p90 * 1000:.0f} ms, p99 {self.p99 * 1000:.0f} ms, "
            f"max {self.max * 1000:.0f} ms; {self.requests_per_second:.1f} req/s; "
            f"{self.audio_seconds:.1f} s of audio in {self.wall_seconds:.1f} s"
        )


def require_loopback_url(url: str) -> None:
    """Raise ValueError unless `url` points at localhost or a loopback IP (127.0.0.0/8, ::1)."""
    host = urlparse(url).hostname or ""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"load tests only target loopback addresses, got {url!r}")


async def _one(client, url: str, body: dict, limit: asyncio.Semaphore) -> tuple[float, int, float, str]:
    """(latency, status or -1, audio seconds, error text) of one request."""
    async with limit:
        started = time.perf_counter()
        try:
            response = await client.post(f"{url}/api/tts", json=body)
        except Exception as err:  # connection errors and timeouts are counted, not raised: it's a load test
            return time.perf_counter() - started, -1, 0.0, f"{type(err).__name__}: {err}"
        latency = time.perf_counter() - started
        if response.status_code != 200 or response.content[:4] != b"RIFF":
            return latency, response.status_code, 0.0, f"{response.status_code}: {response.text[:200]}"
        return latency, 200, float(response.headers.get("X-Audio-Seconds", 0.0)), ""


async def run_load_async(
    url: str,
    n_requests: int,
    concurrency: int,
    texts: tuple[str, ...] = DEFAULT_TEXTS,
    timeout_s: float = 120.0,
    seeded: bool = False,
) -> LoadReport:
    """Unseeded requests by default: seeded ones are synthesised alone, so they would measure no batching."""
    from tacotron.extras import require

    httpx = require("httpx", "serve", "the serve load test")

    require_loopback_url(url)
    if n_requests < 1 or concurrency < 1:
        raise ValueError(f"n_requests and concurrency must be >= 1, got {n_requests}, {concurrency}")
    limit = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=timeout_s, limits=limits, trust_env=False) as client:
        bodies = [
            {"text": texts[i % len(texts)]} | ({"seed": i} if seeded else {}) for i in range(n_requests)
        ]
        jobs = [_one(client, url, body, limit) for body in bodies]
        outcomes = await asyncio.gather(*jobs)
    wall = time.perf_counter() - started
    latencies = np.array([o[0] for o in outcomes])
    errors = [o[3] for o in outcomes if o[1] != 200]
    p50, p90, p99 = (float(np.percentile(latencies, q)) for q in (50, 90, 99))
    return LoadReport(
        requests=n_requests,
        concurrency=concurrency,
        ok=n_requests - len(errors),
        errors=len(errors),
        p50=p50,
        p90=p90,
        p99=p99,
        mean=float(latencies.mean()),
        max=float(latencies.max()),
        wall_seconds=wall,
        requests_per_second=n_requests / wall,
        audio_seconds=sum(o[2] for o in outcomes),
        error_examples=errors[:5],
    )


def run_load(url: str, n_requests: int, concurrency: int, **kwargs) -> LoadReport:
    """Synchronous wrapper of `run_load_async` (own event loop; the server runs in its own thread)."""
    return asyncio.run(run_load_async(url, n_requests, concurrency, **kwargs))
