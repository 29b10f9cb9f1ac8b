"""`tacotron text`: digits come out as words in the chosen language; unknown chars fail the command."""

from __future__ import annotations

import re
import shutil

import pytest

from tacotron.cli import main


def test_cli_prints_russian_words_for_digits(capsys):
    assert main(["text", "--lang", "ru", "В 2024 году"]) == 0
    out = capsys.readouterr().out
    assert "cleaned: в две тысячи двадцать четвёртом году" in out
    ids = [int(i) for i in re.search(r"ids:\s+\[([\d, ]+)\]", out).group(1).split(",")]
    assert ids[-1] == 1 and len(ids) == len("в две тысячи двадцать четвёртом году") + 1


def test_cli_defaults_to_english_and_reports_unknown_chars(capsys):
    assert main(["text", "Room 42"]) == 0
    assert "cleaned: room forty-two" in capsys.readouterr().out
    assert main(["text", "snow ☃"]) == 1
    assert "☃" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_cli_phonemes_via_set_override(capsys):
    pytest.importorskip("phonemizer")
    assert main(["text", "--set", "text.phonemes=true", "Hello 2"]) == 0
    out = capsys.readouterr().out
    assert "ˈ" in out and "2" not in out.split("cleaned:")[1].split("\n")[0]
