"""Shared test fixtures: a tiny config and a tiny prepared espeak-ng corpus built once per session.

Plain helpers live in `tests.helpers`; test modules import them from there, never from a conftest.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from tests.helpers.configs import tiny_config

from tacotron.config import Config

# Two cores are shared by everything on CI; oversubscription makes torch 20x slower.
torch.set_num_threads(int(os.environ.get("TACOTRON_TEST_THREADS", "1")))


@pytest.fixture
def tiny_cfg() -> Config:
    return tiny_config()


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """A 12-utterance English espeak-ng corpus in LJSpeech layout (metadata.csv + wavs/)."""
    from tacotron.data.demo_corpus import write_demo_corpus

    out = tmp_path_factory.mktemp("corpus")
    write_demo_corpus(out, lang="en", n=12, seed=0)
    return out


@pytest.fixture(scope="session")
def tiny_dataset(tiny_corpus, tmp_path_factory) -> Path:
    """`tiny_corpus` prepared with default audio/text settings into a dataset folder."""
    from tacotron.data.prepare import prepare_dataset

    out = tmp_path_factory.mktemp("dataset")
    cfg = tiny_config()
    cfg.data.val_fraction = 0.25
    prepare_dataset(tiny_corpus, out, cfg)
    return out
