"""Who may use the service: API key (401), Host header (421, DNS rebinding), per-client limit (429), and
the operator's warnings and errors at start. The key never appears in output."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from tests.helpers.fakes import SpySynthesizer
from tests.serve.conftest import LOCAL
from tests.serve.test_limits import _post, _wait_for

from tacotron.cli import main
from tacotron.serve.app import Admission, create_app
from tacotron.serve.security import ApiKeyError, HostCheck, bind_warnings, host_name, load_api_key
from tacotron.serve.server import BackgroundServer
from tacotron.serve.settings import ServeSettings
from tacotron.serve.voices import Voice

KEY = "k3y-for-tests-only-0123456789"


@pytest.fixture(scope="module")
def keyed(tiny_synthesizer):
    app = create_app([Voice("en", tiny_synthesizer)], ServeSettings(api_key=KEY))
    with TestClient(app, base_url=LOCAL) as client:
        yield client


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "wrong-key-but-long-enough"},
        {"Authorization": f"Basic {KEY}"},
        {"X-API-Key": KEY[:-1]},
    ],
)
def test_api_key_is_required_when_set(keyed, headers):
    for path, body in (("/api/tts", {"text": "Hi."}), ("/api/tts/details", {"text": "Hi."})):
        response = keyed.post(path, json=body, headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["WWW-Authenticate"] == "Bearer" and "API key" in response.json()["detail"]
    assert keyed.get("/api/voices", headers=headers).status_code == 401


@pytest.mark.parametrize("headers", [{"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}])
def test_the_right_key_is_accepted_either_way(keyed, headers):
    response = keyed.post("/api/tts", json={"text": "Hi."}, headers=headers)
    assert response.status_code == 200 and response.content[:4] == b"RIFF"
    assert keyed.get("/api/voices", headers=headers).status_code == 200


def test_health_page_and_docs_stay_open(keyed):
    for path in ("/api/health", "/", "/openapi.json"):
        assert keyed.get(path).status_code == 200, path


def test_no_key_set_means_open(tiny_synthesizer):
    with TestClient(create_app([Voice("en", tiny_synthesizer)]), base_url=LOCAL) as client:
        assert client.post("/api/tts", json={"text": "Hi."}).status_code == 200


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1:8000", 200),
        ("localhost", 200),
        ("LOCALHOST:1", 200),
        ("[::1]:8000", 200),
        ("evil.example", 421),
        ("evil.example:8000", 421),
        ("127.0.0.1.evil.example", 421),
        ("testserver", 421),
        ("", 421),
        ("localhost:80, evil.example", 421),
    ],
)
def test_host_header_must_name_this_service(tiny_synthesizer, host, status):
    with TestClient(create_app([Voice("en", tiny_synthesizer)]), base_url=LOCAL) as client:
        for path in ("/", "/api/health"):
            response = client.get(path, headers={"Host": host})
            assert response.status_code == status, (host, path)
        if status == 421:
            assert "not served here" in response.json()["detail"]


def test_allowed_hosts_can_be_configured(tiny_synthesizer):
    settings = ServeSettings(allowed_hosts=("tts.example.org",))
    with TestClient(create_app([Voice("en", tiny_synthesizer)], settings), base_url=LOCAL) as client:
        assert client.get("/api/health", headers={"Host": "tts.example.org:443"}).status_code == 200
        assert client.get("/api/health", headers={"Host": "localhost"}).status_code == 421
    settings = ServeSettings(allowed_hosts=("*",))
    with TestClient(create_app([Voice("en", tiny_synthesizer)], settings), base_url=LOCAL) as client:
        assert client.get("/api/health", headers={"Host": "anything.example"}).status_code == 200


def test_missing_or_repeated_host_header_is_421():
    sent: list[dict] = []

    async def app(scope, receive, send):
        raise AssertionError("must not be reached")

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    check = HostCheck(app, ["localhost"])
    for headers in ([], [(b"host", b"localhost"), (b"host", b"localhost")]):
        asyncio.run(check({"type": "http", "headers": headers}, receive, send))
        assert sent[0]["status"] == 421
        sent.clear()
    assert host_name("[::1]:80") == "[::1]" and host_name("Example.COM:8") == "example.com"


def test_per_client_limit_answers_429(tiny_synthesizer):
    spy = SpySynthesizer(tiny_synthesizer, hold=True)
    app = create_app([Voice("en", spy)], ServeSettings(max_per_client=1, max_concurrent=8))
    with BackgroundServer(app) as url, ThreadPoolExecutor(1) as pool:
        first = pool.submit(_post, url, "Hold the line.")
        _wait_for(spy.entered.is_set)
        second = _post(url, "Me again.")
        health = httpx.get(f"{url}/api/health").json()  # health is not counted
        spy.release.set()
        assert first.result().status_code == 200
        after = _post(url, "Now it is my turn.")
    assert second.status_code == 429 and second.headers["Retry-After"] == "1"
    assert "from 127.0.0.1: 1 (limit 1 per client)" in second.json()["detail"]
    assert health["max_per_client"] == 1 and after.status_code == 200


def test_admission_counts_clients_separately():
    admission = Admission(limit=3, per_client=2)
    with admission.slot("a"), admission.slot("a"), admission.slot("b"):
        with (
            pytest.raises(HTTPException, match="too many requests in flight from a") as info,
            admission.slot("a"),
        ):
            pass
        assert info.value.status_code == 429
        with pytest.raises(HTTPException, match="server busy") as info, admission.slot("c"):
            pass
        assert info.value.status_code == 503
    assert admission.in_flight == 0 and admission.by_client == {}


def test_api_key_comes_from_env_or_a_private_file(tmp_path):
    assert load_api_key(None, {}) is None
    assert load_api_key(None, {"TACOTRON_API_KEY": f" {KEY}\n"}) == KEY
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\r\n")
    key_file.chmod(0o600)
    assert load_api_key(key_file, {}) == KEY
    key_file.chmod(0o644)
    with pytest.raises(ApiKeyError, match="readable by other users"):
        load_api_key(key_file, {})
    key_file.chmod(0o600)
    with pytest.raises(ApiKeyError, match="not both"):
        load_api_key(key_file, {"TACOTRON_API_KEY": KEY})
    for bad in ("short", "has a space inside it ok", "tab\there-0123456789"):
        with pytest.raises(ApiKeyError) as info:
            load_api_key(None, {"TACOTRON_API_KEY": bad})
        assert bad not in str(info.value)
    assert KEY not in repr(ServeSettings(api_key=KEY))


def test_bind_warnings():
    assert bind_warnings("127.0.0.1", None, ("localhost",)) == []
    warned = " ".join(bind_warnings("0.0.0.0", None, ("localhost", "127.0.0.1", "[::1]")))
    assert "without an API key" in warned and "421" in warned
    assert bind_warnings("0.0.0.0", KEY, ("tts.example.org",)) == []
    assert "any Host header" in " ".join(bind_warnings("127.0.0.1", None, ("*",)))


def _serve(monkeypatch, capsys, tiny_checkpoint, *extra: str) -> tuple[int, str]:
    """`tacotron serve` up to the point it would start uvicorn (which is replaced by a no-op)."""
    import uvicorn

    started = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.append(kw))
    code = main(["serve", "--checkpoint", str(tiny_checkpoint), *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_serve_warns_on_a_public_bind_without_a_key(monkeypatch, capsys, tiny_checkpoint):
    monkeypatch.delenv("TACOTRON_API_KEY", raising=False)
    code, output = _serve(monkeypatch, capsys, tiny_checkpoint, "--host", "0.0.0.0")
    assert code == 0
    assert "warning: serving on 0.0.0.0, reachable from other machines, without an API key" in output
    assert "no API key" in output
    monkeypatch.setenv("TACOTRON_API_KEY", KEY)
    code, output = _serve(
        monkeypatch, capsys, tiny_checkpoint, "--host", "0.0.0.0", "--allowed-hosts", "tts.lan"
    )
    assert code == 0 and "warning" not in output and "API key required" in output and "tts.lan" in output
    assert KEY not in output


def test_serve_refuses_a_key_on_the_command_line_and_bad_key_files(
    monkeypatch, capsys, tiny_checkpoint, tmp_path
):
    monkeypatch.delenv("TACOTRON_API_KEY", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["serve", "--checkpoint", str(tiny_checkpoint), "--api-key", KEY])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "not accepted" in err and KEY not in err
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    os.chmod(key_file, 0o640)
    code, output = _serve(monkeypatch, capsys, tiny_checkpoint, "--api-key-file", str(key_file))
    assert code == 2 and output.strip().startswith("error:") and "chmod 600" in output and KEY not in output
