"""Fixtures for inference tests: real espeak-ng speech and tiny random-init checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.helpers.checkpoints import write_tiny_checkpoint
from tests.helpers.speech import SENTENCES, espeak


@pytest.fixture(scope="session")
def espeak_refs(tmp_path_factory) -> Path:
    """SENTENCES as 001.wav .. 004.wav plus sentences.txt (one per line) in one folder."""
    out = tmp_path_factory.mktemp("espeak_refs")
    for i, text in enumerate(SENTENCES, start=1):
        espeak(text, out / f"{i:03d}.wav")
    (out / "sentences.txt").write_text("\n".join(SENTENCES) + "\n", encoding="utf-8")
    return out


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")
