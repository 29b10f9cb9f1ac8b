"""A small version of benchmarks/serve_load.py: 20 requests, 4 in flight, no errors; loopback only."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tacotron.serve.app import create_app
from tacotron.serve.server import BackgroundServer
from tacotron.serve.voices import Voice

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from load_client import require_loopback_url, run_load  # noqa: E402  (benchmarks/ is not a package)


def test_bounded_load_finishes_without_errors_and_batches(tiny_synthesizer):
    app = create_app([Voice("en", tiny_synthesizer)])
    with BackgroundServer(app) as url:
        report = run_load(url, n_requests=20, concurrency=4)
        stats = app.state.service.voices["en"].batcher.stats
    assert report.errors == 0, report.error_examples
    assert report.ok == 20 and report.audio_seconds > 0
    assert 0 < report.p50 <= report.p90 <= report.p99 <= report.max
    assert stats.sentences >= 20 and stats.batches < stats.sentences  # some model calls served several


@pytest.mark.parametrize(
    "url", ["http://10.0.0.1:8000", "http://example.com", "http://192.168.1.2", "http://[::2]:80"]
)
def test_load_generator_refuses_non_loopback_targets(url):
    with pytest.raises(ValueError, match="loopback"):
        require_loopback_url(url)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:1", "http://localhost:8000", "http://127.5.5.5", "http://[::1]:9"]
)
def test_load_generator_accepts_loopback_targets(url):
    require_loopback_url(url)
