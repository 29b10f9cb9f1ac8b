"""`VocoderConfig`: everything a HiFi-GAN training run depends on, saved in every vocoder checkpoint.

Defaults are the HiFi-GAN V1 recipe (Kong et al. 2020, jik876/hifi-gan config_v1.json): AdamW
betas (0.8, 0.99), lr 2e-4 decayed by 0.999 per epoch, 8192-sample segments, mel L1 x45, feature
matching x2. `--set key=value` (YAML values, dotted for the nested sections) overrides any field.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from tacotron.config import ConfigError, _parse_float, set_override
from tacotron.infer.hifigan import HifiGanConfig


@dataclass
class DiscriminatorConfig:
    """Shapes of the multi-period (MPD) and multi-scale (MSD) discriminators (defaults: the paper's)."""

    periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])
    mpd_channels: list[int] = field(default_factory=lambda: [32, 128, 512, 1024, 1024])
    msd_scales: int = 3  # raw audio, then average-pooled x2 and x4
    msd_channels: int = 128  # first layer's width (a multiple of 16); later layers widen to 8x (1024 at 128)


@dataclass
class VocoderHealthConfig:
    """Non-finite steps and discriminator collapse (see `tacotron.vocoder.health`).

    A step whose loss or gradient norm is NaN/inf is skipped and reported; `max_anomalies` of them within
    `anomaly_window` steps roll back to the last healthy checkpoint with lr x `rollback_lr_factor`;
    after `max_rollbacks` rollbacks (or with no healthy checkpoint) the run stops naming it.
    """

    max_anomalies: int = 3
    anomaly_window: int = 100
    max_rollbacks: int = 2
    rollback_lr_factor: float = 0.5
    collapse_loss: float = 0.01  # discriminator loss under this ...
    collapse_steps: int = 500  # ... for this many steps in a row ...
    collapse_growth: float = 1.2  # ... while the adversarial loss grew by this factor: a warning


@dataclass
class VocoderConfig:
    generator: HifiGanConfig = field(default_factory=HifiGanConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    health: VocoderHealthConfig = field(default_factory=VocoderHealthConfig)
    segment_size: int = 8192  # samples per training segment (cut to a multiple of the hop)
    batch_size: int = 16
    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.8, 0.99])
    weight_decay: float = 0.01  # torch's AdamW default, as the official recipe leaves it
    lr_decay: float = 0.999  # per epoch (one pass over the training items)
    # Linear LR ramp from lr / warmup_steps over the first warmup_steps steps (0 = none, the recipe from
    # scratch). Why: Adam's first updates, with fresh moments, move every weight by about lr whatever its
    # gradient, and a pretrained generator does not survive that (`--init universal`, real mels, CPU check:
    # held-out copy-synthesis MCD 0.79 -> 5.7 dB after one step at 2e-4, 1.08 dB at 2e-5); its discriminators
    # also start untrained.
    warmup_steps: int = 0
    mel_weight: float = 45.0
    feature_weight: float = 2.0
    steps: int = 100_000
    max_minutes: float = 0.0  # wall-clock budget of this process (0 = none); the stop writes a checkpoint
    seed: int = 1234
    log_every: int = 100
    checkpoint_every: int = 5000
    audio_every: int = 5000  # TensorBoard audio + validation mel L1 of one validation item
    keep_last: int = 3
    tensorboard: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VocoderConfig:
        return _build(cls, data, "")

    def validate(self, hop_length: int) -> VocoderConfig:
        """Raise ConfigError when the generator cannot render `hop_length` samples per frame, or a value
        is out of range; the segment must hold at least one frame."""
        if self.generator.hop_length != hop_length:
            raise ConfigError(
                f"generator.upsample_rates {self.generator.upsample_rates} multiply to "
                f"{self.generator.hop_length}, the corpus's audio.hop_length is {hop_length}"
            )
        if self.segment_size < hop_length:
            raise ConfigError(f"segment_size={self.segment_size} is shorter than one hop ({hop_length})")
        if self.discriminator.msd_channels % 16:
            raise ConfigError(
                f"discriminator.msd_channels={self.discriminator.msd_channels} must be a multiple of 16 "
                "(the MSD's grouped convolutions use 16 groups)"
            )
        for name in ("batch_size", "steps", "log_every", "checkpoint_every", "audio_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.warmup_steps < 0:
            raise ConfigError(f"warmup_steps must be >= 0 (0 = none), got {self.warmup_steps}")
        if self.max_minutes < 0:
            raise ConfigError(f"max_minutes must be >= 0 (0 = no budget), got {self.max_minutes}")
        h = self.health
        for name in ("max_anomalies", "anomaly_window", "collapse_steps"):
            if getattr(h, name) < 1:
                raise ConfigError(f"health.{name} must be >= 1, got {getattr(h, name)}")
        if h.max_rollbacks < 0 or not 0 < h.rollback_lr_factor <= 1 or h.collapse_growth <= 0:
            raise ConfigError(
                "health: max_rollbacks must be >= 0, rollback_lr_factor in (0, 1], collapse_growth > 0; "
                f"got {h.max_rollbacks}, {h.rollback_lr_factor}, {h.collapse_growth}"
            )
        return self


def apply_overrides(cfg: VocoderConfig, overrides: list[str]) -> VocoderConfig:
    """`key=value` or `section.key=value` strings (value parsed as YAML) applied to a copy of `cfg`."""
    data = cfg.to_dict()
    for item in overrides:
        set_override(
            data, item, form="key=value or section.key=value", unknown_section=_unknown_section,
            unknown_key=_unknown_key,
        )  # fmt: skip
    return VocoderConfig.from_dict(data)


def _unknown_section(name: str, node: dict[str, Any], item: str) -> ConfigError:
    return ConfigError(f"unknown vocoder config section '{name.rsplit('.', 1)[-1]}' in '{item}'")


def _unknown_key(name: str, node: dict[str, Any], item: str) -> ConfigError:
    return ConfigError(f"unknown vocoder config key '{name}'; known: {sorted(node)}")


def _build(cls: type, data: dict[str, Any], prefix: str) -> Any:
    """A dataclass from a plain dict: unknown keys and wrongly typed scalars are ConfigErrors."""
    if not isinstance(data, dict):
        raise ConfigError(f"'{prefix or 'vocoder config'}' must be a mapping, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    defaults = cls()
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(f"unknown vocoder config key '{prefix}{key}'; known: {sorted(fields)}")
        default = getattr(defaults, key)
        if dataclasses.is_dataclass(default):
            value = _build(type(default), value, f"{prefix}{key}.")
        elif isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif isinstance(default, float) and isinstance(value, str):  # YAML 1.1 reads "2e-5" as text
            value = _parse_float(value, f"{prefix}{key}")
        elif type(value) is not type(default):
            raise ConfigError(
                f"'{prefix}{key}' must be {type(default).__name__}, got {value!r} ({type(value).__name__})"
            )
        kwargs[key] = value
    return cls(**kwargs)
