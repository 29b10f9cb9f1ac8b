"""Acoustic comparison of synthesised and reference speech: mel cepstral distortion after DTW.

Why DTW: a synthesised utterance is never frame-synchronous with its reference (different speaking
rate and pauses), so frames are first paired along the cheapest monotonic path, then compared.
"""

from __future__ import annotations

import math

import numpy as np

MCD_CONSTANT = 10.0 / math.log(10.0) * math.sqrt(2.0)  # dB, for cepstra of natural-log magnitudes


def mel_cepstrum(log_mel: np.ndarray, n_coeffs: int = 24) -> np.ndarray:
    """Natural-log mel magnitudes [n_mels, T] -> mel cepstra c1..c_n [n_coeffs, T].

    Scaled to the cepstral convention the MCD formula assumes, log|X(w)| = c0 + 2 * sum_k c_k cos(k w):
    a log-mel ripple of amplitude a at quefrency k gives c_k = a / 2. The orthonormal DCT-II gives
    sqrt(2 * n_mels) times that (an 80-band mel would read ~13x too high: "71 dB" for ~5.6 dB).
    c0 (overall loudness) is dropped, as in the usual MCD definition, so level differences are ignored.
    """
    from scipy.fft import dct

    if log_mel.ndim != 2 or log_mel.shape[0] <= n_coeffs:
        raise ValueError(f"log_mel must be [n_mels > {n_coeffs}, T], got shape {log_mel.shape}")
    ortho = dct(np.asarray(log_mel, dtype=np.float64), type=2, norm="ortho", axis=0)[1 : n_coeffs + 1]
    return ortho / math.sqrt(2 * log_mel.shape[0])


def mel_cepstral_distortion(synth_mel: np.ndarray, reference_mel: np.ndarray, n_coeffs: int = 24) -> float:
    """MCD in dB between two log-mels [n_mels, T1], [n_mels, T2], averaged over the DTW path.

    MCD = 10 / ln 10 * sqrt(2 * sum_k (c_k - c'_k)^2). Identical inputs give 0. Our cepstra come from a
    DCT of the 80-band log-mel (on the usual c_k scale) rather than SPTK's mel-generalised analysis of the
    full spectrum, so values are in the usual range (a few dB) but not identical to papers' numbers.
    """
    import librosa

    a, b = mel_cepstrum(synth_mel, n_coeffs), mel_cepstrum(reference_mel, n_coeffs)
    _, path = librosa.sequence.dtw(X=a, Y=b, metric="euclidean")
    diff = a[:, path[:, 0]] - b[:, path[:, 1]]  # (n_coeffs, path length)
    return float(MCD_CONSTANT * np.mean(np.sqrt(np.sum(diff**2, axis=0))))
