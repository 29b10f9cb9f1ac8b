"""Through a real uvicorn server on loopback: batching across requests, the concurrency cap, timeouts."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from tests.helpers.fakes import SpySynthesizer

from tacotron.serve.app import create_app
from tacotron.serve.server import BackgroundServer
from tacotron.serve.settings import ServeSettings
from tacotron.serve.voices import Voice


def _post(url: str, text: str, timeout: float = 30.0) -> httpx.Response:
    return httpx.post(f"{url}/api/tts", json={"text": text}, timeout=timeout)


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def test_requests_arriving_together_are_batched(tiny_synthesizer):
    spy = SpySynthesizer(tiny_synthesizer, hold=True)
    app = create_app([Voice("en", spy)], ServeSettings(batch_wait_ms=50))
    with BackgroundServer(app) as url, ThreadPoolExecutor(4) as pool:
        first = pool.submit(_post, url, "First request.")
        _wait_for(spy.entered.is_set)  # the model is busy with the first request ...
        rest = [pool.submit(_post, url, f"Request number {i}.") for i in range(3)]
        _wait_for(lambda: app.state.service.admission.in_flight == 4)  # ... while three more queue up
        spy.release.set()
        responses = [first.result()] + [f.result() for f in rest]
        health = httpx.get(f"{url}/api/health").json()
    assert [r.status_code for r in responses] == [200] * 4
    assert [len(texts) for texts, _ in spy.calls] == [1, 3]
    assert health["batches"] == 2 and health["mean_batch_size"] == 2.0


def test_requests_over_the_concurrency_cap_get_503(tiny_synthesizer):
    spy = SpySynthesizer(tiny_synthesizer, hold=True)
    app = create_app([Voice("en", spy)], ServeSettings(max_concurrent=1))
    with BackgroundServer(app) as url, ThreadPoolExecutor(1) as pool:
        first = pool.submit(_post, url, "Hold the line.")
        _wait_for(spy.entered.is_set)
        rejected = _post(url, "One too many.")
        spy.release.set()
        assert first.result().status_code == 200
    assert rejected.status_code == 503
    assert rejected.headers["Retry-After"] == "1"
    assert "server busy" in rejected.json()["detail"]


def test_a_request_not_done_in_time_gets_504_and_frees_its_slot(tiny_synthesizer):
    spy = SpySynthesizer(tiny_synthesizer, hold=True)
    app = create_app([Voice("en", spy)], ServeSettings(request_timeout_s=0.3, max_concurrent=1))
    with BackgroundServer(app) as url:
        slow = _post(url, "Too slow.")
        in_flight = app.state.service.admission.in_flight
        spy.release.set()
        after = _post(url, "Now in time.")
    assert slow.status_code == 504 and "longer than 0.3 s" in slow.json()["detail"]
    assert in_flight == 0
    assert after.status_code == 200


def test_background_server_refuses_non_loopback_hosts(tiny_synthesizer):
    app = create_app([Voice("en", tiny_synthesizer)])
    with pytest.raises(ValueError, match="loopback"):
        BackgroundServer(app, host="0.0.0.0")
