"""`tacotron train` argument handling (the training itself is tested through Trainer)."""

from __future__ import annotations

import pytest

from tacotron.cli import build_parser, main
from tacotron.commands.train import _strip_gpus


def test_parser_accepts_the_documented_options():
    args = build_parser().parse_args(
        [
            "train",
            "--data",
            "d",
            "--run",
            "runs/x",
            "--device",
            "cuda:1",
            "--init-from",
            "c.pt",
            "--init-skip",
            "encoder.embedding",
            "--init-skip",
            "decoder.x",
            "--gpus",
            "2",
            "--set",
            "train.lr=1e-4",
        ]
    )
    assert (args.data, args.run_dir, args.device, args.gpus) == ("d", "runs/x", "cuda:1", 2)
    assert args.init_skip == ["encoder.embedding", "decoder.x"] and args.overrides == ["train.lr=1e-4"]
    assert callable(args.run)


def test_resume_without_checkpoint_and_no_resume_with_checkpoints_are_refused(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path), "--run", str(tmp_path / "run"), "--resume"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "step_00000002.pt").write_bytes(b"x")
    assert main(["train", "--data", str(tmp_path), "--run", str(tmp_path / "run"), "--no-resume"]) == 2
    assert "already has checkpoints" in capsys.readouterr().err


def test_missing_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a prepared dataset"):
        main(
            ["train", "--data", str(tmp_path / "nothing"), "--run", str(tmp_path / "run"), "--device", "cpu"]
        )


def test_gpus_flag_is_removed_before_torchrun_reruns_the_command():
    assert _strip_gpus(["train", "--gpus", "4", "--data", "d", "--gpus=2", "--run", "r"]) == [
        "train",
        "--data",
        "d",
        "--run",
        "r",
    ]
