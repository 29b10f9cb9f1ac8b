"""`smart_tuner_main.py` (the old tool's entry point) and the steps-to-alignment comparison."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from tests.helpers.configs import trial_base_config

from tacotron.tune.compare import compare_configs

REPO = Path(__file__).resolve().parents[2]


def _smart_tuner_main():
    spec = importlib.util.spec_from_file_location("smart_tuner_main", REPO / "smart_tuner_main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_old_flags_map_to_tacotron_commands():
    stm = _smart_tuner_main()
    args = stm.parse_args(["--optimize", "--n_trials", "7", "--study", "s", "--steps", "50"])
    argv = stm.to_tacotron_argv(args, "DATA", "base.yaml")
    assert argv[:3] == ["tune", "--config", "base.yaml"]
    assert argv[argv.index("--trials") + 1] == "7" and argv[argv.index("--steps") + 1] == "50"
    train = stm.to_tacotron_argv(stm.parse_args(["--train", "--out", "runs/x"]), "DATA", "base.yaml")
    assert (
        train[0] == "train"
        and "tune.controller=true" in train
        and train[train.index("--run") + 1] == "runs/x"
    )
    with pytest.raises(SystemExit):
        stm.parse_args(["--optimize", "--train"])


def test_the_printed_command_hides_a_storage_password():
    stm = _smart_tuner_main()
    args = stm.parse_args(["--optimize", "--storage", "postgresql://tuner:pw123@db/s"])
    shown = " ".join(stm._shown(stm.to_tacotron_argv(args, "DATA", "base.yaml")))
    assert "pw123" not in shown and "postgresql://tuner:***@db/s" in shown


def test_smart_tuner_main_runs_a_study(tiny_dataset, base_config_file, space_file, tmp_path, capsys):
    stm = _smart_tuner_main()
    out = tmp_path / "tuned"
    code = stm.main(
        [
            "--optimize",
            "--n_trials",
            "1",
            "--config",
            str(base_config_file),
            "--data",
            str(tiny_dataset),
            "--space",
            str(space_file),
            "--out",
            str(out),
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    assert "$ tacotron tune" in capsys.readouterr().out
    assert (out / "best.yaml").is_file() and (out / "report.md").is_file()


def test_compare_measures_steps_to_alignment(tiny_dataset, tmp_path):
    base = trial_base_config()
    reachable = trial_base_config()
    reachable.tune.alignment_threshold = 0.0  # any alignment counts: aligned at the first evaluation
    results = compare_configs(
        {"base": base, "tuned": reachable}, tiny_dataset, tmp_path, max_steps=2, eval_every=1, device="cpu"
    )
    assert results["tuned"]["steps_to_align"] == 1
    assert results["base"]["steps_to_align"] is None  # a 2-step tiny model does not align
    assert [e["step"] for e in results["base"]["evals"]] == [1, 2]
    md = (tmp_path / "compare.md").read_text()
    assert "| tuned | 1 |" in md and "| base | not within 2 |" in md
    assert json.loads((tmp_path / "compare.json").read_text())["tuned"]["threshold"] == 0.0
