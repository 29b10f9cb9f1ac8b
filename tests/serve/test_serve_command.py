"""`tacotron serve` as a user runs it: a subprocess on a free loopback port, stopped with SIGINT."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_command_answers_and_stops_cleanly(tiny_checkpoint, tmp_path):
    port = _free_port()
    log = open(tmp_path / "serve.log", "w+")  # noqa: SIM115 - read back after the process ends
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tacotron",
            "serve",
            "--checkpoint",
            str(tiny_checkpoint),
            "--port",
            str(port),
            "--threads",
            "1",
            "--max-text-chars",
            "50",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "NO_PROXY": "*"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"serve exited early:\n{(tmp_path / 'serve.log').read_text()}"
            try:
                health = httpx.get(f"{url}/api/health", timeout=2, trust_env=False)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not answer within 60 s"
                time.sleep(0.2)
        tts = httpx.post(f"{url}/api/tts", json={"text": "Hi there."}, timeout=30, trust_env=False)
        too_long = httpx.post(f"{url}/api/tts", json={"text": "a" * 51}, timeout=30, trust_env=False)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    assert health.json()["voices"] == ["en"]
    assert tts.status_code == 200 and tts.content[:4] == b"RIFF"
    assert too_long.status_code == 422 and "limit 50" in too_long.json()["detail"]
    assert code == 0
    assert "serving en on http://127.0.0.1" in (tmp_path / "serve.log").read_text()
