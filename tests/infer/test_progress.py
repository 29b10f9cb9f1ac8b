"""Progress bars of `tacotron synth` and `tacotron eval`: on stderr for a terminal, never otherwise."""

from __future__ import annotations

import io
import sys

import pytest

from tacotron.cli import build_parser, main


class Terminal(io.StringIO):
    """A stderr that says it is a terminal, so tqdm draws."""

    def isatty(self) -> bool:
        return True


def _synth(checkpoint, out, *extra: str) -> list[str]:
    return ["synth", "--checkpoint", str(checkpoint), "--text", "Hi there.", "--out", str(out), *extra]


def _eval(checkpoint, tmp_path, *extra: str) -> list[str]:
    lines = tmp_path / "s.txt"
    lines.write_text("One line.\nTwo lines.\n", encoding="utf-8")
    return ["eval", "--checkpoint", str(checkpoint), "--file", str(lines), "--no-asr", *extra]


@pytest.mark.parametrize("command", ["synth", "eval"])
def test_no_progress_parses(command, tmp_path):
    argv = _synth("c.pt", tmp_path) if command == "synth" else _eval("c.pt", tmp_path)
    assert build_parser().parse_args([*argv, "--no-progress"]).no_progress is True
    assert build_parser().parse_args(argv).no_progress is False


def test_no_bar_without_a_terminal(tiny_checkpoint, tmp_path, capsys):
    main([*_synth(tiny_checkpoint, tmp_path / "o"), "--allow-truncated"])
    main(_eval(tiny_checkpoint, tmp_path))
    err = capsys.readouterr().err
    assert "\r" not in err and "it/s" not in err and "%|" not in err


@pytest.mark.parametrize("command", ["synth", "eval"])
def test_a_terminal_gets_a_bar_unless_no_progress(command, tiny_checkpoint, tmp_path, monkeypatch):
    def run(*extra: str) -> str:
        terminal = Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        if command == "synth":
            main([*_synth(tiny_checkpoint, tmp_path / "o"), "--allow-truncated", *extra])
        else:
            main([*_eval(tiny_checkpoint, tmp_path), *extra])
        monkeypatch.undo()
        return terminal.getvalue()

    assert "%|" in run()
    assert "%|" not in run("--no-progress")
