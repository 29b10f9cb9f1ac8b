"""Typed configuration: one `Config` of nested dataclasses, YAML in and out, dotted overrides.

Why dataclasses and not a dict: a typo in a key or a wrong type must fail at start-up with a message
that names the key, not three hours into training. Every checkpoint and every run folder stores the
full `Config` so a run can always be rebuilt exactly.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class FrozenConfigError(AttributeError):
    """A config that a running trainer holds was written to; steer through the trainer's setters instead."""


class _Section:
    """Config sections become read-only after `Config.freeze()` (a running trainer's config must not
    change under it: what callbacks may change mid-run goes through the trainer's logged setters)."""

    _frozen = False

    def __setattr__(self, name: str, value: Any) -> None:
        if self._frozen:
            raise FrozenConfigError(
                f"{type(self).__name__}.{name}: the config is frozen while a trainer uses it; "
                "change it through the trainer (scale_lr, set_precision, set_guided_attn_weight) or "
                "copy it first (cfg.copy())"
            )
        object.__setattr__(self, name, value)


# Languages with a letters table (`text.phonemes: false`); phoneme mode reads any espeak-ng voice code.
LETTER_LANGUAGES = ("en", "ru")


class ConfigError(ValueError):
    """A config file or override is wrong; the message names the key and what was expected."""


@dataclass
class AudioConfig(_Section):
    """Feature extraction. Defaults are the LJSpeech / NVIDIA Tacotron 2 recipe."""

    sample_rate: int = 22050  # Hz; input audio at another rate is resampled (and logged)
    n_fft: int = 1024
    hop_length: int = 256  # samples between frames (11.6 ms at 22050 Hz)
    win_length: int = 1024
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    log_clamp: float = 1e-5  # mel = log(max(mel, log_clamp)); natural log as HiFi-GAN expects


@dataclass
class TextConfig(_Section):
    """Text frontend. The symbol table follows from `language` and `phonemes`."""

    language: str = "en"  # en or ru; with phonemes: true any espeak-ng voice code (de, fr, es, cmn...)
    phonemes: bool = False  # espeak-ng IPA instead of letters
    stress: Literal["keep", "auto", "strip"] = "keep"  # Russian '+' stress marks
    lowercase: bool = True
    expand_numbers: bool = True  # digits, ordinals and currency to words in `language`
    expand_abbreviations: bool = True


@dataclass
class DataConfig(_Section):
    """Dataset preparation and loading."""

    val_fraction: float = 0.05  # share of items held out for validation (deterministic by id hash)
    val_max: int = 100  # cap on validation items
    min_seconds: float = 0.3
    max_seconds: float = 20.0
    silence_db: float = -50.0  # a wav whose peak is below this (dBFS) is rejected as silent
    trim_db: float = 40.0  # leading/trailing silence trimmed below peak minus this (0 = off)
    min_chars_per_second: float = 1.0  # text/audio ratio outside these bounds is implausible
    max_chars_per_second: float = 40.0
    workers: int = 2  # processes for `tacotron prepare`
    loader_workers: int = 0  # DataLoader workers in training
    bucket_size: int = 64  # items per length bucket before batching (x batch_size)


