"""Shared test fixtures: tiny configs and a tiny prepared espeak-ng corpus built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tacotron.config import Config

# Two cores are shared by everything on CI; oversubscription makes torch 20x slower.
torch.set_num_threads(int(os.environ.get("TACOTRON_TEST_THREADS", "1")))


def tiny_config(**sections) -> Config:
    """A Config whose model is small enough for CPU tests (a few hundred k parameters)."""
    cfg = Config()
    m = cfg.model
    m.symbols_embedding_dim = 32
    m.encoder_embedding_dim = 32
    m.encoder_n_convolutions = 1
    m.attention_rnn_dim = 48
    m.attention_dim = 16
    m.attention_location_n_filters = 4
    m.attention_location_kernel_size = 7
    m.decoder_rnn_dim = 48
    m.prenet_dim = 32
    m.postnet_embedding_dim = 32
    m.postnet_n_convolutions = 2
    m.max_decoder_steps = 200
    cfg.audio.n_mels = 80
    t = cfg.train
    t.batch_size = 4
    t.max_steps = 4
    t.eval_every = 2
    t.checkpoint_every = 2
    t.log_every = 1
    t.n_val_synth = 1
    t.loggers = []
    cfg.data.workers = 1
    for name, values in sections.items():
        for key, value in values.items():
            setattr(getattr(cfg, name), key, value)
    return cfg


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
