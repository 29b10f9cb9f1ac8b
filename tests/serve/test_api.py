"""The HTTP API on a real tiny checkpoint: WAV out, metadata, determinism, and 4xx for every bad input."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from tacotron.serve.app import create_app
from tacotron.serve.settings import ServeSettings
from tacotron.serve.voices import Voice


@pytest.fixture(scope="module")
def client(tiny_synthesizer):
    settings = ServeSettings(max_text_chars=300, max_sentence_chars=60, max_body_bytes=4096)
    app = create_app([Voice("en", tiny_synthesizer)], settings)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        yield c


def _read_wav(body: bytes) -> tuple[np.ndarray, int]:
    assert body[:4] == b"RIFF" and body[8:12] == b"WAVE"
    wav, rate = sf.read(io.BytesIO(body), dtype="float32")
    return wav, rate


def test_tts_returns_a_wav_with_timing_headers(client):
    response = client.post("/api/tts", json={"text": "Hello world.", "seed": 3})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    wav, rate = _read_wav(response.content)
    assert rate == 22050
    frames = int(response.headers["X-Mel-Frames"])
    assert frames >= 1 and len(wav) == frames * 256
    assert float(response.headers["X-Real-Time-Factor"]) > 0
    assert response.headers["X-Stop-Reasons"] in {"gate", "end_of_text", "max_steps"}


def test_same_seed_gives_identical_audio(client):
    first = client.post("/api/tts", json={"text": "Say it again.", "seed": 42})
    second = client.post("/api/tts", json={"text": "Say it again.", "seed": 42})
    assert first.status_code == second.status_code == 200
    assert first.content == second.content


def test_long_text_is_split_into_sentences_and_joined(client):
    text = "The first sentence is here. The second one follows! And a third?"
    response = client.post("/api/tts", json={"text": text, "seed": 1})
    assert response.status_code == 200, response.text
    assert response.headers["X-Sentences"] == "3"
    wav, rate = _read_wav(response.content)
    frames = int(response.headers["X-Mel-Frames"])
    pauses = 2 * round(0.15 * rate)
    assert len(wav) == frames * 256 + pauses


def test_speed_is_a_time_stretch(client):
    normal = client.post("/api/tts", json={"text": "Tempo test.", "seed": 5})
    fast = client.post("/api/tts", json={"text": "Tempo test.", "seed": 5, "speed": 2.0})
    assert normal.status_code == fast.status_code == 200
    n, f = len(_read_wav(normal.content)[0]), len(_read_wav(fast.content)[0])
    assert abs(f - n / 2) <= 512


def test_details_has_wav_alignment_png_and_timing(client):
    import base64

    response = client.post("/api/tts/details", json={"text": "One. Two.", "seed": 2})
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["sentences"] == ["One.", "Two."]
    assert base64.b64decode(data["alignment_png_base64"])[:8] == b"\x89PNG\r\n\x1a\n"
    _read_wav(base64.b64decode(data["wav_base64"]))
    timing = data["timing"]
    assert timing["mel_frames"] >= 2 and timing["frames_per_second"] > 0 and timing["real_time_factor"] > 0


def test_health_voices_openapi_and_page(client):
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["voices"] == ["en"]
    voices = client.get("/api/voices").json()
    assert voices["default"] == "en"
    assert voices["voices"][0] | {"checkpoint_step": None} == {
        "id": "en",
        "language": "en",
        "sample_rate": 22050,
        "vocoder": "griffin-lim",
        "checkpoint_step": None,
        "speakers": [],
    }
    schema = client.get("/openapi.json").json()
    assert {"/api/tts", "/api/tts/details", "/api/voices", "/api/health"} <= set(schema["paths"])
    page = client.get("/")
    assert page.status_code == 200 and "charset=utf-8" in page.headers["content-type"]
    assert '<meta charset="utf-8">' in page.text and 'id="synthesize"' in page.text


BAD_REQUESTS = [
    ({"text": ""}, 422, "text"),
    ({"text": "   \n "}, 422, "empty"),
    ({"text": "Hello 日本"}, 422, "日"),
    ({"text": "x" * 301}, 422, "limit 300"),
    ({"text": "hi", "speed": 5}, 422, "speed"),
    ({"text": "hi", "speed": 0}, 422, "speed"),
    ({"text": "hi", "voice": "nobody"}, 422, "unknown voice"),
    ({"text": "hi", "language": "ru"}, 422, "not served"),
    ({"text": "hi", "seed": -1}, 422, "seed"),
    ({"text": "hi", "txt": "typo"}, 422, "txt"),
    ({"text": 5}, 422, "text"),
    ({}, 422, "text"),
    ([1, 2], 422, "dictionary"),
]


@pytest.mark.parametrize(("body", "status", "words"), BAD_REQUESTS)
def test_bad_json_requests_get_a_clear_4xx(client, body, status, words):
    response = client.post("/api/tts", json=body)
    assert response.status_code == status, response.headers
    detail = response.json()["detail"]
    assert isinstance(detail, str) and words in detail


@pytest.mark.parametrize(
    ("content", "content_type", "words"),
    [
        (b'{"text": "hi"', "application/json", "not valid JSON"),
        (b"text=hi", "application/x-www-form-urlencoded", "body"),
        (b"", "application/json", "body"),
        (b"\xff\xfe", "application/json", "body"),
    ],
)
def test_malformed_bodies_get_422(client, content, content_type, words):
    response = client.post("/api/tts", content=content, headers={"Content-Type": content_type})
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"]


def test_oversized_body_gets_413_before_parsing(client):
    response = client.post(
        "/api/tts", content=json.dumps({"text": "a" * 5000}), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "limit 4096" in response.json()["detail"]


def test_chunked_oversized_body_gets_413(client):
    def chunks():
        yield b'{"text": "'
        for _ in range(10):
            yield b"a" * 1000
        yield b'"}'

    response = client.post("/api/tts", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]


def test_wrong_method_and_path_are_4xx(client):
    assert client.put("/api/tts").status_code == 405
    assert client.get("/api/tts").status_code == 422  # Coqui-style GET without text
    assert client.get("/api/nothing").status_code == 404
