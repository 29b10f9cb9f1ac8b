"""Text the frontend cannot use is a 4xx naming the reason (never 500); long text is spoken in pieces
within the decoder budget; audio cut at max_decoder_steps is never a 200; abandoned work is dropped."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.helpers.checkpoints import write_stopping_checkpoint
from tests.helpers.fakes import SpySynthesizer
from tests.serve.conftest import LOCAL
from tests.serve.test_limits import _post, _wait_for
from tests.text.test_pieces import paragraph, squash

from tacotron.serve.app import create_app
from tacotron.serve.batcher import Batcher
from tacotron.serve.server import BackgroundServer
from tacotron.serve.settings import ServeSettings
from tacotron.serve.voices import Voice

ROOMY = ServeSettings(max_text_chars=20_000, max_body_bytes=256 * 1024)


@pytest.fixture(scope="module")
def russian_synthesizer(tmp_path_factory):
    from tacotron.infer.synthesizer import Synthesizer

    path = write_stopping_checkpoint(tmp_path_factory.mktemp("ru") / "ru.pt", language="ru")
    return Synthesizer.from_checkpoint(path)


@pytest.fixture(scope="module")
def client(tiny_synthesizer, russian_synthesizer):
    app = create_app([Voice("en", tiny_synthesizer), Voice("ru", russian_synthesizer)], ROOMY)
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"text": "1" * 10_000}, "expand to"),
        ({"text": "Pay $" + "9" * 3000 + " now."}, "expand to"),
        ({"text": "1" * 10_000, "voice": "ru"}, "expand to"),
        ({"text": "!!! ... ???"}, "nothing to say"),
        ({"text": "—", "voice": "ru"}, "nothing to say"),
        ({"text": "(...) - !"}, "nothing to say"),
    ],
)
def test_unusable_text_is_422_with_the_reason(client, body, words):
    response = client.post("/api/tts", json=body)
    assert response.status_code == 422, response.text[:200]
    assert words in response.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"text": "Номер " + "1" * 36 + ".", "voice": "ru"},  # was KeyError -> 500
        {"text": "Number " + "9" * 320 + "."},  # was OverflowError -> 500
    ],
)
def test_long_numbers_are_spoken_digit_by_digit(client, body):
    response = client.post("/api/tts/details", json=body)
    assert response.status_code == 200, response.text[:300]
    data = response.json()
    assert len(data["sentences"]) >= 1 and not data["truncated"]


def test_any_frontend_failure_is_a_4xx(tiny_synthesizer):
    voice = Voice("en", tiny_synthesizer)

    class Broken(type(voice.frontend)):
        def expand(self, text):
            raise RuntimeError("stress model not found")

    voice.frontend = Broken(tiny_synthesizer.cfg.text)
    with TestClient(create_app([voice]), base_url=LOCAL, raise_server_exceptions=False) as c:
        response = c.post("/api/tts", json={"text": "Hello."})
    assert response.status_code == 422
    assert "text frontend failed: RuntimeError: stress model not found" in response.json()["detail"]


def test_long_text_is_spoken_in_pieces_within_the_budget(client, tiny_synthesizer):
    text = paragraph(5000, seed=4)
    response = client.post("/api/tts/details", json={"text": text, "seed": 1})
    assert response.status_code == 200, response.text[:300]
    data = response.json()
    pieces = data["sentences"]
    voice = Voice("en", tiny_synthesizer)
    assert all(voice.frontend.estimate_symbols(p) <= voice.max_piece_symbols() for p in pieces)
    assert squash(" ".join(pieces)) == squash(text)  # nothing dropped, order kept
    assert len(data["stop_reasons"]) == len(pieces) and not data["truncated"]


def test_truncated_audio_is_not_a_200(truncating_synthesizer):
    voice = Voice("en", truncating_synthesizer)
    with TestClient(create_app([voice]), base_url=LOCAL) as c:
        response = c.post("/api/tts", json={"text": "Hello there. Second one.", "seed": 0})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "could not be spoken in full: 2 of 2 pieces" in detail and "max_decoder_steps=40" in detail

    allowing = ServeSettings(allow_truncated=True)
    with TestClient(create_app([Voice("en", truncating_synthesizer)], allowing), base_url=LOCAL) as c:
        wav = c.post("/api/tts", json={"text": "Hello there.", "seed": 0})
        details = c.post("/api/tts/details", json={"text": "Hello there.", "seed": 0})
    assert wav.status_code == 200 and wav.headers["X-Truncated"] == "true"
    assert details.status_code == 200 and details.json()["truncated"] is True


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gate = threading.Event()

    def __call__(self, texts, seed, speakers=None):
        self.calls.append(list(texts))
        self.gate.wait(timeout=10)
        return [t.upper() for t in texts]


def test_a_cancelled_request_frees_the_model_after_its_running_batch():
    """A request of 3 batches that times out during the first one: the other two never run."""
    rec = _Recorder()

    async def go():
        executor = ThreadPoolExecutor(max_workers=1)
        batcher = Batcher(rec, executor, max_batch_size=2, max_wait_s=0.0)
        batcher.start()
        try:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(batcher.submit(list("abcdef")), timeout=0.2)
            rec.gate.set()
            return await batcher.submit(["next"])
        finally:
            await batcher.stop()
            executor.shutdown(wait=True)

    assert asyncio.run(go()) == ["NEXT"]
    assert rec.calls == [["a", "b"], ["next"]]


def test_seeded_requests_are_chunked_deterministically():
    rec = _Recorder()
    rec.gate.set()
    seeds = []

    def fn(texts, seed, speakers):
        seeds.append(seed)
        return rec(texts, seed)

    async def go():
        executor = ThreadPoolExecutor(max_workers=1)
        batcher = Batcher(fn, executor, max_batch_size=2, max_wait_s=0.0)
        batcher.start()
        try:
            return await batcher.submit(list("abcde"), seed=10)
        finally:
            await batcher.stop()
            executor.shutdown(wait=True)

    assert asyncio.run(go()) == list("ABCDE")
    assert seeds == [10, 12, 14] and rec.calls == [["a", "b"], ["c", "d"], ["e"]]


def test_a_client_that_goes_away_has_its_queued_work_dropped(tiny_synthesizer):
    spy = SpySynthesizer(tiny_synthesizer, hold=True)
    app = create_app([Voice("en", spy)], ServeSettings())
    with BackgroundServer(app) as url, ThreadPoolExecutor(1) as pool:
        first = pool.submit(_post, url, "Hold the model.")
        _wait_for(spy.entered.is_set)
        with pytest.raises(httpx.TimeoutException):
            httpx.post(f"{url}/api/tts", json={"text": "I give up."}, timeout=0.3)
        _wait_for(lambda: app.state.service.admission.in_flight == 1)  # the server noticed
        spy.release.set()
        assert first.result().status_code == 200
        time.sleep(0.1)
        after = _post(url, "Next please.")
    assert after.status_code == 200
    assert [texts for texts, _ in spy.calls] == [["Hold the model."], ["Next please."]]