@dataclass
class ModelConfig(_Section):
    """Tacotron 2 sizes (Shen et al. 2018; NVIDIA reference defaults)."""

    symbols_embedding_dim: int = 512
    encoder_embedding_dim: int = 512
    encoder_n_convolutions: int = 3
    encoder_kernel_size: int = 5
    encoder_dropout: float = 0.5
    attention_rnn_dim: int = 1024
    attention_dim: int = 128
    attention_location_n_filters: int = 32
    attention_location_kernel_size: int = 31
    decoder_rnn_dim: int = 1024
    prenet_dim: int = 256
    prenet_n_layers: int = 2
    prenet_dropout: float = 0.5
    prenet_dropout_at_inference: bool = True  # as in the paper; off gives deterministic output
    p_attention_dropout: float = 0.1
    p_decoder_dropout: float = 0.1
    postnet_embedding_dim: int = 512
    postnet_kernel_size: int = 5
    postnet_n_convolutions: int = 5
    postnet_dropout: float = 0.5
    n_frames_per_step: int = 1  # reduction factor r (1..8)
    max_frames_per_step: int = 0  # projection size for an r schedule; 0 = n_frames_per_step
    max_decoder_steps: int = 1000  # inference guard, in decoder steps
    gate_threshold: float = 0.5
    min_text_fraction: float = 0.5  # the gate may not stop before attention passed this share
    stop_at_end_of_text: bool = True  # also stop when attention settles on the last symbol
    # --- Global Style Tokens (Wang et al. 2018; model/gst.py). Off: no extra parameters or keys ---
    gst: bool = False
    gst_n_tokens: int = 10
    gst_heads: int = 4  # attention heads over the tokens
    gst_token_dim: int = 256  # style embedding size (split across heads); projected to the encoder size
    gst_ref_channels: list[int] = field(default_factory=lambda: [32, 32, 64, 64, 128, 128])
    gst_ref_gru_dim: int = 128  # reference encoder summary size
    # --- Double decoder consistency (Coqui; model/ddc.py): a coarse decoder used only for the loss ---
    ddc: bool = False
    ddc_r: int = 6  # coarse decoder's frames per step
    # --- Speakers (model/speakers.py): a learned embedding added to the encoder outputs ---
    n_speakers: int = 0  # rows of the speaker table; 0 = single-speaker (no extra parameters or keys)
    speaker_embedding_dim: int = 64  # projected to the encoder size


@dataclass
class LossConfig(_Section):
    """Loss terms and their weights; every term is logged by name."""

    mel_loss: Literal["mse", "l1"] = "mse"
    mel_weight: float = 1.0  # before postnet
    postnet_weight: float = 1.0  # after postnet
    gate_weight: float = 1.0
    gate_pos_weight: float = 5.0  # BCE weight of the (rare) stop frames
    # Guided attention (Tachibana et al. 2017; 0 disables). The term is a mean over (decoder step, symbol)
    # cells, about 1/L of a per-step sum, so it needs a large weight: 300 aligns the demo corpus by step
    # 500 on CPU and GPU, 10 does not within 1,000 steps (benchmarks/RESULTS.md). It decays by half every
    # 1,000 steps from step 3,000, never below 30, so the prior lets go once attention has formed.
    guided_attn_weight: float = 300.0
    guided_attn_sigma: float = 0.3
    guided_attn_decay_start: int = 3000  # step from which the weight decays
    guided_attn_decay_rate: float = 0.5  # multiplied in every guided_attn_decay_steps steps
    guided_attn_decay_steps: int = 1000
    guided_attn_min_weight: float = 30.0
    ddc_weight: float = 1.0  # coarse decoder's mel and gate terms (only with model.ddc)
    ddc_attn_weight: float = 1.0  # L1 between fine and coarse alignments (only with model.ddc)


