"""Loading voices from checkpoints and running the app under uvicorn (foreground or a background thread).

`BackgroundServer` exists for tests and the load benchmark: a real HTTP server on a free loopback port,
started and stopped cleanly inside one process, so the browser test and the load test exercise the same
stack (uvicorn, middleware, batcher) as `tacotron serve`.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from fastapi import FastAPI

from tacotron.serve.voices import Voice, voice_id_for

logger = logging.getLogger(__name__)


def load_voices(
    checkpoints: Sequence[str | Path],
    device: str = "cpu",
    vocoder: str = "griffin-lim",
    fast: bool | None = None,
    hifigan_weights: str = "universal",
) -> list[Voice]:
    """One voice per checkpoint (file or run folder); ids are the language (en, ru, en-2, ...).

    fast: CUDA-graph decoding (`Synthesizer`: None = on CUDA devices; each voice keeps its own graphs).
    hifigan_weights: `build_vocoder`'s, for every voice; a vocoder trained on other features than a voice's
    model raises `HifiGanConfigError` here, at startup, not on the first request.
    """
    from tacotron.infer.synthesizer import Synthesizer

    voices: list[Voice] = []
    for path in checkpoints:
        synthesizer = Synthesizer.from_checkpoint(
            path, device=device, vocoder=vocoder, fast=fast, hifigan_weights=hifigan_weights
        )
        voice_id = voice_id_for(synthesizer.cfg.text.language, {v.id for v in voices})
        voices.append(Voice(voice_id, synthesizer, vocoder=vocoder))
        logger.info("voice %s: %s", voice_id, path)
    return voices


def _require_loopback(host: str) -> None:
    if host == "localhost":
        return
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"BackgroundServer only binds loopback addresses, got {host!r}")


class BackgroundServer:
    """`with BackgroundServer(app) as url:` serves `app` on 127.0.0.1:<free port> in a daemon thread."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", startup_timeout_s: float = 30.0) -> None:
        _require_loopback(host)
        self.app = app
        self.host = host
        self.startup_timeout_s = startup_timeout_s
        self.url = ""
        self._server = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> str:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on", timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(
                    f"uvicorn did not start on {self.host}:{port} within {self.startup_timeout_s} s"
                )
            time.sleep(0.02)
        self.url = f"http://{self.host}:{port}"
        return self.url

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)
            if self._thread.is_alive():
                raise RuntimeError("uvicorn did not stop within 30 s")
