"""Helpers for inference tests: real espeak-ng speech and tiny random-init checkpoints."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from tests.conftest import tiny_config

SENTENCES = [
    "The cat sat on the warm mat near the door.",
    "She bought three green apples at the market.",
    "My brother reads a book every evening.",
    "The train leaves the station at 7 o'clock.",
]
# Training text for the judge's LM: the words of SENTENCES in other sentences, plus some others.
TRAINING_TEXT = [
    "The cat sat on the mat.",
    "She sat near the warm door of the station.",
    "My brother bought a book at the market.",
    "Three green apples every evening.",
    "The train leaves at seven o'clock every evening.",
    "She reads the market news near the train station.",
    "My cat leaves the door at three.",
]


def espeak(text: str, path: Path, voice: str = "en-us") -> Path:
    """Write `text` spoken by espeak-ng (22050 Hz 16-bit mono) to `path`."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (make setup installs it)")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    return path


def write_tiny_checkpoint(path: Path, step: int = 3, max_decoder_steps: int = 40, **model) -> Path:
    """A random-init tiny model saved in the trainer's checkpoint layout (format_version 1)."""
    from tacotron.model import build_model
    from tacotron.text import TextFrontend

    torch.manual_seed(step)
    cfg = tiny_config(model={"max_decoder_steps": max_decoder_steps, **model})
    frontend = TextFrontend(cfg.text)
    net = build_model(cfg.model, len(frontend.symbols), cfg.audio.n_mels)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "format_version": 1,
        "model": net.state_dict(),
        "config": cfg.to_dict(),
        "symbols": frontend.symbols.to_dict(),
        "r": cfg.model.n_frames_per_step,
        "step": step,
    }
    torch.save(ckpt, path)
    return path