@dataclass
class TrainConfig(_Section):
    """Optimisation, schedules, checkpoints, logging."""

    seed: int = 1234
    batch_size: int = 32
    grad_accum_steps: int = 1
    max_steps: int = 100_000  # optimizer steps
    max_minutes: float = 0.0  # wall-clock budget for this process; 0 = none
    # multi-GPU / multi-node: a collective that waits longer fails with an error naming it, instead of
    # hanging (a rank died or diverged); long enough for rank 0's checkpoint saves and validation
    ddp_timeout_s: float = 900.0
    # auto: bf16 where the device runs it natively, else fp32 (train/precision.py)
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"
    # fp16 only: the GradScaler's first loss scale (torch's default 2^16); steps that overflow are
    # skipped and halve it, so a lower start skips fewer of the first steps
    fp16_init_scale: float = 65536.0
    tf32: bool = True
    optimizer: Literal["adam", "adamw"] = "adam"
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-6
    weight_decay: float = 1e-6
    grad_clip: float = 1.0  # max global grad norm; 0 = off
    lr_schedule: Literal["constant", "step", "exponential", "noam"] = "exponential"
    warmup_steps: int = 0
    lr_decay_start: int = 0
    lr_decay_steps: int = 10_000  # step: period; exponential: e-folding-like period of decay_rate
    lr_decay_rate: float = 0.5
    lr_min: float = 1e-5
    # Gradual training: [[from_step, r, batch_size], ...] ([from_step, r] keeps batch_size); empty =
    # model.n_frames_per_step throughout (which is also the r before the first entry)
    r_schedule: list[list[int]] = field(default_factory=list)
    # Fresh runs: frame projection bias = the training set's mean log-mel (decoder.init_frame_bias)
    init_frame_bias: bool = True
    eval_every: int = 500
    checkpoint_every: int = 500
    keep_last: int = 3
    log_every: int = 10
    best_metric: str = "val/loss"  # lower is better
    early_stop_patience: int = 0  # evaluations without improvement; 0 = off
    n_val_synth: int = 2  # validation sentences synthesised and logged at each evaluation
    loggers: list[str] = field(default_factory=lambda: ["tensorboard"])
    mlflow_tracking_uri: str = ""  # empty = ./mlruns
    # --- speed (tacotron.train.graphs; see benchmarks/RESULTS.md) ---
    cuda_graphs: bool = (
        False  # replay forward+loss+backward from a CUDA graph per batch shape (CUDA, DDP too; fp32/bf16)
    )
    # with cuda_graphs: pad text to a multiple of this (fewer graph shapes; BatchNorm statistics see the
    # padding, so coarser buckets move the model away from eager training)
    graph_text_multiple: int = 16
    graph_mel_multiple: int = 32  # with cuda_graphs: pad mels to a multiple of this (and of r)
    # torch.compile the teacher-forced decoder's attention step (model/decoder.py `attention_step`): fewer
    # kernels per decoder step on CUDA, eager or in a CUDA graph. Costs compile time: the first training
    # step, the first evaluation and each precision compile (tens of seconds); new bucket shapes reuse it.
    # The compiled step keeps plain per-step matmuls (the eager loop forms their weight gradients after it)
    compile_decoder_step: bool = False
    # --- experiment tracking and alerts (tracking/); credentials never live here, only in env vars ---
    mlflow_experiment: str = "tacotron"  # MLflow experiment name (created on first use)
    # event kinds to notify on (rollback, no_alignment, give_up, train_end, crash, ...); empty = off
    alerts: list[str] = field(default_factory=list)
    alert_min_interval_s: float = 300.0  # per kind: repeats within this are dropped (and counted)
    alert_max_per_hour: int = 20  # all kinds together (train_end and crash are exempt)
    alert_timeout_s: float = 5.0  # per HTTP request; sending runs in a background thread


@dataclass
class HealthConfig(_Section):
    """Debug Reporter: anomaly detection and recovery."""

    enabled: bool = True
    detail_every: int = 50  # steps between per-module grad norms / attention health
    spike_factor: float = 5.0  # loss > factor x running median is a spike
    spike_window: int = 50
    grad_explode_factor: float = 20.0  # grad norm > factor x running median
    # an explosion whose update train.grad_clip bounded counts toward a rollback only when the loss median
    # of the last 10 steps is this fraction above its median before the first explosion (health/detectors.py
    # LossRise); 0 counts every explosion
    clipped_explosion_loss_rise: float = 0.05
    min_history: int = 20  # steps before spike/explosion detection starts
    align_deadline_step: int = 0  # no alignment by this step is an event; 0 = off
    align_threshold: float = 0.5  # attn/alignment (r-independent, metrics/attention.py) counted as aligned
    max_anomalies: int = 3  # within anomaly_window steps -> roll back
    anomaly_window: int = 100
    rollback_lr_factor: float = 0.5
    max_rollbacks: int = 3
    fp16_fallback: Literal["bf16", "fp32", "none"] = "bf16"
    localize_nonfinite: bool = True  # replay the batch with hooks to name the first bad module
    # --- Debug Reporter additions (health/) ---
    collapse_ratio: float = 0.6  # attn/alignment below ratio x its best (after aligning) is a collapse
    min_loss_scale: float = 1.0  # fp16 GradScaler scale below this is a loss-scale collapse
    report_on_end: bool = True  # write report.html / report.md into the run folder when training ends


