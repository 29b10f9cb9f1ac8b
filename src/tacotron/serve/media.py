"""Turn synthesis results into what HTTP clients get: joined WAV bytes and an alignment PNG.

soundfile, librosa and matplotlib are imported inside the functions, as everywhere on the serving path
that a GPU machine without them might import.
"""

from __future__ import annotations

import io

import numpy as np


def join_with_pauses(wavs: list[np.ndarray], sample_rate: int, pause_seconds: float) -> np.ndarray:
    """Concatenate sentence waveforms with `pause_seconds` of silence between them (float32)."""
    if not wavs:
        raise ValueError("join_with_pauses needs at least one waveform")
    gap = np.zeros(int(round(pause_seconds * sample_rate)), dtype=np.float32)
    parts: list[np.ndarray] = []
    for i, wav in enumerate(wavs):
        if i:
            parts.append(gap)
        parts.append(np.asarray(wav, dtype=np.float32).reshape(-1))
    return np.concatenate(parts)


def change_speed(wav: np.ndarray, speed: float) -> np.ndarray:
    """Time-stretch `wav` by `speed` (2.0 = twice as fast) without changing pitch.

    The model has no duration control, so speed is a phase-vocoder stretch of the output
    (librosa.effects.time_stretch); expect slight phasiness far from 1.0.
    """
    if speed == 1.0:
        return wav
    import librosa

    return librosa.effects.time_stretch(np.asarray(wav, dtype=np.float32), rate=speed).astype(np.float32)


def wav_bytes(wav: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM mono WAV file contents; samples are clipped to [-1, 1] first."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, np.clip(wav, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def block_alignment(alignments: list[np.ndarray]) -> np.ndarray:
    """Place per-sentence alignments [T_dec_i, L_i] on the diagonal of one [sum T, sum L] matrix.

    One picture then shows every sentence of a request, each of which should be its own diagonal.
    """
    if not alignments:
        raise ValueError("block_alignment needs at least one alignment")
    rows = sum(a.shape[0] for a in alignments)
    cols = sum(a.shape[1] for a in alignments)
    out = np.zeros((rows, cols), dtype=np.float32)
    r = c = 0
    for a in alignments:
        out[r : r + a.shape[0], c : c + a.shape[1]] = a
        r += a.shape[0]
        c += a.shape[1]
    return out


def alignment_png(alignment: np.ndarray) -> bytes:
    """PNG of an alignment [T_dec, L]: encoder steps upward, decoder steps rightward, as in the papers."""
    from matplotlib import image

    buffer = io.BytesIO()
    picture = np.asarray(alignment, dtype=np.float32).T  # (L, T_dec)
    image.imsave(buffer, picture, cmap="viridis", origin="lower", vmin=0.0, vmax=1.0, format="png")
    return buffer.getvalue()
