"""Serve fixtures: tiny random-init checkpoints (real model, real Synthesizer) and voices built from them.

The service refuses audio cut at max_decoder_steps (422), and an untrained decoder rarely stops on its
own, so the plumbing tests use `tiny_checkpoint`, whose gate stops every piece after its first frame
(gate bias +20, `min_text_fraction` 0); `truncating_checkpoint` never stops (gate bias -20, 40 steps).
Test clients send a loopback Host header: other names get 421 (DNS-rebinding protection).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.helpers.checkpoints import write_serving_checkpoint, write_stopping_checkpoint

LOCAL = "http://127.0.0.1"  # TestClient base_url: its default Host "testserver" is not served


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return write_stopping_checkpoint(tmp_path_factory.mktemp("serve") / "tiny.pt")


SPEAKERS = ["alice", "bob", "carol"]  # the speaker table of `speakers_checkpoint`


@pytest.fixture(scope="session")
def speakers_checkpoint(tmp_path_factory) -> Path:
    """`tiny_checkpoint` with three speakers (model.n_speakers 3, checkpoint "speakers" = SPEAKERS)."""
    return write_stopping_checkpoint(tmp_path_factory.mktemp("serve") / "speakers.pt", speakers=SPEAKERS)


@pytest.fixture(scope="session")
def truncating_checkpoint(tmp_path_factory) -> Path:
    return write_serving_checkpoint(tmp_path_factory.mktemp("serve") / "truncating.pt", max_decoder_steps=40)


@pytest.fixture(scope="session")
def tiny_synthesizer(tiny_checkpoint):
    from tacotron.infer.synthesizer import Synthesizer

    return Synthesizer.from_checkpoint(tiny_checkpoint)


@pytest.fixture(scope="session")
def truncating_synthesizer(truncating_checkpoint):
    from tacotron.infer.synthesizer import Synthesizer

    return Synthesizer.from_checkpoint(truncating_checkpoint)


@pytest.fixture(scope="session")
def speakers_synthesizer(speakers_checkpoint):
    from tacotron.infer.synthesizer import Synthesizer

    return Synthesizer.from_checkpoint(speakers_checkpoint)
