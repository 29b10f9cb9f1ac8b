"""Prepared-dataset folders built from numpy alone (no espeak-ng or librosa, e.g. on the GPU machine)."""

from __future__ import annotations

from pathlib import Path

from tacotron.config import Config


def write_synthetic_dataset(out: Path, cfg: Config, n_items: int = 24, seed: int = 0) -> Path:
    """A prepared-dataset folder built from numpy alone (no espeak-ng/librosa, e.g. on the GPU machine).

    Each symbol owns a fixed spectral pattern held for a fixed number of frames, so text -> mel is a
    learnable, monotonic mapping and the loss of a working trainer goes down quickly.
    """
    import json

    import numpy as np

    from tacotron.text.symbols import build_symbol_table

    rng = np.random.default_rng(seed)
    symbols = build_symbol_table("en")
    letters = [c for c in "abcdefghijklmnopqrstuvwxyz" if c in symbols]
    n_mels = cfg.audio.n_mels
    patterns = {c: rng.uniform(-8.0, 0.0, size=n_mels).astype(np.float32) for c in letters}
    durations = {c: 2 + i % 4 for i, c in enumerate(letters)}
    (out / "mels").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n_items):
        text = "".join(rng.choice(letters, size=int(rng.integers(8, 20))))
        mel = np.concatenate([np.repeat(patterns[c][:, None], durations[c], axis=1) for c in text], axis=1)
        item_id = f"syn{i:03d}"
        np.save(out / "mels" / f"{item_id}.npy", mel)
        lines.append(
            json.dumps(
                {
                    "id": item_id,
                    "text": text,
                    "cleaned": text,
                    "ids": [symbols.id_of(c) for c in text] + [symbols.eos_id],
                    "mel": f"mels/{item_id}.npy",
                    "frames": int(mel.shape[1]),
                    "seconds": mel.shape[1] * cfg.audio.hop_length / cfg.audio.sample_rate,
                    "split": "val" if i < 2 else "train",
                }
            )
        )
    (out / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    (out / "symbols.json").write_text(json.dumps(symbols.to_dict()))
    np.save(out / "mel_basis.npy", triangular_filterbank(n_mels, cfg.audio.n_fft // 2 + 1))
    cfg.save(out / "config.yaml")
    return out


def triangular_filterbank(n_mels: int, n_bins: int):
    """Evenly spaced triangles [n_mels, n_bins] (test data only; real datasets store librosa's mel basis)."""
    import numpy as np

    centers = np.linspace(0, n_bins - 1, n_mels + 2)
    bins = np.arange(n_bins)[None, :]
    left, mid, right = centers[:-2, None], centers[1:-1, None], centers[2:, None]
    rise = (bins - left) / (mid - left)
    fall = (right - bins) / (right - mid)
    return np.clip(np.minimum(rise, fall), 0.0, None).astype(np.float32)
