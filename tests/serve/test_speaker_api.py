"""Speakers of a multi-speaker voice over HTTP: listed, chosen per request (also through the Coqui and
OpenAI APIs), validated with a 422 naming the known ones, and batched together with per-text ids."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from tests.serve.conftest import LOCAL, SPEAKERS

from tacotron.serve.app import create_app
from tacotron.serve.settings import ServeSettings
from tacotron.serve.voices import Voice


class SpeakerSpy:
    """The real multi-speaker Synthesizer, recording the speakers each batch was given."""

    def __init__(self, inner) -> None:
        self.inner, self.cfg, self.step, self.speakers = inner, inner.cfg, inner.step, inner.speakers
        self.calls: list[tuple[list[str], list | None]] = []
        self.lock = threading.Lock()

    def synthesize(self, texts, batch_size=8, *, seed=None, speaker=None):
        with self.lock:
            self.calls.append((list(texts), speaker))
        return self.inner.synthesize(texts, batch_size=batch_size, seed=seed, speaker=speaker)


@pytest.fixture(scope="module")
def spy(speakers_synthesizer):
    return SpeakerSpy(speakers_synthesizer)


@pytest.fixture(scope="module")
def client(spy, tiny_synthesizer):
    voices = [Voice("multi", spy), Voice("single", tiny_synthesizer)]
    with TestClient(create_app(voices, ServeSettings(batch_wait_ms=50)), base_url=LOCAL) as c:
        yield c


def test_voices_list_their_speakers(client):
    voices = {v["id"]: v for v in client.get("/api/voices").json()["voices"]}
    assert voices["multi"]["speakers"] == SPEAKERS
    assert voices["single"]["speakers"] == []


def test_the_requested_speaker_reaches_the_model(client, spy):
    spy.calls.clear()
    for speaker in ("bob", None, "", "default"):
        body = {"text": "Hello there.", "voice": "multi", **({} if speaker is None else {"speaker": speaker})}
        assert client.post("/api/tts", json=body).status_code == 200
    assert [call[1] for call in spy.calls] == [["bob"], [None], [None], [None]]


def test_unknown_speakers_are_422_listing_the_known_ones(client):
    got = client.post("/api/tts", json={"text": "Hi.", "voice": "multi", "speaker": "dave"})
    assert got.status_code == 422
    assert "dave" in got.json()["detail"] and "alice, bob, carol" in got.json()["detail"]
    got = client.post("/api/tts", json={"text": "Hi.", "voice": "single", "speaker": "bob"})
    assert got.status_code == 422 and "single speaker" in got.json()["detail"]
    for default in ("", "default"):
        body = {"text": "Hi.", "voice": "single", "speaker": default}
        assert client.post("/api/tts", json=body).status_code == 200


def test_streaming_uses_the_speaker(client, spy):
    spy.calls.clear()
    got = client.post("/api/tts/stream", json={"text": "One. Two.", "voice": "multi", "speaker": "carol"})
    assert got.status_code == 200
    assert {name for _, speakers in spy.calls for name in speakers} == {"carol"}


def test_compat_apis_take_a_speaker_name_as_voice(client, spy):
    spy.calls.clear()
    assert client.get("/api/tts", params={"text": "Hi.", "speaker_id": "carol"}).status_code == 200
    assert client.post("/v1/audio/speech", json={"input": "Hi.", "voice": "bob"}).status_code == 200
    assert [call[1] for call in spy.calls] == [["carol"], ["bob"]]
    got = client.get("/api/tts", params={"text": "Hi.", "speaker_id": "dave"})
    assert got.status_code == 422 and "alice" in got.json()["detail"]
    got = client.post("/v1/audio/speech", json={"input": "Hi.", "voice": "dave"})
    assert got.status_code == 422 and "alice" in got.json()["detail"]


def test_requests_for_different_speakers_share_a_batch(speakers_synthesizer):
    """While the model is busy, requests for two speakers queue up and then run as one batch, each text
    with its own speaker."""
    spy = SpeakerSpy(speakers_synthesizer)
    entered, release = threading.Event(), threading.Event()
    original = spy.synthesize

    def held(texts, batch_size=8, *, seed=None, speaker=None):
        entered.set()
        release.wait(timeout=30)
        return original(texts, batch_size, seed=seed, speaker=speaker)

    spy.synthesize = held
    app = create_app([Voice("multi", spy)], ServeSettings(batch_wait_ms=50))

    def post(speaker: str, text: str) -> int:
        body = {"text": text, "voice": "multi", "speaker": speaker}
        return client.post("/api/tts", json=body).status_code

    with TestClient(app, base_url=LOCAL) as client, ThreadPoolExecutor(3) as pool:
        first = pool.submit(post, "alice", "First.")
        assert entered.wait(timeout=30)
        later = [pool.submit(post, "bob", "Second."), pool.submit(post, "carol", "Third.")]
        deadline = time.monotonic() + 30
        while app.state.service.admission.in_flight < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        assert [f.result() for f in [first, *later]] == [200, 200, 200]
    assert sorted(sorted(zip(texts, names, strict=True)) for texts, names in spy.calls) == [
        [("First.", "alice")],
        [("Second.", "bob"), ("Third.", "carol")],
    ]
