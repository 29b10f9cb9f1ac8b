"""prepare_dataset on a messy corpus: every bad item is reported, every good one kept, re-runs resume."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf
import soxr
from tests.helpers.configs import tiny_config

from tacotron.cli import main as cli_main
from tacotron.data.dataset import PreparedDataset
from tacotron.data.prepare import prepare_dataset, split_ids
from tacotron.data.sources import read_ljspeech

BAD = {
    "bad_corrupt": "corrupt_audio",
    "bad_empty": "empty_file",
    "bad_silent": "silent",
    "bad_missing": "missing_file",
    "bad_notext": "empty_text",
    "bad_chars": "unknown_characters",
}


@pytest.fixture
def messy_corpus(tiny_corpus, tmp_path):
    """6 good espeak-ng items (one rewritten at 16 kHz) plus one item per failure mode."""
    src = tmp_path / "messy"
    (src / "wavs").mkdir(parents=True)
    good = (tiny_corpus / "metadata.csv").read_text(encoding="utf-8").splitlines()[:6]
    for line in good:
        shutil.copy(tiny_corpus / "wavs" / f"{line.split('|')[0]}.wav", src / "wavs")
    rs_id = good[0].split("|")[0]
    wav, rate = sf.read(src / "wavs" / f"{rs_id}.wav", dtype="float32")
    sf.write(src / "wavs" / f"{rs_id}.wav", soxr.resample(wav, rate, 16000), 16000, subtype="PCM_16")
    sample = tiny_corpus / "wavs" / f"{good[1].split('|')[0]}.wav"
    (src / "wavs" / "bad_corrupt.wav").write_bytes(
        b"RIFF\x00\x01\x00\x00WAVEfmt garbage" + bytes(range(256)) * 8
    )
    (src / "wavs" / "bad_empty.wav").write_bytes(b"")
    sf.write(src / "wavs" / "bad_silent.wav", np.zeros(22050, dtype=np.float32), 22050, subtype="PCM_16")
    shutil.copy(sample, src / "wavs" / "bad_notext.wav")
    shutil.copy(sample, src / "wavs" / "bad_chars.wav")
    bad_lines = [
        "bad_corrupt|Some text here.|Some text here.",
        "bad_empty|Some text here.|Some text here.",
        "bad_silent|A silent file.|A silent file.",
        "bad_missing|This file is missing.|This file is missing.",
        "bad_notext||",
        "bad_chars|日本語 text ☃ here.|日本語 text ☃ here.",
    ]
    (src / "metadata.csv").write_text("\n".join(good + bad_lines) + "\n", encoding="utf-8")
    return src, [line.split("|")[0] for line in good], rs_id


def test_bad_items_are_reported_and_good_items_kept(messy_corpus, tmp_path):
    src, good_ids, rs_id = messy_corpus
    out = tmp_path / "ds"
    report = prepare_dataset(src, out, tiny_config())
    assert report.kept == 6 and report.processed == 12
    saved = json.loads((out / "report.json").read_text(encoding="utf-8"))
    reasons = {s["id"]: s["reason"] for s in saved["skipped"]}
    assert reasons == BAD
    assert all(s["detail"] for s in saved["skipped"])
    assert saved["unknown_characters"] == {"日": 1, "本": 1, "語": 1, "☃": 1}
    ids = {e["id"] for e in PreparedDataset(out, "train").items} | {
        e["id"] for e in PreparedDataset(out, "val").items
    }
    assert ids == set(good_ids)
    md = (out / "report.md").read_text(encoding="utf-8")
    for item_id, reason in BAD.items():
        assert item_id in md and reason in md
    # the 16 kHz item was resampled: about as many frames as its 22.05 kHz original
    entry = next(
        e for e in map(json.loads, (out / "manifest.jsonl").read_text().splitlines()) if e["id"] == rs_id
    )
    assert abs(entry["raw_seconds"] - sf.info(src / "wavs" / f"{rs_id}.wav").duration) < 0.01
    assert entry["frames"] == pytest.approx(entry["seconds"] * 22050 / 256, abs=2)


def test_rerun_recomputes_only_what_changed(messy_corpus, tmp_path):
    src, good_ids, _ = messy_corpus
    out = tmp_path / "ds"
    prepare_dataset(src, out, tiny_config())
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "mels").iterdir()}
    again = prepare_dataset(src, out, tiny_config())
    assert (again.processed, again.reused, again.kept) == (0, 12, 6)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "mels").iterdir()} == mtimes
    # replace one source wav: only that item is recomputed
    shutil.copy(src / "wavs" / f"{good_ids[2]}.wav", src / "wavs" / f"{good_ids[1]}.wav")
    changed = prepare_dataset(src, out, tiny_config())
    assert changed.processed == 1 and changed.kept == 6
    # an audio config change invalidates everything
    cfg = tiny_config()
    cfg.audio.n_mels = 40
    rebuilt = prepare_dataset(src, out, cfg)
    assert rebuilt.processed == 12
    assert PreparedDataset(out)[0].mel.shape[0] == 40


@pytest.mark.slow
def test_worker_processes_give_the_same_manifest(tiny_corpus, tmp_path):
    one = prepare_dataset(tiny_corpus, tmp_path / "one", tiny_config(), workers=1)
    two = prepare_dataset(tiny_corpus, tmp_path / "two", tiny_config(), workers=2)
    assert one.kept == two.kept == 12
    m1 = [json.loads(x) for x in (tmp_path / "one" / "manifest.jsonl").read_text().splitlines()]
    m2 = [json.loads(x) for x in (tmp_path / "two" / "manifest.jsonl").read_text().splitlines()]
    assert [(e["id"], e["ids"], e["frames"], e["split"]) for e in m1] == [
        (e["id"], e["ids"], e["frames"], e["split"]) for e in m2
    ]
    np.testing.assert_array_equal(
        np.load(tmp_path / "one" / m1[0]["mel"]), np.load(tmp_path / "two" / m2[0]["mel"])
    )


def test_filelist_and_malformed_lines(tiny_corpus, tmp_path):
    lines = (tiny_corpus / "metadata.csv").read_text(encoding="utf-8").splitlines()[:3]
    filelist = tmp_path / "list.txt"
    rows = [f"wavs/{ln.split('|')[0]}.wav|{ln.split('|')[2]}" for ln in lines] + ["no separator here"]
    filelist.write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = prepare_dataset(tiny_corpus, tmp_path / "ds", tiny_config(), filelist=filelist)
    assert report.kept == 3
    assert [s["reason"] for s in report.skipped] == ["malformed_line"]
    assert "line 4" in report.skipped[0]["detail"]


def test_thresholds_skip_too_short_long_and_implausible(tiny_corpus, tmp_path):
    cfg = tiny_config()
    cfg.data.max_seconds = 4.0
    cfg.data.max_chars_per_second = 14.0
    report = prepare_dataset(tiny_corpus, tmp_path / "ds", cfg)
    assert {"too_long", "implausible_text_ratio"} <= set(report.reasons)
    assert report.kept + len(report.skipped) == 12


def test_split_is_deterministic_and_capped():
    ids = [f"utt{i}" for i in range(100)]
    val = split_ids(ids, 0.1, 100)
    assert len(val) == 10 and split_ids(list(reversed(ids)), 0.1, 100) == val
    assert len(split_ids(ids, 0.5, 7)) == 7
    assert len(split_ids(ids[:2], 0.01, 100)) == 1  # at least one val item
    assert split_ids(ids[:1], 0.5, 100) == set()


def test_missing_metadata_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="metadata.csv"):
        read_ljspeech(tmp_path)


def test_cli_prepare_exits_zero_with_bad_items(messy_corpus, tmp_path, capsys):
    src, _, _ = messy_corpus
    code = cli_main(["prepare", str(src), "--out", str(tmp_path / "ds"), "--no-progress", "--workers", "1"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "kept 6 items" in printed and "corrupt_audio" in printed and "report.md" in printed


def test_trimming_shortens_and_can_be_turned_off(tiny_corpus, tmp_path):
    line = (tiny_corpus / "metadata.csv").read_text(encoding="utf-8").splitlines()[0]
    filelist = tmp_path / "one.txt"
    filelist.write_text(f"wavs/{line.split('|')[0]}.wav|{line.split('|')[2]}\n", encoding="utf-8")
    entries = {}
    for trim_db in (40.0, 0.0):
        cfg = tiny_config()
        cfg.data.trim_db = trim_db
        out = tmp_path / f"trim{trim_db:g}"
        prepare_dataset(tiny_corpus, out, cfg, filelist=filelist)
        entries[trim_db] = json.loads((out / "manifest.jsonl").read_text(encoding="utf-8"))
    assert entries[40.0]["seconds"] < entries[40.0]["raw_seconds"] - 0.05  # espeak-ng pads with silence
    assert entries[0.0]["seconds"] == entries[0.0]["raw_seconds"]