@dataclass
class TuneConfig(_Section):
    """Smart Tuner: search and live control."""

    trials: int = 20
    steps_per_trial: int = 300
    report_every: int = 50
    # auto: ASHA (multi-fidelity, over steps) when a trial has >= 3 evaluations, else median (see study.py)
    pruner: Literal["auto", "asha", "hyperband", "median", "none"] = "auto"
    sampler_seed: int = 0
    score_mel_weight: float = 1.0
    # raw val diagonality: not comparable across r (kept so that older configs load); 0 = off
    score_diagonality_weight: float = 0.0
    score_gate_f1_weight: float = 0.5
    controller: bool = True  # live controller during plain `tacotron train`
    controller_align_step: int = 1500  # no alignment by then -> act
    controller_plateau_evals: int = 5
    controller_lr_factor: float = 0.5
    controller_guided_attn_factor: float = 2.0
    # --- Smart Tuner additions (tune/): pruning, storage, scoring, controller limits ---
    direction_speed: bool = False  # multi-objective: (score, seconds per step); disables pruning
    pruner_startup_trials: int = 2  # median pruner: trials finished before it prunes
    pruner_warmup_steps: int = 100  # median pruner: steps before a trial can be pruned
    prune_unaligned_step: int = 0  # not aligned (tune.alignment_threshold) by this step -> pruned; 0 = off
    prune_divergence_factor: float = 3.0  # val mel loss > factor x its best so far -> pruned; 0 = off
    heartbeat_interval: int = 10  # seconds; a RUNNING trial without heartbeat for heartbeat_grace is failed
    heartbeat_grace: int = 60
    max_retry: int = 1  # times a trial failed by a lost heartbeat is re-queued with the same params
    sqlite_timeout: float = 60.0  # seconds a SQLite writer waits for the lock
    controller_divergence_factor: float = 2.0  # val loss > factor x best val loss -> roll back, cut LR
    controller_plateau_min_delta: float = 0.01  # relative improvement that is not a plateau
    controller_cooldown_evals: int = 2  # evaluations between two actions for the same problem
    controller_max_align_actions: int = 4  # alternating guided-attention raise / LR cut
    controller_max_rollbacks: int = 3
    controller_max_guided_attn_weight: float = 1200.0  # 4x the default weight: "raise" must raise
    # --- the trial score (tune/score.py): r-independent alignment, held-out intelligibility ---
    score_alignment_weight: float = 5.0  # x (1 - val attn/alignment), the same scale at every r
    alignment_threshold: float = 0.5  # val attn/alignment counted as aligned (steps/seconds to alignment)
    proxy_sentences: int = 4  # held-out (val) sentences judged by ASR at the end of a trial; 0 = off
    score_proxy_weight: float = 5.0  # x held-out WER, added to a trial's final score when the judge ran


