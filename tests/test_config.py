"""Config: defaults, YAML round trip, layering, overrides and the errors users see."""

from pathlib import Path

import pytest

from tacotron.cli import main
from tacotron.config import Config, ConfigError, apply_overrides, load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_defaults_are_the_ljspeech_recipe():
    a = Config().audio
    assert (a.sample_rate, a.n_fft, a.hop_length, a.win_length, a.n_mels) == (22050, 1024, 256, 1024, 80)
    assert (a.fmin, a.fmax, a.log_clamp) == (0.0, 8000.0, 1e-5)


def test_yaml_round_trip(tmp_path):
    cfg = apply_overrides(
        Config(), ["train.lr=5e-4", "model.n_frames_per_step=3", "train.r_schedule=[[0,4,8],[100,2,16]]"]
    )
    path = tmp_path / "c.yaml"
    cfg.save(path)
    again = Config.load(path)
    assert again == cfg
    assert again.train.lr == 5e-4 and again.model.n_frames_per_step == 3
    assert again.train.r_schedule == [[0, 4, 8], [100, 2, 16]]


def test_unknown_key_names_key_and_suggests(tmp_path):
    with pytest.raises(ConfigError, match=r"train\.lrr.*did you mean lr"):
        apply_overrides(Config(), ["train.lrr=1"])
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  n_frames_per_stepp: 2\n")
    with pytest.raises(ConfigError, match=r"model\.n_frames_per_stepp.*n_frames_per_step"):
        Config.load(path)
    with pytest.raises(ConfigError, match="unknown config key 'trian'"):
        apply_overrides(Config(), ["trian.lr=1"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.n_frames_per_step=2.5", "must be an integer"),
        ("train.lr=fast", "must be a number"),
        ("train.precision=fp8", r"must be one of \['fp32', 'bf16', 'fp16', 'auto'\]"),
        ("health.enabled=maybe", "true or false"),
        ("train.betas=0.9", "must be a list"),
        ("train.lr", "section.key=value"),
    ],
)
def test_wrong_types_are_clear_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        apply_overrides(Config(), [override])


def test_malformed_yaml_and_missing_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Config.load(path)
    with pytest.raises(ConfigError, match="not found"):
        Config.load(tmp_path / "nope.yaml")
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        Config.load(path)


def test_layered_config_overrides_base(tmp_path):
    (tmp_path / "base.yaml").write_text("train:\n  lr: 0.002\n  batch_size: 8\n")
    (tmp_path / "top.yaml").write_text("base: base.yaml\ntrain:\n  batch_size: 4\n")
    cfg = load_config(tmp_path / "top.yaml", ["train.seed=7"])
    assert (cfg.train.lr, cfg.train.batch_size, cfg.train.seed) == (0.002, 4, 7)


@pytest.mark.parametrize(
    "name", sorted(p.name for p in CONFIGS.glob("*.yaml") if not p.name.startswith("space"))
)
def test_shipped_configs_load(name):
    load_config(CONFIGS / name)


def test_cli_prints_config_and_reports_errors(capsys):
    assert main(["config", "--set", "train.lr=5e-4"]) == 0
    assert "lr: 0.0005" in capsys.readouterr().out
    assert main(["config", "--set", "train.lrr=1"]) == 2
    assert "did you mean lr" in capsys.readouterr().err
