"""Coqui's `GET /api/tts?text=` and OpenAI's `POST /v1/audio/speech`: same synthesis, limits and security."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from tests.serve.conftest import LOCAL

from tacotron.serve.app import create_app
from tacotron.serve.settings import ServeSettings
from tacotron.serve.voices import Voice

KEY = "k3y-for-tests-only-0123456789"


@pytest.fixture(scope="module")
def client(tiny_synthesizer):
    settings = ServeSettings(max_text_chars=300, max_sentence_chars=60, max_body_bytes=4096)
    with TestClient(create_app([Voice("en", tiny_synthesizer)], settings), base_url=LOCAL) as c:
        yield c


def _wav(body: bytes) -> tuple[np.ndarray, int]:
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"
    return sf.read(io.BytesIO(body), dtype="float32")


def test_coqui_get_returns_the_same_wav_as_post(client):
    got = client.get("/api/tts", params={"text": "Hello world.", "speaker_id": "", "style_wav": ""})
    assert got.status_code == 200, got.text
    assert got.headers["content-type"] == "audio/wav"
    wav, rate = _wav(got.content)
    assert rate == 22050 and len(wav) == int(got.headers["X-Mel-Frames"]) * 256
    posted = client.post("/api/tts", json={"text": "Hello world."})
    assert len(_wav(posted.content)[0]) == len(wav)


def test_coqui_speaker_and_language_are_validated(client):
    assert (
        client.get("/api/tts", params={"text": "Hi.", "speaker_id": "en", "language_id": "en"}).status_code
        == 200
    )
    for params, words in (
        ({"text": "Hi.", "speaker_id": "nobody"}, "unknown voice"),
        ({"text": "Hi.", "language_id": "fr"}, "not served"),
        ({"text": "Hi.", "style_wav": "ref.wav"}, "style_wav"),
        ({"text": ""}, "text"),
        ({}, "text"),
        ({"text": "!!!"}, "nothing to say"),
        ({"text": "x" * 301}, "limit 300"),
    ):
        response = client.get("/api/tts", params=params)
        assert response.status_code == 422, (params, response.text)
        assert words in response.json()["detail"], response.json()


@pytest.mark.parametrize("voice", ["alloy", "en"])
def test_openai_speech_wav(client, voice):
    response = client.post(
        "/v1/audio/speech", json={"model": "tts-1", "input": "Hello there.", "voice": voice}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    wav, rate = _wav(response.content)
    assert rate == int(response.headers["X-Sample-Rate"]) == 22050 and len(wav) > 0


def test_openai_pcm_has_as_many_samples_as_the_wav(client):
    body = {"model": "tts-1", "input": "Hello there.", "voice": "alloy"}
    wav = client.post("/v1/audio/speech", json={**body, "response_format": "wav"})
    pcm = client.post("/v1/audio/speech", json={**body, "response_format": "pcm"})
    assert pcm.status_code == 200 and pcm.headers["content-type"] == "audio/pcm"
    samples = np.frombuffer(pcm.content, dtype="<i2")
    from_wav, _ = sf.read(io.BytesIO(wav.content), dtype="int16")
    assert len(samples) == len(from_wav)  # the tiny model's gate stops after one frame: same length


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"input": "Hi.", "voice": "alloy", "response_format": "mp3"}, 400, "supported: ['wav', 'pcm']"),
        ({"input": "Hi.", "voice": "alloy", "response_format": "opus"}, 400, "not supported"),
        ({"input": "Hi.", "voice": "nobody"}, 422, "unknown voice"),
        ({"input": "", "voice": "alloy"}, 422, "input"),
        ({"voice": "alloy"}, 422, "input"),
        ({"input": "Hi.", "voice": "alloy", "speed": 4.0}, 422, "speed"),
        ({"input": "Hi.", "voice": "alloy", "stream": True}, 422, "stream"),
        ({"input": "!!!", "voice": "alloy"}, 422, "nothing to say"),
    ],
)
def test_openai_errors_are_4xx_json(client, body, status, words):
    response = client.post("/v1/audio/speech", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert words in response.json()["detail"]


def test_compat_endpoints_need_the_key_and_a_served_host(tiny_synthesizer):
    app = create_app([Voice("en", tiny_synthesizer)], ServeSettings(api_key=KEY))
    speech = {"input": "Hi.", "voice": "alloy"}
    with TestClient(app, base_url=LOCAL) as client:
        assert client.get("/api/tts", params={"text": "Hi."}).status_code == 401
        assert client.post("/v1/audio/speech", json=speech).status_code == 401
        keyed = {"Authorization": f"Bearer {KEY}"}
        assert client.get("/api/tts", params={"text": "Hi."}, headers=keyed).status_code == 200
        assert client.post("/v1/audio/speech", json=speech, headers=keyed).status_code == 200
        evil = {**keyed, "Host": "evil.example"}
        assert client.post("/v1/audio/speech", json=speech, headers=evil).status_code == 421
