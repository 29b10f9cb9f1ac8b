"""Tiny random-init checkpoints in the trainer's layout (format_version 1), and reading one back."""

from __future__ import annotations

from pathlib import Path

import torch
from tests.helpers.configs import tiny_config


def write_tiny_checkpoint(path: Path, step: int = 3, max_decoder_steps: int = 40, **model) -> Path:
    """A random-init tiny model (seeded by `step`) saved in the trainer's checkpoint layout (format_version 1)."""
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


def write_serving_checkpoint(
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


def model_params(path: Path) -> dict[str, torch.Tensor]:
    """The model's parameters stored in checkpoint `path`."""
    from tacotron.train import load_checkpoint

    return dict(load_checkpoint(path)["model"])


def write_stopping_checkpoint(
    path: Path, max_decoder_steps: int = 1000, language: str = "en", speakers: list[str] | None = None
) -> Path:
    """An untrained tiny checkpoint whose gate stops every text after its first frame (gate bias +20,
    `min_text_fraction` 0): for tests that need synthesis to finish (the service refuses audio cut at
    max_decoder_steps, `synth` exits 3), fast however long the text. `speakers`: a multi-speaker model
    with this speaker table (names in id order)."""
    from tacotron.model import build_model
    from tacotron.text import TextFrontend

    speaking = {"n_speakers": len(speakers), "speaker_embedding_dim": 8} if speakers else {}
    cfg = tiny_config(model={"max_decoder_steps": max_decoder_steps, "min_text_fraction": 0.0, **speaking})
    cfg.text.language = language
    frontend = TextFrontend(cfg.text)
    torch.manual_seed(0)
    model = build_model(cfg.model, len(frontend.symbols), cfg.audio.n_mels)
    state = model.state_dict()
    state["decoder.gate_projection.bias"].fill_(20.0)
    ckpt = {
        "format_version": 1,
        "model": state,
        "config": cfg.to_dict(),
        "symbols": frontend.symbols.to_dict(),
        "r": 1,
        "step": 0,
        "speakers": list(speakers or []),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return path
