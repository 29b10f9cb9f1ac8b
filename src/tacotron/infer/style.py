"""Choosing a Global Style Tokens style at inference: from reference audio or from token weights.

Both end in `Tacotron2.infer(style_mel=...)` / `infer(style_weights=...)`, which use the same
conditioning function as training (see `tacotron.model.gst`). A reference wav is featurised exactly
as `tacotron prepare` featurises training audio (same mel settings, same leading/trailing silence
trim), because in training the reference encoder only ever saw such mels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tacotron.config import Config


class StyleError(ValueError):
    """A style option cannot be used: the model has no GST, or a token id / weight is wrong."""


def style_mel_from_wav(path: str | Path, cfg: Config) -> torch.Tensor:
    """Reference wav -> log-mel [n_mels, T] with the checkpoint's audio and trim settings."""
    import librosa

    from tacotron.audio import AudioError, load_wav, mel_spectrogram

    wav = load_wav(path, cfg.audio.sample_rate)
    if cfg.data.trim_db > 0:
        wav, _ = librosa.effects.trim(
            wav, top_db=cfg.data.trim_db, frame_length=cfg.audio.n_fft, hop_length=cfg.audio.hop_length
        )
    if len(wav) < cfg.audio.win_length:
        raise AudioError(Path(path), f"too short for a style reference ({len(wav)} samples after trimming)")
    return mel_spectrogram(wav, cfg.audio)


def style_weights_from_spec(spec: str, model: Any) -> torch.Tensor:
    """ "3:0.5,5:0.5" -> token weights [n_tokens] for `model`; StyleError names what is wrong."""
    from tacotron.model.gst import parse_style_tokens

    if not getattr(model, "has_gst", False):
        raise StyleError("--style-token: this checkpoint was trained without Global Style Tokens (model.gst)")
    try:
        return parse_style_tokens(spec, model.gst.n_tokens)
    except ValueError as err:
        raise StyleError(str(err)) from err


def resolve_style(
    model: Any, cfg: Config, *, style_wav: str | Path | None = None, style_token: str | None = None
) -> dict[str, torch.Tensor]:
    """CLI options -> keyword arguments for `Synthesizer.synthesize` ({} = the default, uniform style)."""
    if style_wav is not None and style_token is not None:
        raise StyleError("give --style-wav or --style-token, not both")
    if style_token is not None:
        return {"style_weights": style_weights_from_spec(style_token, model)}
    if style_wav is not None:
        if not getattr(model, "has_gst", False):
            raise StyleError(
                "--style-wav: this checkpoint was trained without Global Style Tokens (model.gst)"
            )
        return {"style_mel": style_mel_from_wav(style_wav, cfg)}
    return {}
