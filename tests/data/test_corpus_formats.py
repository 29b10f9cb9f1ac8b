"""Corpus formats: every layout read as named, speakers recorded, an ambiguous 3-field file refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from tests.helpers.configs import tiny_config

from tacotron.cli import main as cli_main
from tacotron.data.prepare import prepare_dataset
from tacotron.data.sources import CorpusFormatError, detect_format, read_corpus

SENTENCES = [
    "The quick brown fox jumps.",
    "A small voice speaks softly.",
    "Three speakers read this corpus.",
    "Every line has a speaker column.",
    "Nothing here is a number.",
    "Short words make good tests.",
]
SPEAKERS = ["3", "7", "p225"]


@pytest.fixture
def three_voice_corpus(tmp_path):
    """wavs/s0..s5.wav: 1.2 s tones, one pitch per speaker (numpy only, no espeak-ng)."""
    root = tmp_path / "corpus"
    (root / "wavs").mkdir(parents=True)
    rate = 22050
    t = np.arange(int(1.2 * rate)) / rate
    for i in range(len(SENTENCES)):
        pitch = 120.0 * (1 + i % 3)
        wav = 0.3 * np.sin(2 * np.pi * pitch * t) * np.hanning(t.size)
        sf.write(root / "wavs" / f"s{i}.wav", wav.astype(np.float32), rate, subtype="PCM_16")
    return root


def _write(root, name, rows):
    path = root / name
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _manifest(out):
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def _speaker(i):
    return SPEAKERS[i % 3]


@pytest.mark.parametrize(
    ("fmt", "row", "name"),
    [
        ("path-text-speaker", "wavs/s{i}.wav|{text}|{spk}", "list.txt"),
        ("id-speaker-text", "s{i}|{spk}|{text}", "metadata.csv"),
    ],
)
def test_speaker_formats_record_speakers(three_voice_corpus, tmp_path, fmt, row, name):
    rows = [row.format(i=i, text=t, spk=_speaker(i)) for i, t in enumerate(SENTENCES)]
    listed = _write(three_voice_corpus, name, rows)
    out = tmp_path / "ds"
    filelist = listed if name != "metadata.csv" else None
    report = prepare_dataset(three_voice_corpus, out, tiny_config(), filelist=filelist, fmt=fmt)
    assert report.kept == len(SENTENCES), report.skipped
    entries = {e["id"]: e for e in _manifest(out)}
    assert {i: e["text"] for i, e in entries.items()} == {f"s{i}": t for i, t in enumerate(SENTENCES)}
    assert {i: e["speaker"] for i, e in entries.items()} == {f"s{i}": _speaker(i) for i in range(6)}
    assert json.loads((out / "speakers.json").read_text(encoding="utf-8")) == sorted(SPEAKERS)


def test_single_speaker_formats_have_no_speakers(three_voice_corpus, tmp_path):
    rows = [f"s{i}|{t}|{t}" for i, t in enumerate(SENTENCES)]
    _write(three_voice_corpus, "metadata.csv", rows)
    assert prepare_dataset(three_voice_corpus, tmp_path / "lj", tiny_config()).kept == 6
    plain = _write(three_voice_corpus, "plain.txt", [f"wavs/s{i}.wav|{t}" for i, t in enumerate(SENTENCES)])
    report = prepare_dataset(three_voice_corpus, tmp_path / "pt", tiny_config(), filelist=plain)
    assert report.kept == 6
    for out in (tmp_path / "lj", tmp_path / "pt"):
        assert all("speaker" not in e for e in _manifest(out))
        assert not (out / "speakers.json").exists()


def test_ambiguous_three_fields_are_refused_with_the_formats_that_fit(three_voice_corpus, tmp_path):
    rows = [f"wavs/s{i}.wav|{t}|{_speaker(i)}" for i, t in enumerate(SENTENCES)]
    listed = _write(three_voice_corpus, "mellotron.txt", rows)
    with pytest.raises(CorpusFormatError) as err:
        read_corpus(three_voice_corpus, listed)
    message = str(err.value)
    assert "\n" not in message and "pass --format" in message
    assert "path-text-speaker (path|text|speaker)" in message
    with pytest.raises(CorpusFormatError, match=r"id-speaker-text \(id\|speaker\|text\)"):
        detect_format([f"s{i}|{_speaker(i)}|{t}" for i, t in enumerate(SENTENCES)], is_filelist=False)
    # LJSpeech's own layout (both text columns sentences) and 2-field files stay automatic
    assert detect_format([f"s{i}|{t}|{t}" for i, t in enumerate(SENTENCES)], is_filelist=False) == "ljspeech"
    assert detect_format([f"wavs/s{i}.wav|{t}" for i, t in enumerate(SENTENCES)], True) == "path-text"
    assert detect_format([f"s{i}|{t}" for i, t in enumerate(SENTENCES)], False) == "ljspeech"


def test_a_speaker_column_never_becomes_the_text(three_voice_corpus, tmp_path, capsys):
    rows = [f"wavs/s{i}.wav|{t}|3" for i, t in enumerate(SENTENCES)]
    listed = _write(three_voice_corpus, "list.txt", rows)
    out = tmp_path / "ds"
    code = cli_main(["prepare", str(three_voice_corpus), "--out", str(out), "--filelist", str(listed)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "path-text-speaker" in err
    assert not (out / "manifest.jsonl").exists()
    # asked to read it as path|text, every line is malformed: none is kept with the text "3"
    report = prepare_dataset(three_voice_corpus, out, tiny_config(), filelist=listed, fmt="path-text")
    assert report.kept == 0 and {s["reason"] for s in report.skipped} == {"malformed_line"}
    assert "expected path|text" in report.skipped[0]["detail"]
    code = cli_main(
        ["prepare", str(three_voice_corpus), "--out", str(out), "--filelist", str(listed),
         "--format", "path-text-speaker", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    assert {e["text"] for e in _manifest(out)} == set(SENTENCES)
    assert {e["speaker"] for e in _manifest(out)} == {"3"}
