"""`POST /api/tts/stream`: audio arrives piece by piece, before the last piece is synthesised, and the
streamed samples equal the non-streamed WAV's."""

from __future__ import annotations

import io
import struct
import time

import httpx
import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from tests.serve.conftest import LOCAL
from tests.serve.fakes import FakeSynthesizer

from tacotron.serve.app import create_app
from tacotron.serve.server import BackgroundServer
from tacotron.serve.settings import ServeSettings
from tacotron.serve.voices import Voice

TEXT = "The first piece is here. The second one follows! A third comes next. And the fourth ends it."
HEADER = 44


def _settings(**kw) -> ServeSettings:
    return ServeSettings(max_sentence_chars=40, max_batch_size=1, **kw)


def _pcm(stream: bytes) -> np.ndarray:
    riff, size, wave = struct.unpack("<4sI4s", stream[:12])
    assert (riff, wave, size) == (b"RIFF", b"WAVE", 0xFFFFFFFF)
    channels, rate, bits = struct.unpack("<H I 6x H", stream[22:36])
    assert (channels, rate, bits) == (1, 22050, 16) and stream[36:40] == b"data"
    return np.frombuffer(stream[HEADER:], dtype="<i2")


def _wav_samples(body: bytes) -> np.ndarray:
    return sf.read(io.BytesIO(body), dtype="int16")[0]


def test_first_chunk_arrives_before_the_last_piece_is_synthesised(tiny_synthesizer):
    fake = FakeSynthesizer(tiny_synthesizer.cfg, delay_s=0.4)
    app = create_app([Voice("en", fake)], _settings())
    arrivals = []
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        started = time.monotonic()
        with client.stream("POST", "/api/tts/stream", json={"text": TEXT}) as response:
            assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
            assert response.headers["X-Sentences"] == "4"
            body = b""
            for chunk in response.iter_raw():
                arrivals.append((time.monotonic(), len(body) + len(chunk)))
                body += chunk
        total = time.monotonic() - started
        streamed_calls = list(fake.calls)
        whole = client.post("/api/tts", json={"text": TEXT})
    assert [len(texts) for texts, _, _ in streamed_calls] == [1, 1, 1, 1]  # one piece per model call
    last_piece_done = streamed_calls[-1][2]
    first_audio = next(t for t, size in arrivals if size > HEADER)
    assert first_audio < last_piece_done, (arrivals, fake.calls)
    assert first_audio - started < total / 2  # one piece of four, not the whole text
    assert np.array_equal(_pcm(body), _wav_samples(whole.content))


def test_stream_equals_the_wav_on_the_real_model(tiny_synthesizer):
    with TestClient(create_app([Voice("en", tiny_synthesizer)], _settings()), base_url=LOCAL) as client:
        streamed = client.post("/api/tts/stream", json={"text": TEXT, "seed": 3})
        whole = client.post("/api/tts", json={"text": TEXT, "seed": 3})
    assert streamed.status_code == whole.status_code == 200, streamed.text
    assert np.array_equal(_pcm(streamed.content), _wav_samples(whole.content))


@pytest.mark.parametrize(
    "body, status",
    [({"text": ""}, 422), ({"text": "!!!"}, 422), ({"text": "x" * 2000}, 422), ({"txt": "hi"}, 422)],
)
def test_stream_errors_before_the_first_byte_are_json(tiny_synthesizer, body, status):
    with TestClient(create_app([Voice("en", tiny_synthesizer)], _settings()), base_url=LOCAL) as client:
        response = client.post("/api/tts/stream", json=body)
    assert response.status_code == status and "detail" in response.json()


def test_stream_needs_the_key_and_frees_its_slot(tiny_synthesizer):
    key = "k3y-for-tests-only-0123456789"
    app = create_app([Voice("en", tiny_synthesizer)], _settings(api_key=key))
    with TestClient(app, base_url=LOCAL) as client:
        assert client.post("/api/tts/stream", json={"text": "Hi."}).status_code == 401
        ok = client.post("/api/tts/stream", json={"text": TEXT}, headers={"X-API-Key": key})
        assert ok.status_code == 200
        assert app.state.service.admission.in_flight == 0


def test_a_later_truncated_piece_cuts_the_stream_short(tiny_synthesizer):
    class CutsThird(FakeSynthesizer):
        def _one(self, text):
            result = super()._one(text)
            if text.startswith("A third"):
                result.stop_reason = "max_steps"
            return result

    app = create_app([Voice("en", CutsThird(tiny_synthesizer.cfg))], _settings())
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        with client.stream("POST", "/api/tts/stream", json={"text": TEXT}) as response:
            assert response.status_code == 200
            with pytest.raises(httpx.RemoteProtocolError):
                for _ in response.iter_raw():
                    pass
        assert client.post("/api/tts", json={"text": TEXT}).status_code == 422
        assert app.state.service.admission.in_flight == 0


def test_a_client_that_leaves_frees_the_slot_and_drops_the_queued_pieces(tiny_synthesizer):
    fake = FakeSynthesizer(tiny_synthesizer.cfg, delay_s=0.3)
    app = create_app([Voice("en", fake)], _settings())
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        with client.stream("POST", "/api/tts/stream", json={"text": TEXT}) as response:
            next(response.iter_raw())  # the header (and maybe the first piece), then hang up
        deadline = time.monotonic() + 5
        while app.state.service.admission.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.state.service.admission.in_flight == 0
        time.sleep(1.0)  # long enough for the rest to run, had it not been dropped
    assert len(fake.calls) < 4, fake.calls
