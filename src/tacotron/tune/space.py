"""The search space: a typed, validated YAML file mapping config keys to distributions.

Why a file and not code: ranges hard-coded in Python make changing what is searched a code change.
Here every entry names a real config key (`train.lr`, `loss.guided_attn_weight`),
is checked against `tacotron.config.Config` when the file is read (a typo fails at start-up, with the
valid keys listed), and a sampled trial becomes a `Config` through the same validation as any YAML.

Format::

    params:
      train.lr: {type: log, low: 2.0e-4, high: 3.0e-3}
      train.warmup_steps: {type: int, low: 0, high: 1000, step: 100}
      model.n_frames_per_step: {type: categorical, choices: [1, 2, 3]}
      model.p_decoder_dropout: {type: float, low: 0.0, high: 0.3}

`float` is uniform (optional `step`), `log` is log-uniform (low > 0), `int` takes an optional `step`
and `log: true`, `categorical` takes `choices` (numbers, strings or booleans). Batch size and
gradient accumulation are separate keys; their product (the effective batch) is recorded per trial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from tacotron.config import Config, ConfigError

ParamType = Literal["float", "log", "int", "categorical"]
_ALLOWED_FIELDS = {
    "float": {"type", "low", "high", "step"},
    "log": {"type", "low", "high"},
    "int": {"type", "low", "high", "step", "log"},
    "categorical": {"type", "choices"},
}


@dataclass(frozen=True)
class ParamSpec:
    """One searched config key and its distribution."""

    key: str  # dotted config key, e.g. "train.lr"
    type: ParamType
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        """Ask an `optuna.Trial` for a value; the Optuna parameter name is the config key."""
        if self.type == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.type == "int":
            return trial.suggest_int(
                self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log
            )
        if self.type == "log":
            return trial.suggest_float(self.key, self.low, self.high, log=True)
        return trial.suggest_float(self.key, self.low, self.high, step=self.step)


@dataclass
class SearchSpace:
    """An ordered set of `ParamSpec`s, validated against `Config`."""

    params: list[ParamSpec] = field(default_factory=list)

    @classmethod
    def load(cls, path: str | Path) -> SearchSpace:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"search space file not found: {path}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from err
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Any, source: str = "search space") -> SearchSpace:
        if not isinstance(data, dict) or set(data) != {"params"} or not isinstance(data["params"], dict):
            raise ConfigError(f"{source}: expected one top-level key 'params' mapping config keys to specs")
        if not data["params"]:
            raise ConfigError(f"{source}: 'params' is empty; nothing to search")
        space = cls([_parse_spec(key, spec, source) for key, spec in data["params"].items()])
        space.validate(Config())
        return space

    def validate(self, cfg: Config) -> None:
        """Check every key exists and every boundary value is accepted by the config's type."""
        for spec in self.params:
            for value in _boundary_values(spec):
                apply_params(cfg, {spec.key: value})

    def suggest(self, trial: Any) -> dict[str, Any]:
        return {spec.key: spec.suggest(trial) for spec in self.params}

    @property
    def keys(self) -> list[str]:
        return [spec.key for spec in self.params]


def _parse_spec(key: str, spec: Any, source: str) -> ParamSpec:
    where = f"{source}: params.{key}"
    if not isinstance(spec, dict) or spec.get("type") not in _ALLOWED_FIELDS:
        raise ConfigError(f"{where}: needs 'type' one of {sorted(_ALLOWED_FIELDS)}, got {spec!r}")
    kind = spec["type"]
    extra = set(spec) - _ALLOWED_FIELDS[kind]
    if extra:
        raise ConfigError(f"{where}: unknown field(s) {sorted(extra)} for type {kind}")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: 'choices' must be a non-empty list")
        if any(c is not None and not isinstance(c, (bool, int, float, str)) for c in choices):
            raise ConfigError(f"{where}: choices must be numbers, strings or booleans, got {choices!r}")
        return ParamSpec(key=key, type="categorical", choices=tuple(choices))
    low, high = _number(spec, "low", where), _number(spec, "high", where)
    if not low < high:
        raise ConfigError(f"{where}: 'low' ({low}) must be below 'high' ({high})")
    log = kind == "log" or bool(spec.get("log", False))
    if log and low <= 0:
        raise ConfigError(f"{where}: a log scale needs low > 0, got {low}")
    step = _number(spec, "step", where) if "step" in spec else None
    if step is not None and step <= 0:
        raise ConfigError(f"{where}: 'step' must be positive, got {step}")
    if kind == "int" and not all(float(v).is_integer() for v in (low, high, step or 1)):
        raise ConfigError(f"{where}: int bounds and step must be whole numbers")
    return ParamSpec(key=key, type=kind, low=low, high=high, step=step, log=log)


def _number(spec: dict, name: str, where: str) -> float:
    value = spec.get(name)
    if isinstance(value, str):  # YAML 1.1 reads 1e-4 (no dot) as a string
        try:
            value = float(value)
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}: '{name}' must be a finite number, got {spec.get(name)!r}")
    return value


def _boundary_values(spec: ParamSpec) -> list[Any]:
    if spec.type == "categorical":
        return list(spec.choices)
    if spec.type == "int":
        return [int(spec.low), int(spec.high)]
    return [float(spec.low), float(spec.high)]


def apply_params(cfg: Config, params: dict[str, Any]) -> Config:
    """A new `Config` with the dotted keys in `params` set; validated like any config file."""
    data = cfg.to_dict()
    for key, value in params.items():
        parts = key.split(".")
        node = data
        for depth, part in enumerate(parts[:-1]):
            if not isinstance(node.get(part), dict):
                raise ConfigError(
                    f"search space key '{key}': no config section '{'.'.join(parts[: depth + 1])}'"
                )
            node = node[part]
        if parts[-1] not in node or isinstance(node[parts[-1]], dict):
            valid = ", ".join(k for k, v in node.items() if not isinstance(v, dict))
            raise ConfigError(f"search space key '{key}' is not a config value. Valid keys here: {valid}")
        node[parts[-1]] = value
    return Config.from_dict(data)
