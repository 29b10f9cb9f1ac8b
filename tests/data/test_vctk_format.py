"""VCTK-like folders: transcripts and audio paired per speaker, unpaired halves reported, speakers recorded."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from tests.helpers.configs import tiny_config

from tacotron.cli import main as cli_main
from tacotron.data.dataset import PreparedDataset
from tacotron.data.prepare import prepare_dataset
from tacotron.data.sources import CorpusFormatError, read_corpus

TEXTS = {
    "p225_001": "Please call Stella.",
    "p225_002": "Ask her to bring these things.",
    "p226_001": "Six spoons of fresh snow peas.",
    "p226_002": "Five thick slabs of blue cheese.",  # no audio
    "p227_001": "A snack for her brother Bob.",
}
NO_TRANSCRIPT = "p227_003"


def _tone(path, rate, pitch, seconds=1.2):
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * pitch * t) * np.hanning(t.size)).astype(np.float32), rate)


def _vctk_tree(root, layout="0.92"):
    """3 speakers; p226_002 has no audio, p227_003 no transcript; 0.92 also has (ignored) mic2 files."""
    for item_id, text in TEXTS.items():
        speaker = item_id.split("_")[0]
        (root / "txt" / speaker).mkdir(parents=True, exist_ok=True)
        (root / "txt" / speaker / f"{item_id}.txt").write_text(text + "\n", encoding="utf-8")
    audio_ids = [i for i in TEXTS if i != "p226_002"] + [NO_TRANSCRIPT]
    for i, item_id in enumerate(audio_ids):
        speaker = item_id.split("_")[0]
        folder = root / ("wav48_silence_trimmed" if layout == "0.92" else "wav48") / speaker
        folder.mkdir(parents=True, exist_ok=True)
        if layout == "0.92":
            _tone(folder / f"{item_id}_mic1.flac", 48000, 110.0 * (1 + i % 3))
            if item_id == "p225_001":  # mic2 only: invisible to mic1, an orphan for mic2
                _tone(folder / "p225_009_mic2.flac", 48000, 200.0, 0.5)
        else:
            _tone(folder / f"{item_id}.wav", 48000, 110.0 * (1 + i % 3))
    return root


def _manifest(out):
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]


def test_vctk_092_prepares_flac_per_speaker_and_reports_unpaired_files(tmp_path):
    root = _vctk_tree(tmp_path / "VCTK-Corpus-0.92")
    out = tmp_path / "ds"
    report = prepare_dataset(root, out, tiny_config(), fmt="auto")  # autodetected: no metadata.csv
    entries = {e["id"]: e for e in _manifest(out)}
    assert set(entries) == set(TEXTS) - {"p226_002"}
    assert {i: e["text"] for i, e in entries.items()} == {i: TEXTS[i] for i in entries}
    assert {i: e["speaker"] for i, e in entries.items()} == {i: i.split("_")[0] for i in entries}
    assert json.loads((out / "speakers.json").read_text()) == ["p225", "p226", "p227"]
    assert entries["p225_001"]["source"].endswith("wav48_silence_trimmed/p225/p225_001_mic1.flac")
    # 48 kHz flac resampled to the config's rate: frames match the trimmed duration at 22,050 Hz
    cfg = tiny_config()
    e = entries["p225_001"]
    assert e["frames"] == pytest.approx(e["seconds"] * cfg.audio.sample_rate / cfg.audio.hop_length, abs=2)
    skipped = {s["id"]: s for s in report.skipped}
    assert set(skipped) == {"p226_002", NO_TRANSCRIPT}
    assert skipped["p226_002"]["reason"] == "missing_file"
    assert "no audio for transcript" in skipped["p226_002"]["detail"]
    assert skipped["p226_002"]["detail"].endswith("p226/p226_002_mic1.flac")
    assert skipped[NO_TRANSCRIPT]["reason"] == "missing_transcript"
    assert "txt/p227/p227_003.txt" in skipped[NO_TRANSCRIPT]["detail"]
    assert "missing_transcript" in (out / "report.md").read_text(encoding="utf-8")
    # what training reads: every kept item with its speaker's id in the table
    data = [PreparedDataset(out, split) for split in ("train", "val")]
    assert data[0].speakers == ["p225", "p226", "p227"]
    by_id = {u.id: u.speaker for d in data for u in (d[i] for i in range(len(d)))}
    assert by_id == {i: ["p225", "p226", "p227"].index(i.split("_")[0]) for i in entries}


def test_vctk_mic2_and_080_layouts(tmp_path):
    root = _vctk_tree(tmp_path / "v092")
    items = read_corpus(root, fmt="vctk-mic2")
    ok = [i for i in items if not i.error]
    assert ok == []  # only p225_009 has a mic2 recording, and it has no transcript
    assert {i.id: i.error for i in items}["p225_009"] == "missing_transcript"
    old = _vctk_tree(tmp_path / "v080", layout="0.80")
    items = {i.id: i for i in read_corpus(old, fmt="vctk")}
    assert items["p227_001"].path == old / "wav48" / "p227" / "p227_001.wav"
    assert items["p227_001"].speaker == "p227" and items["p227_001"].text == TEXTS["p227_001"]
    assert items["p226_002"].error == "missing_file" and items[NO_TRANSCRIPT].error == "missing_transcript"


def test_vctk_refuses_ambiguity_and_reports_unsafe_ids(tmp_path, capsys):
    root = _vctk_tree(tmp_path / "vctk")
    (root / "txt" / "p225" / "p 225_004.txt").write_text("An unsafe id.", encoding="utf-8")
    (root / "txt" / "p225" / "p225_005.txt").write_bytes(b"caf\xe9 latin-1")
    _tone(root / "wav48_silence_trimmed" / "p225" / "p225_005_mic1.flac", 48000, 150.0, 0.3)
    items = {i.id: i for i in read_corpus(root, fmt="vctk")}
    assert items["txt/p225/p 225_004.txt"].error == "unsafe_id"
    assert items["p225_005"].error == "undecodable_line"  # one item, not the corpus
    (root / "metadata.csv").write_text("a|b|c\n", encoding="utf-8")
    with pytest.raises(
        CorpusFormatError, match=r"metadata.csv and a VCTK layout.*vctk \(txt/.*pass --format"
    ):
        read_corpus(root)
    code = cli_main(["prepare", str(root), "--out", str(tmp_path / "ds")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "pass --format" in err
    (root / "wav48").mkdir()
    with pytest.raises(CorpusFormatError, match="both wav48_silence_trimmed/ .* and wav48/"):
        read_corpus(root, fmt="vctk")
    with pytest.raises(CorpusFormatError, match="drop --filelist"):
        read_corpus(root, root / "metadata.csv", fmt="vctk")
