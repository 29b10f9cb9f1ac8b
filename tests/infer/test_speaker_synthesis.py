"""Synthesizer speakers per text: a batch mixing speakers gives each text what its own call would;
`tacotron eval` on a multi-speaker checkpoint breaks its summary down per speaker."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.helpers.checkpoints import write_stopping_checkpoint

from tacotron.cli import main
from tacotron.infer.synthesizer import Synthesizer, UnknownSpeakerError

NAMES = ["alice", "bob"]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    path = write_stopping_checkpoint(tmp_path_factory.mktemp("spk") / "two.pt", speakers=NAMES)
    return Synthesizer.from_checkpoint(path)


def _mels(results):
    return [r.mel for r in results]


def test_a_list_gives_each_text_its_speaker(synth):
    texts = ["Hello there.", "A longer sentence here.", "Hi."]
    mixed = synth.synthesize(texts, batch_size=2, deterministic=True, speaker=["bob", None, "alice"])
    alone = [
        synth.synthesize([text], deterministic=True, speaker=name)[0]
        for text, name in zip(texts, ["bob", "alice", "alice"], strict=True)
    ]
    for got, want in zip(mixed, alone, strict=True):
        np.testing.assert_allclose(got.mel, want.mel, atol=1e-5)
    other = synth.synthesize(["Hello there."], deterministic=True, speaker="alice")[0]
    assert not np.allclose(other.mel, mixed[0].mel)


def test_split_texts_keep_their_speaker_for_every_piece(synth):
    texts = ["One. " * 40, "Two."]
    split = synth.synthesize(texts, deterministic=True, split=True, speaker=["bob", "alice"])
    assert len(split[0].pieces) > 1
    whole = synth.synthesize(texts[:1], deterministic=True, split=True, speaker="bob")[0]
    np.testing.assert_allclose(split[0].mel, whole.mel, atol=1e-5)


def test_bad_speaker_lists_are_refused(synth):
    with pytest.raises(ValueError, match="2 speakers given for 1 texts"):
        synth.synthesize(["Hi."], speaker=["alice", "bob"])
    with pytest.raises(UnknownSpeakerError, match="alice, bob"):
        synth.synthesize(["Hi.", "Yo."], speaker=["alice", "dave"])


def _eval(synth_path, tmp_path, *extra):
    lines = tmp_path / "s.txt"
    lines.write_text("One.\nTwo.\nThree.\n", encoding="utf-8")
    out = tmp_path / "o"
    argv = ["eval", "--checkpoint", str(synth_path), "--file", str(lines), "--no-asr", "--out", str(out)]
    code = main([*argv, "--no-progress", *extra])
    report = json.loads((out / "eval.json").read_text(encoding="utf-8")) if code == 0 else None
    return code, report


def test_eval_reads_round_robin_and_breaks_the_summary_down_per_speaker(synth, tmp_path):
    code, report = _eval(synth.checkpoint, tmp_path)
    assert code == 0
    assert [r["speaker"] for r in report["sentences"]] == ["alice", "bob", "alice"]
    assert {name: s["n"] for name, s in report["per_speaker"].items()} == {"alice": 2, "bob": 1}


def test_eval_with_one_speaker_and_an_unknown_one(synth, tmp_path, capsys):
    code, report = _eval(synth.checkpoint, tmp_path, "--speaker", "bob")
    assert code == 0 and {r["speaker"] for r in report["sentences"]} == {"bob"}
    assert list(report["per_speaker"]) == ["bob"]
    assert _eval(synth.checkpoint, tmp_path, "--speaker", "dave")[0] == 2
    assert "alice, bob" in capsys.readouterr().err


def test_single_speaker_eval_has_no_speaker_fields(tmp_path):
    from tests.helpers.checkpoints import write_stopping_checkpoint

    code, report = _eval(write_stopping_checkpoint(tmp_path / "one.pt"), tmp_path)
    assert code == 0 and "per_speaker" not in report
    assert not any("speaker" in r for r in report["sentences"])
