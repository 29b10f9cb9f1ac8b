"""Serve fixtures: a tiny random-init checkpoint (real model, real Synthesizer) and voices built from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.helpers.checkpoints import write_serving_checkpoint


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return write_serving_checkpoint(tmp_path_factory.mktemp("serve") / "tiny.pt")


@pytest.fixture(scope="session")
def tiny_synthesizer(tiny_checkpoint):
    from tacotron.infer.synthesizer import Synthesizer

    return Synthesizer.from_checkpoint(tiny_checkpoint)
