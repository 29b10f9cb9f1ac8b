"""`tacotron train` argument handling (the training itself is tested through Trainer)."""

from __future__ import annotations

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


def test_missing_dataset_is_a_clear_error(tmp_path, capsys):
    code = main(
        ["train", "--data", str(tmp_path / "nothing"), "--run", str(tmp_path / "run"), "--device", "cpu"]
    )
    assert code == 2 and "not a prepared dataset" in capsys.readouterr().err  # one line, no traceback


def test_gpus_flag_is_removed_before_torchrun_reruns_the_command():
    assert _strip_gpus(["train", "--gpus", "4", "--data", "d", "--gpus=2", "--run", "r"]) == [
        "train",
        "--data",
        "d",
        "--run",
        "r",
    ]


def test_log_level_is_accepted_before_and_after_the_subcommand():
    assert (
        build_parser().parse_args(["--log-level", "DEBUG", "train", "--data", "d", "--run", "r"]).log_level
        == "DEBUG"
    )
    assert (
        build_parser().parse_args(["train", "--data", "d", "--run", "r", "--log-level", "ERROR"]).log_level
        == "ERROR"
    )
    assert build_parser().parse_args(["train", "--data", "d", "--run", "r"]).log_level == "INFO"


def test_train_on_a_raw_corpus_or_a_missing_folder_is_a_one_line_error(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "metadata.csv").write_text("a|hello|hello\n", encoding="utf-8")
    assert main(["train", "--data", str(corpus), "--run", str(tmp_path / "run"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "looks like a raw corpus" in err
    assert f"tacotron prepare {corpus} --out DATASET_DIR" in err

    missing = tmp_path / "nowhere"
    assert main(["train", "--data", str(missing), "--run", str(tmp_path / "run2"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "does not exist" in err
