"""Reading audio: one function that turns any readable file into float32 mono at the model's rate.

Why one function: a corpus can mix sample rates (16 kHz and 22.05 kHz files), and training on both
goes unnoticed unless every read checks; every read goes through `load_wav`, which resamples (and logs it) or fails with
an `AudioError` that names the file, so `prepare` can report the item instead of dying.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)


class AudioError(ValueError):
    """An audio file is missing, unreadable, corrupt or empty; `path` names it."""

    def __init__(self, path: str | Path, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = str(path)
        self.detail = message


def load_wav(path: str | Path, sample_rate: int) -> np.ndarray:
    """Read `path` as float32 mono in [-1, 1] at `sample_rate` Hz.

    Multi-channel audio is mixed down by averaging; another rate is resampled with soxr (HQ) and
    logged at INFO. Raises AudioError for a missing, unreadable, corrupt, empty or non-finite file.
    """
    import soundfile as sf
    import soxr

    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found")
    if path.stat().st_size == 0:
        raise AudioError(path, "file is empty (0 bytes)")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise AudioError(path, f"cannot decode audio: {err}") from err
    if data.shape[0] == 0:
        raise AudioError(path, "no audio samples")
    wav = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(wav).all():
        raise AudioError(path, "audio contains NaN or infinite samples")
    if rate != sample_rate:
        logger.info("resampling %s from %d Hz to %d Hz", path, rate, sample_rate)
        wav = soxr.resample(wav, rate, sample_rate, quality="HQ")
    return np.clip(wav, -1.0, 1.0).astype(np.float32, copy=False)


def peak_dbfs(wav: np.ndarray) -> float:
    """Peak level in dBFS (-inf for digital silence); the silence check of `prepare` uses it."""
    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    return 20.0 * float(np.log10(peak)) if peak > 0 else float("-inf")
