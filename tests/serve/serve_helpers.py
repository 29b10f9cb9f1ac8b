"""Test helpers for the serve tests (importable, unlike conftest)."""

from __future__ import annotations

import threading
from pathlib import Path

import torch
from tests.conftest import tiny_config


def write_tiny_checkpoint(
    path: Path, max_decoder_steps: int = 40, seed: int = 0, r: int = 1, gate_bias: float | None = -20.0
) -> Path:
    """A format-1 checkpoint of an untrained tiny model: enough to exercise the whole serving path.

    `gate_bias` overrides the gate projection's bias: the default -20 silences the random gate (which
    otherwise often fires after one frame) so items run to end-of-text or max_decoder_steps; None keeps it.
    """
    from tacotron.model import build_model
    from tacotron.text import TextFrontend

    cfg = tiny_config()
    cfg.model.max_decoder_steps = max_decoder_steps
    cfg.model.n_frames_per_step = r
    frontend = TextFrontend(cfg.text)
    torch.manual_seed(seed)
    model = build_model(cfg.model, len(frontend.symbols), cfg.audio.n_mels)
    state = model.state_dict()
    if gate_bias is not None:
        state["decoder.gate_projection.bias"].fill_(gate_bias)
    ckpt = {
        "format_version": 1,
        "model": state,
        "config": cfg.to_dict(),
        "symbols": frontend.symbols.to_dict(),
        "r": r,
        "step": 0,
    }
    torch.save(ckpt, path)
    return path


class SpySynthesizer:
    """Wraps the real Synthesizer: records every batch and can hold calls until `release` is set."""

    def __init__(self, inner, hold: bool = False) -> None:
        self.inner = inner
        self.cfg = inner.cfg
        self.step = inner.step
        self.calls: list[tuple[list[str], int | None]] = []
        self.release = threading.Event()
        self.entered = threading.Event()
        if not hold:
            self.release.set()

    def synthesize(self, texts, batch_size=8, *, seed=None):
        self.calls.append((list(texts), seed))
        self.entered.set()
        if not self.release.wait(timeout=30):
            raise RuntimeError("SpySynthesizer was never released")
        return self.inner.synthesize(texts, batch_size=batch_size, seed=seed)
