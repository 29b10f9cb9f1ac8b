"""Fixtures for the trainer tests: a fast config, and helpers to run `tacotron train` in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tests.conftest import tiny_config

from tacotron.config import Config

HERE = Path(__file__).resolve().parent


def fast_config(**train) -> Config:
    """tiny_config() with r=3 (a third of the decoder steps), no syntheses, short inference."""
    cfg = tiny_config()
    cfg.model.n_frames_per_step = 3
    cfg.model.max_decoder_steps = 20
    cfg.health.enabled = False
    cfg.tune.controller = False
    t = cfg.train
    t.n_val_synth = 0
    t.eval_every = 1000
    t.checkpoint_every = 2
    t.lr_schedule = "constant"
    for key, value in train.items():
        setattr(t, key, value)
    return cfg


def no_dropout(cfg: Config) -> Config:
    """Every dropout off, so two runs that see the same data compute the same gradients."""
    m = cfg.model
    m.encoder_dropout = m.prenet_dropout = m.postnet_dropout = 0.0
    m.p_attention_dropout = m.p_decoder_dropout = 0.0
    return cfg


def subprocess_env(**extra: str) -> dict[str, str]:
    """One torch thread (same float results as this process) and the source tree on the path."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", TACOTRON_TEST_THREADS="1", PYTHONPATH=str(HERE.parents[1] / "src"))
    env.update(extra)
    return env


def run_python(
    args: list[str], env: dict[str, str] | None = None, timeout: int = 240
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=env or subprocess_env(), capture_output=True, text=True, timeout=timeout
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_params(path: Path) -> dict[str, torch.Tensor]:
    from tacotron.train import load_checkpoint

    return dict(load_checkpoint(path)["model"])


@pytest.fixture
def fast_cfg() -> Config:
    return fast_config()


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
