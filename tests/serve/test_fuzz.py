"""A few hundred malformed, huge, odd and hostile requests (bodies, methods, paths, Host headers, keys,
number bombs): the service answers every one, and never with a 5xx."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from fastapi.testclient import TestClient
from tests.serve.conftest import LOCAL

from tacotron.serve.app import create_app
from tacotron.serve.settings import ServeSettings
from tacotron.serve.voices import Voice

KEY = "fuzz-key-0123456789abcdef"
N_REQUESTS = 400  # over both apps


def _texts(rng: random.Random) -> list:
    return [
        "Hello there.",
        "1" * rng.choice([16, 36, 320, 999, 5000]),
        "$" + "9" * rng.randint(1, 900) + "." + "9" * rng.randint(1, 50),
        " ".join(str(rng.randint(0, 10**30)) for _ in range(rng.randint(1, 60))),
        "!?.,;:-" * rng.randint(1, 100),
        "Привет, мир 2024 года.",
        "日本語 テキスト",
        "\x00\x01\x1b[31m\u202e\ufeff\ud7ff",
        "a" * rng.randint(1, 2000),
        "word " * rng.randint(1, 400),
        "<script>alert(1)</script> ' OR 1=1 --",
        "1,000,000,000,000,000,000,000,000,000,000,000,000",
        "12.04.1961 10:30 5% 3rd 1990s -5 2+2 €3 £4",
        "",
        "   ",
        "\n\t" * 50,
        "x" * rng.randint(0, 3),
        "Mr. Dr. St. " * rng.randint(1, 80),
        "…" * rng.randint(1, 300),
        "..." + "a" * 30 + "," * 200,
    ]


def _body(rng: random.Random) -> tuple[bytes, str]:
    kind = rng.randrange(10)
    if kind == 0:
        return rng.randbytes(rng.randint(0, 3000)), rng.choice(["application/json", "text/plain", ""])
    if kind == 1:
        return b'{"text": ' * rng.randint(1, 500), "application/json"
    payload = {"text": rng.choice(_texts(rng))}
    if rng.random() < 0.4:
        payload["speed"] = rng.choice([0, -1, 0.5, 1.0, 2.0, 1e308, "fast", None, float("nan"), float("inf")])
    if rng.random() < 0.4:
        payload["seed"] = rng.choice([0, -5, 2**63, 2**64, 1.5, "x", 12345])
    if rng.random() < 0.3:
        payload["voice"] = rng.choice(["en", "ru", "", "../../etc/passwd", None, 5, "en" * 500])
    if rng.random() < 0.2:
        payload["language"] = rng.choice(["en", "ru", "xx", [], {}])
    if rng.random() < 0.1:
        payload["extra"] = "field"
    if kind == 2:
        payload = rng.choice([[payload], "text", 5, None, {"text": payload}])
    return json.dumps(payload).encode(), "application/json"


def _headers(rng: random.Random, content_type: str) -> dict[str, str]:
    headers = {"Content-Type": content_type} if content_type else {}
    hostile = ["evil.example", "127.0.0.1.nip.io", "localhost:80, evil", "a" * 300, "127.0.0.1:99999999"]
    hostile += ["[::1", "::1", "", "\u0430localhost".encode().decode("latin-1")]
    fine = ["127.0.0.1", "localhost:8000", "[::1]:1", "LOCALHOST"]
    headers["Host"] = rng.choice(hostile) if rng.random() < 0.15 else rng.choice(fine)
    if rng.random() < 0.85:
        headers["X-API-Key"] = KEY
    else:
        key = rng.choice(["wrong", "x" * 5000, KEY[:-1], f"Bearer {KEY}", "", "\u00e9" * 20])
        headers[rng.choice(["X-API-Key", "Authorization"])] = key
    if rng.random() < 0.1:
        headers["Content-Length"] = rng.choice(["-1", "abc", "99999999999", "0"])
    return headers


@pytest.mark.parametrize("api_key", [None, KEY])
def test_fuzzed_requests_never_get_a_5xx(tiny_synthesizer, api_key):
    settings = ServeSettings(
        max_text_chars=5000, max_body_bytes=16 * 1024, request_timeout_s=20, api_key=api_key
    )
    app = create_app([Voice("en", tiny_synthesizer)], settings)
    rng = random.Random(0 if api_key is None else 1)
    statuses: Counter = Counter()
    failures = []
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as client:
        for _ in range(N_REQUESTS // 2):
            content, content_type = _body(rng)
            method = rng.choice(["POST"] * 20 + ["GET", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH"])
            path = rng.choice(
                ["/api/tts"] * 12
                + ["/api/tts/details"] * 6
                + [
                    "/api/voices",
                    "/api/health",
                    "/",
                    "/docs",
                    "/api/nothing",
                    "//api/tts",
                    "/api/tts/../voices",
                ]
                + ["/api/tts?text=hi", "/%00", "/api/" + "x" * 3000]
                + [
                    "/api/tts/stream",
                    "/v1/audio/speech",
                    "/api/tts?text=" + "9" * 400,
                    "/api/tts?speaker_id=x",
                ]
            )
            try:
                response = client.request(method, path, content=content, headers=_headers(rng, content_type))
            except Exception as err:  # a client-side refusal (e.g. an invalid header value) is no server bug
                statuses[type(err).__name__] += 1
                continue
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                failures.append((method, path, content[:80], response.text[:200]))
    assert not failures, failures[:5]
    assert statuses[200] >= 5 and statuses[422] >= 20 and statuses[421] >= 5, statuses
    if api_key is not None:
        assert statuses[401] >= 5, statuses
