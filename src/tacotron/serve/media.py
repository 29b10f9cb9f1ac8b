"""Turn synthesis results into what HTTP clients get: joined WAV bytes and an alignment PNG.

soundfile, librosa and matplotlib are imported inside the functions, as everywhere on the serving path
that a GPU machine without them might import.
"""

from __future__ import annotations

import io
import struct

import numpy as np

UNKNOWN_SIZE = 0xFFFFFFFF  # RIFF and data sizes of a streamed WAV, whose length is not known up front


def pause_samples(sample_rate: int, pause_seconds: float) -> int:
    """Samples of silence put between two sentences: the one rule joined, streamed and timed audio share."""
    return int(round(pause_seconds * sample_rate))


def piece_starts(lengths: list[int], sample_rate: int, pause_seconds: float) -> list[int]:
    """Sample index where each sentence starts in `join_with_pauses` output (before any speed change)."""
    gap = pause_samples(sample_rate, pause_seconds)
    starts, at = [], 0
    for length in lengths:
        starts.append(at)
        at += length + gap
    return starts


def join_with_pauses(wavs: list[np.ndarray], sample_rate: int, pause_seconds: float) -> np.ndarray:
    """Concatenate sentence waveforms with `pause_seconds` of silence between them (float32)."""
    if not wavs:
        raise ValueError("join_with_pauses needs at least one waveform")
    gap = np.zeros(pause_samples(sample_rate, pause_seconds), dtype=np.float32)
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


def pcm16_bytes(wav: np.ndarray, sample_rate: int) -> bytes:
    """Raw 16-bit little-endian mono samples, converted exactly as `wav_bytes` converts them (libsndfile),
    so streamed chunks and pcm responses hold the same samples as the WAV file would."""
    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(
        buffer,
        np.clip(np.asarray(wav, dtype=np.float32), -1.0, 1.0),
        sample_rate,
        format="RAW",
        subtype="PCM_16",
        endian="LITTLE",
    )
    return buffer.getvalue()


def streaming_wav_header(sample_rate: int) -> bytes:
    """A 44-byte PCM_16 mono WAV header whose RIFF and data sizes are 0xFFFFFFFF (length unknown, as
    streaming WAV writers do): players read samples until the stream ends."""
    channels, bits = 1, 16
    block = channels * bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", UNKNOWN_SIZE)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block, block, bits)
        + b"data"
        + struct.pack("<I", UNKNOWN_SIZE)
    )


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