@dataclass
class Config(_Section):
    """Everything a run needs; saved in the run folder and in every checkpoint."""

    audio: AudioConfig = field(default_factory=AudioConfig)
    text: TextConfig = field(default_factory=TextConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_yaml(), encoding="utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        return _build(cls, data, prefix="")

    @classmethod
    def load(cls, path: str | Path, overrides: list[str] | None = None) -> Config:
        """Read a YAML file (optionally layered on `base: other.yaml`) and apply `key=value` overrides."""
        data = _read_layered(Path(path), seen=())
        cfg = cls.from_dict(data)
        return apply_overrides(cfg, overrides or [])

    def copy(self) -> Config:
        """A deep, writable copy (also of a frozen config)."""
        return Config.from_dict(self.to_dict())

    def validate(self) -> Config:
        """Raise ConfigError naming the key for any value outside its range (see `_RANGES`); returns self.

        Types are checked when a config is built; ranges here, so that a bad value fails at load time
        instead of minutes into a run (a zero eval interval, a zero batch, a negative sample rate).
        """
        for key, (check, expected) in _RANGES.items():
            section, name = key.split(".")
            value = getattr(getattr(self, section), name)
            if not check(value):
                raise ConfigError(f"'{key}' must be {expected}, got {value!r}")
        text = self.text
        if not text.phonemes and text.language not in LETTER_LANGUAGES:
            raise ConfigError(
                f"'text.language' {text.language!r} has no letters table (letters mode: "
                f"{', '.join(LETTER_LANGUAGES)}); set text.phonemes: true to read it through espeak-ng"
            )
        a = self.audio
        if a.win_length > a.n_fft:
            raise ConfigError(f"'audio.win_length' ({a.win_length}) must be <= audio.n_fft ({a.n_fft})")
        if not a.fmin < a.fmax <= a.sample_rate / 2:
            raise ConfigError(
                f"need audio.fmin ({a.fmin}) < audio.fmax ({a.fmax}) <= sample_rate / 2 ({a.sample_rate / 2:g})"
            )
        max_r = self.model.max_frames_per_step or self.model.n_frames_per_step
        if not 1 <= self.model.n_frames_per_step <= max_r <= 8:
            raise ConfigError(
                f"need 1 <= model.n_frames_per_step ({self.model.n_frames_per_step}) <= "
                f"model.max_frames_per_step ({self.model.max_frames_per_step}, 0 = n_frames_per_step) <= 8"
            )
        return self

    def freeze(self) -> Config:
        """Make this config and its sections read-only (see `_Section`); returns self."""
        for section in dataclasses.fields(self):
            object.__setattr__(getattr(self, section.name), "_frozen", True)
        object.__setattr__(self, "_frozen", True)
        return self


def _at_least(low: float) -> tuple[Any, str]:
    return (lambda v: v >= low), f">= {low:g}"


def _positive() -> tuple[Any, str]:
    return (lambda v: v > 0), "> 0"


# key -> (check, what is expected): the ranges `Config.validate` enforces
_RANGES: dict[str, tuple[Any, str]] = {
    "audio.sample_rate": _positive(),
    "audio.n_fft": _positive(),
    "audio.hop_length": _positive(),
    "audio.win_length": _positive(),
    "audio.n_mels": _positive(),
    "audio.fmin": _at_least(0),
    "data.val_fraction": ((lambda v: 0 <= v < 1), "in [0, 1)"),
    "data.val_max": _at_least(0),
    "data.workers": _at_least(1),
    "data.loader_workers": _at_least(0),
    "data.bucket_size": _at_least(1),
    "model.max_decoder_steps": _at_least(1),
    "model.n_speakers": _at_least(0),
    "model.speaker_embedding_dim": _at_least(1),
    "train.batch_size": _at_least(1),
    "train.grad_accum_steps": _at_least(1),
    "train.max_steps": _at_least(0),
    "train.max_minutes": _at_least(0),
    "train.lr": _positive(),
    "train.grad_clip": _at_least(0),
    "train.fp16_init_scale": _positive(),
    "train.ddp_timeout_s": _positive(),
    "train.eval_every": _at_least(1),
    "train.checkpoint_every": _at_least(1),
    "train.log_every": _at_least(1),
    "train.keep_last": _at_least(0),
    "train.n_val_synth": _at_least(0),
    "train.early_stop_patience": _at_least(0),
    "health.clipped_explosion_loss_rise": _at_least(0),
    "tune.report_every": _at_least(1),
    "tune.score_mel_weight": _at_least(0),
    "tune.score_diagonality_weight": _at_least(0),
    "tune.score_gate_f1_weight": _at_least(0),
    "tune.score_alignment_weight": _at_least(0),
    "tune.score_proxy_weight": _at_least(0),
    "tune.alignment_threshold": ((lambda v: 0 <= v <= 1), "in [0, 1]"),
    "tune.proxy_sentences": _at_least(0),
}


def _read_layered(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.resolve() in seen:
        raise ConfigError(f"config files include each other in a loop: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping of sections, got {type(data).__name__}")
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{path}: 'base' must be the file name of another config, got {base!r}")
    base_data = _read_layered((path.parent / base), seen + (path.resolve(),))
    return _deep_merge(base_data, data)


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _unknown_key_error(key: str, valid: list[str]) -> ConfigError:
    leaf = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(leaf, valid, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return ConfigError(f"unknown config key '{key}'{hint} Valid keys here: {', '.join(valid)}")


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"'{prefix or 'config'}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in names:
            raise _unknown_key_error(dotted, names)
        kwargs[key] = _coerce(hints[key], value, dotted)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """Check `value` against type `tp`; allow only lossless conversions (int -> float)."""
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, prefix=f"{key}.")
    origin = typing.get_origin(tp)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"'{key}' must be one of {list(allowed)}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            if option is type(None) and value is None:
                return None
            try:
                return _coerce(option, value, key)
            except ConfigError:
                continue
        raise ConfigError(f"'{key}' must be {tp}, got {value!r}")
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{key}' must be a list, got {value!r}")
        (item_tp,) = typing.get_args(tp) or (Any,)
        return [_coerce(item_tp, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is Any:
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"'{key}' must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"'{key}' must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "5e-4" (no dot) as a string
            value = _parse_float(value, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"'{key}' must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"'{key}' must be a string, got {value!r}")
        return value
    raise ConfigError(f"'{key}': unsupported config type {tp}")


def _parse_float(text: str, key: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"'{key}' must be a number, got {text!r}") from None


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply `section.key=value` strings (value parsed as YAML) and re-validate the whole config."""
    data = cfg.to_dict()
    for item in overrides:
        set_override(
            data, item, form="section.key=value", unknown_section=_unknown_section, unknown_key=_unknown_leaf
        )
    return Config.from_dict(data)


# (dotted name, the mapping it was looked up in, the override) -> the error for an unknown section or key
UnknownKey = Callable[[str, dict[str, Any], str], ConfigError]


def set_override(
    data: dict[str, Any], item: str, *, form: str, unknown_section: UnknownKey, unknown_key: UnknownKey
) -> None:
    """Write one `a.b.key=value` override (value parsed as YAML) into the nested dict `data`; only
    existing keys can be set. The callers (this Config, the vocoder's) word the unknown-name errors."""
    if "=" not in item:
        raise ConfigError(f"override '{item}' must look like {form}")
    dotted, raw = item.split("=", 1)
    parts = dotted.strip().split(".")
    node = data
    for depth, part in enumerate(parts[:-1]):
        if not isinstance(node.get(part), dict):
            raise unknown_section(".".join(parts[: depth + 1]), node, item)
        node = node[part]
    if parts[-1] not in node or isinstance(node[parts[-1]], dict):
        raise unknown_key(dotted, node, item)
    try:
        node[parts[-1]] = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise ConfigError(f"override '{item}': value is not valid YAML: {err}") from err


def _unknown_section(name: str, node: dict[str, Any], item: str) -> ConfigError:
    return _unknown_key_error(name, [k for k, v in node.items() if isinstance(v, dict)])


def _unknown_leaf(name: str, node: dict[str, Any], item: str) -> ConfigError:
    return _unknown_key_error(name, [k for k, v in node.items() if not isinstance(v, dict)])


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Defaults when `path` is None, else the file (or the shipped config of that name, see
    `tacotron.configs`); then overrides. The CLI's single entry point."""
    if path is None:
        return apply_overrides(Config(), overrides or []).validate()
    from tacotron.configs import find_config

    try:
        found = find_config(path)
    except FileNotFoundError as err:
        raise ConfigError(str(err)) from err
    return Config.load(found, overrides).validate()
