"""Search space: parsing, validation against Config, sampling, applying to a config."""

from __future__ import annotations

import optuna
import pytest

from tacotron.config import Config, ConfigError
from tacotron.configs import shipped_config
from tacotron.tune.space import SearchSpace, apply_params


def test_default_space_covers_the_issue_keys():
    space = SearchSpace.load(shipped_config("space.yaml"))
    for key in (
        "train.lr",
        "train.warmup_steps",
        "train.weight_decay",
        "train.batch_size",
        "train.grad_accum_steps",
        "model.n_frames_per_step",
        "loss.guided_attn_weight",
        "loss.guided_attn_decay_rate",
        "loss.gate_pos_weight",
        "model.p_decoder_dropout",
        "train.grad_clip",
    ):
        assert key in space.keys


def test_sampled_values_respect_types_and_bounds():
    space = SearchSpace.load(shipped_config("space.yaml"))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(5):
        trial = study.ask()
        params = space.suggest(trial)
        cfg = apply_params(Config(), params)
        assert 2e-4 <= cfg.train.lr <= 3e-3
        assert isinstance(cfg.train.warmup_steps, int) and cfg.train.warmup_steps % 100 == 0
        assert cfg.model.n_frames_per_step in (1, 2, 3)
        study.tell(trial, 0.0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"train.lrr": {"type": "log", "low": 1e-4, "high": 1e-3}}, "train.lrr"),
        ({"train.lr": {"type": "log", "low": 0.0, "high": 1e-3}}, "low > 0"),
        ({"train.lr": {"type": "float", "low": 1.0, "high": 0.5}}, "below 'high'"),
        ({"train.lr": {"type": "gaussian", "low": 1.0, "high": 2.0}}, "needs 'type'"),
        ({"train.lr": {"type": "float", "low": 1.0, "high": 2.0, "q": 1}}, "unknown field"),
        ({"train.batch_size": {"type": "float", "low": 8, "high": 32}}, "must be an integer"),
        ({"train.batch_size": {"type": "categorical", "choices": [8, "big"]}}, "must be an integer"),
        ({"train.warmup_steps": {"type": "int", "low": 0.5, "high": 10}}, "whole numbers"),
        ({"model": {"type": "float", "low": 0, "high": 1}}, "not a config value"),
    ],
)
def test_invalid_specs_are_rejected_with_the_key(spec, message):
    with pytest.raises(ConfigError, match=message):
        SearchSpace.from_dict({"params": spec})


def test_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        SearchSpace.load(tmp_path / "missing.yaml")
    bad = tmp_path / "space.yaml"
    bad.write_text("train.lr: 1\n")
    with pytest.raises(ConfigError, match="'params'"):
        SearchSpace.load(bad)


def test_apply_params_returns_a_new_validated_config():
    base = Config()
    cfg = apply_params(base, {"train.lr": 5e-4, "loss.guided_attn_weight": 3.0})
    assert cfg.train.lr == 5e-4 and cfg.loss.guided_attn_weight == 3.0
    assert base.train.lr == 1e-3  # the base is untouched
    with pytest.raises(ConfigError):
        apply_params(base, {"train.batch_size": 2.5})


def test_tune_command_defaults_to_the_shipped_space(tmp_path, monkeypatch):
    import argparse

    from tacotron.commands import tune
    from tacotron.configs import find_config

    monkeypatch.chdir(tmp_path)  # no space.yaml here: the shipped one is meant
    parser = argparse.ArgumentParser()
    tune.add_arguments(parser)
    args = parser.parse_args(["--data", "dataset"])
    assert find_config(args.space) == shipped_config("space.yaml")
