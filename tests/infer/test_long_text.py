"""Long text through `Synthesizer.synthesize(split=True)` and `tacotron synth`: spoken completely in pieces
within the decoder budget, joined in order; a piece cut at max_decoder_steps is flagged, never success.
Bad text (number bombs, punctuation only) is one `error:` line, exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.helpers.checkpoints import write_serving_checkpoint, write_stopping_checkpoint
from tests.text.test_pieces import paragraph, squash

from tacotron.cli import main
from tacotron.infer.synthesizer import MIN_PIECE_SYMBOLS, Synthesizer


@pytest.fixture(scope="module")
def stopping(tmp_path_factory):
    """Every piece stops after one frame: fast, and never truncated."""
    return Synthesizer.from_checkpoint(write_stopping_checkpoint(tmp_path_factory.mktemp("ckpt") / "s.pt"))


@pytest.fixture(scope="module")
def cutting_checkpoint(tmp_path_factory):
    """An untrained tiny model with a silenced gate (40 decoder steps): its pieces run into max steps."""
    return write_serving_checkpoint(tmp_path_factory.mktemp("ckpt") / "cut.pt", max_decoder_steps=40)


@pytest.fixture(scope="module")
def cutting(cutting_checkpoint):
    return Synthesizer.from_checkpoint(cutting_checkpoint)


def test_budget_follows_the_checkpoint(stopping, cutting):
    assert stopping.max_piece_symbols() == int(1000 * 8.0 / (22050 / 256))  # 92 symbols for 1000 steps
    assert stopping.max_piece_symbols(2000) == 2 * stopping.max_piece_symbols() + 1
    assert cutting.max_piece_symbols() == MIN_PIECE_SYMBOLS  # 40 steps hold 3: the floor applies


def test_a_5000_character_paragraph_is_spoken_in_full(stopping):
    text = paragraph(5000, seed=1)
    (result,) = stopping.synthesize([text], split=True, deterministic=True)
    limit = stopping.max_piece_symbols()
    assert len(result.pieces) >= len(text) // limit
    assert all(stopping.frontend.estimate_symbols(p) <= limit for p in result.pieces)
    assert squash(" ".join(result.pieces)) == squash(text)  # nothing dropped, order kept
    assert result.text == text and not result.truncated
    assert result.stop_reasons == ["gate"] * len(result.pieces)
    gap = round(0.15 * 22050 / 256)
    assert result.frames == len(result.pieces) + gap * (len(result.pieces) - 1)  # one frame each + pauses
    assert result.wav.shape == (result.frames * 256,) and result.mel.shape == (80, result.frames)
    assert result.alignment.shape == (
        len(result.pieces),
        sum(len(stopping.frontend.encode(p)) for p in result.pieces),
    )


def test_short_text_is_one_piece_and_results_keep_their_order(stopping):
    texts = ["Short one.", paragraph(400, seed=2), "Another short one."]
    results = stopping.synthesize(texts, split=True, batch_size=3, deterministic=True)
    assert [r.text for r in results] == texts
    assert [len(r.pieces) for r in results][::2] == [1, 1] and len(results[1].pieces) > 1
    assert results[0].pieces == ["Short one."] and results[0].stop_reasons == ["gate"]


def test_a_piece_cut_at_max_decoder_steps_marks_the_whole_text_truncated(cutting):
    (result,) = cutting.synthesize(["One two three four five, six seven eight nine ten."], split=True, seed=0)
    assert len(result.pieces) > 1
    assert "max_steps" in result.stop_reasons and result.stop_reason == "max_steps" and result.truncated


def test_synth_exits_3_on_truncated_audio_unless_allowed(tmp_path, cutting_checkpoint, capsys):
    argv = ["synth", "--checkpoint", str(cutting_checkpoint), "--text", "Hello there.", "--seed", "0"]
    assert main([*argv, "--out", str(tmp_path / "a")]) == 3
    err = capsys.readouterr().err
    assert "error: 1 of 1 texts were cut at max_decoder_steps=40" in err and "--allow-truncated" in err
    record = json.loads((tmp_path / "a" / "synth.jsonl").read_text())
    assert record["truncated"] is True and (tmp_path / "a" / "001.wav").is_file()
    assert main([*argv, "--out", str(tmp_path / "b"), "--allow-truncated"]) == 0
    assert "warning: 1 of 1 texts were cut" in capsys.readouterr().err


def test_synth_speaks_a_long_text_file_in_pieces(tmp_path, stopping, capsys):
    lines = tmp_path / "long.txt"
    lines.write_text(paragraph(1500, seed=3) + "\nHi.\n", encoding="utf-8")
    ckpt = str(stopping.checkpoint)
    assert main(["synth", "--checkpoint", ckpt, "--file", str(lines), "--out", str(tmp_path / "o")]) == 0
    records = [json.loads(x) for x in (tmp_path / "o" / "synth.jsonl").read_text().splitlines()]
    assert records[0]["pieces"] > 1 and len(records[0]["stop_reasons"]) == records[0]["pieces"]
    assert records[1]["pieces"] == 1 and not any(r["truncated"] for r in records)
    wav = np.load(tmp_path / "o" / "001.mel.npy")
    assert wav.shape[1] == records[0]["frames"]


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("1" * 10_000, "expand to"),
        ("$" + "9" * 2000 + " now", "expand to"),
        ("!!! ... ???", "nothing to say"),
    ],
)
def test_synth_reports_bad_text_in_one_line(tmp_path, stopping, capsys, text, words):
    code = main(["synth", "--checkpoint", str(stopping.checkpoint), "--text", text, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
