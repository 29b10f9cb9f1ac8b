"""Real speech for inference tests: espeak-ng sentences, and training text for the judge's LM."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

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
