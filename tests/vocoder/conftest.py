"""A vocoder checkpoint trained one step from scratch on the tiny dataset (shared by the synth tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.vocoder.helpers import tiny_vocoder_config


@pytest.fixture(scope="session")
def vocoder_checkpoint(tiny_dataset, tmp_path_factory) -> Path:
    from tacotron.vocoder.trainer import VocoderTrainer

    run = tmp_path_factory.mktemp("vocoder_run")
    return VocoderTrainer(tiny_vocoder_config(steps=1), tiny_dataset, run, init="scratch").fit()
