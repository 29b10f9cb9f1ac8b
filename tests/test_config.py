"""Config: defaults, YAML round trip, layering, overrides and the errors users see."""

import pytest

from tacotron.cli import main
from tacotron.config import Config, ConfigError, apply_overrides, load_config
from tacotron.configs import find_config, shipped_config, shipped_dir, shipped_names


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


@pytest.mark.parametrize("name", [n for n in shipped_names() if not n.startswith("space")])
def test_shipped_configs_load(name):
    load_config(shipped_config(name))


def test_shipped_configs_live_in_the_package():
    assert shipped_dir().parent.name == "tacotron"
    assert {"demo.yaml", "demo-ru.yaml", "space.yaml"} <= set(shipped_names())
    assert shipped_config("demo") == shipped_config("demo.yaml") == shipped_dir() / "demo.yaml"
    with pytest.raises(FileNotFoundError, match="shipped: .*demo.yaml"):
        shipped_config("nope.yaml")


def test_bare_config_name_falls_back_to_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_config("demo.yaml") == shipped_config("demo.yaml")
    assert load_config("demo-ru.yaml").text.language == "ru"  # layered on the shipped demo.yaml
    (tmp_path / "demo.yaml").write_text("train:\n  lr: 0.125\n")
    assert load_config("demo.yaml").train.lr == 0.125  # a file of that name here wins
    with pytest.raises(ConfigError, match=r"not found: missing\.yaml .*shipped: .*demo\.yaml"):
        load_config("missing.yaml")
    with pytest.raises(ConfigError, match="not found: sub/demo.yaml"):
        load_config("sub/demo.yaml")  # a path with folders means that file, never a shipped one


def test_cli_reads_a_shipped_config_by_name(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["config", "--config", "demo.yaml"]) == 0
    assert f"n_frames_per_step: {load_config(shipped_config('demo')).model.n_frames_per_step}" in (
        capsys.readouterr().out
    )
    assert main(["config", "--config", "nope.yaml"]) == 2
    assert "shipped: " in capsys.readouterr().err


def test_cli_prints_config_and_reports_errors(capsys):
    assert main(["config", "--set", "train.lr=5e-4"]) == 0
    assert "lr: 0.0005" in capsys.readouterr().out
    assert main(["config", "--set", "train.lrr=1"]) == 2
    assert "did you mean lr" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.eval_every=0", r"'train.eval_every' must be >= 1, got 0"),
        ("train.batch_size=0", r"'train.batch_size' must be >= 1, got 0"),
        ("audio.sample_rate=-1", r"'audio.sample_rate' must be > 0, got -1"),
        ("audio.fmax=20000", r"audio.fmax \(20000.0\) <= sample_rate / 2 \(11025\)"),
        ("data.val_fraction=1.5", r"'data.val_fraction' must be in \[0, 1\)"),
        ("model.n_frames_per_step=9", r"model.n_frames_per_step \(9\)"),
    ],
)
def test_values_out_of_range_fail_at_load(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_base_must_name_a_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("base: 5\ntrain:\n  lr: 0.001\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'base' must be the file name of another config, got 5"):
        load_config(path)
