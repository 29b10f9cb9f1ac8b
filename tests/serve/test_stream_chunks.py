"""`POST /api/tts/stream` within one piece: the first audio arrives before the decoder produced the piece's
last mel frame, and a client that leaves stops the decoding. Real tiny model (gate silenced, so a piece
runs to end of text or max_decoder_steps), every decoder step timed and slowed a little by a hook.
"""

from __future__ import annotations

import threading
import time

import httpx
import numpy as np
import pytest
from tests.helpers.checkpoints import write_serving_checkpoint
from tests.serve.test_streaming import HEADER, _pcm

from tacotron.infer.synthesizer import Synthesizer
from tacotron.serve.app import create_app
from tacotron.serve.server import BackgroundServer
from tacotron.serve.settings import ServeSettings
from tacotron.serve.voices import Voice

TEXT = "Heard in chunks."  # one piece: the budget is 20 symbols at 120 steps
STEP_DELAY_S = 0.004


class StepClock:
    """A forward hook on the gate projection (one call per decoder step): the time of every step."""

    def __init__(self, synth: Synthesizer):
        self.times: list[float] = []
        self.lock = threading.Lock()
        self.handle = synth.model.decoder.gate_projection.register_forward_hook(self._step)

    def _step(self, *_) -> None:
        time.sleep(STEP_DELAY_S)
        with self.lock:
            self.times.append(time.monotonic())


@pytest.fixture()
def clocked(tmp_path):
    synth = Synthesizer.from_checkpoint(write_serving_checkpoint(tmp_path / "t.pt", max_decoder_steps=120))
    clock = StepClock(synth)
    yield synth, clock
    clock.handle.remove()


def app_for(synth: Synthesizer):
    return create_app([Voice("en", synth)], ServeSettings(max_batch_size=1, allow_truncated=True))


def test_first_audio_arrives_before_the_last_frame_of_the_piece_is_decoded(clocked):
    synth, clock = clocked
    app = app_for(synth)
    arrivals, body = [], b""
    with (
        BackgroundServer(app) as url,
        httpx.Client(base_url=url, timeout=30) as client,
        client.stream("POST", "/api/tts/stream", json={"text": TEXT, "seed": 1}) as response,
    ):
        assert response.status_code == 200 and response.headers["X-Sentences"] == "1"
        for chunk in response.iter_raw():
            body += chunk
            arrivals.append((time.monotonic(), len(body)))
    [whole] = synth.synthesize([TEXT], seed=1)
    first_audio = next(t for t, size in arrivals if size > HEADER)
    last_frame = clock.times[whole.frames - 1]  # the step that produced the piece's last frame (r=1)
    assert first_audio < last_frame, (first_audio, last_frame, whole.frames)
    assert len({size for _, size in arrivals if size > HEADER}) >= 2  # audio came in several chunks
    samples = _pcm(body)
    assert len(samples) == len(whole.wav)  # all of it: the same frames as the one-shot synthesis


def test_a_client_that_leaves_stops_the_running_piece(clocked):
    synth, clock = clocked
    app = app_for(synth)
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        with client.stream("POST", "/api/tts/stream", json={"text": TEXT, "seed": 1}) as response:
            assert response.status_code == 200
            raw = response.iter_raw()
            while len(next(raw)) <= HEADER:  # until the first audio, then hang up
                pass
        deadline = time.monotonic() + 5
        while app.state.service.admission.in_flight and time.monotonic() < deadline:
            time.sleep(0.05)
        assert app.state.service.admission.in_flight == 0
        time.sleep(0.5)  # long enough for many more steps, had the piece not stopped
    streamed_steps = len(clock.times)
    [whole] = synth.synthesize([TEXT], seed=1)
    assert streamed_steps < whole.frames, (streamed_steps, whole.frames)
    assert np.isfinite(whole.wav).all()
