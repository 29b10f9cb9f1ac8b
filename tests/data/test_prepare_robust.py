"""prepare_dataset against hostile or damaged input: nothing written outside the dataset folder,
no single line or item aborts the run, outputs replaced atomically, features never reused across
settings, and a run that keeps nothing fails loudly.
"""

from __future__ import annotations

import builtins
import errno
import io
import json
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.configs import tiny_config

from tacotron.cli import main as cli_main
from tacotron.config import Config
from tacotron.data import prepare as prepare_module
from tacotron.data.dataset import PreparedDataset
from tacotron.data.prepare import prepare_dataset
from tacotron.data.prepare_item import ItemProcessor
from tacotron.data.sources import SourceItem


def small_corpus(tiny_corpus: Path, dest: Path, extra: list[str] = (), n: int = 3) -> tuple[Path, list[str]]:
    """`n` good espeak-ng items of `tiny_corpus` plus `extra` metadata lines (str, or bytes for raw lines)."""
    (dest / "wavs").mkdir(parents=True)
    good = (tiny_corpus / "metadata.csv").read_text(encoding="utf-8").splitlines()[:n]
    for line in good:
        shutil.copy(tiny_corpus / "wavs" / f"{line.split('|')[0]}.wav", dest / "wavs")
    lines = [ln.encode("utf-8") if isinstance(ln, str) else ln for ln in [*good, *extra]]
    (dest / "metadata.csv").write_bytes(b"\n".join(lines) + b"\n")
    return dest, [line.split("|")[0] for line in good]


def kept_ids(out: Path) -> set[str]:
    return {json.loads(x)["id"] for x in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()}


def a_wav(tiny_corpus: Path) -> Path:
    return next((tiny_corpus / "wavs").glob("*.wav"))


@pytest.mark.parametrize(
    "item_id",
    ["", "../x", "../../x", "/tmp/x", "a/b", "a\\b", "..", ".hidden", "C:x", "a b", "x\x00", "é" * 150],
)
def test_unsafe_ids_are_recognised(item_id):
    from tacotron.data.sources import unsafe_id_reason

    assert unsafe_id_reason(item_id)


@pytest.mark.parametrize("item_id", ["LJ001-0001", "utt_1.take2", "спикер_01", "0"])
def test_safe_ids_pass(item_id):
    from tacotron.data.sources import unsafe_id_reason

    assert unsafe_id_reason(item_id) == ""


def test_unsafe_ids_are_reported_and_never_used_as_paths(tiny_corpus, tmp_path):
    # audio placed where each unsafe id would lead, so only the id check keeps them out
    src = tmp_path / "src"
    (tmp_path / "outside").mkdir()
    shutil.copy(a_wav(tiny_corpus), tmp_path / "escape.wav")  # src/wavs/../../escape.wav
    shutil.copy(a_wav(tiny_corpus), tmp_path / "outside" / "abs.wav")
    extra = [
        "../../escape|Some text here.|Some text here.",
        f"{tmp_path / 'outside' / 'abs'}|Some text here.|Some text here.",
        "sub/dir|Some text here.|Some text here.",
    ]
    src, good = small_corpus(tiny_corpus, src, extra)
    (src / "wavs" / "sub").mkdir()
    shutil.copy(a_wav(tiny_corpus), src / "wavs" / "sub" / "dir.wav")
    out = tmp_path / "ds"
    report = prepare_dataset(src, out, tiny_config())
    assert kept_ids(out) == set(good)
    assert report.reasons == {"unsafe_id": 3}
    assert all("not a safe file name" in s["detail"] and "line" in s["detail"] for s in report.skipped)
    written = {p for p in tmp_path.rglob("*.npy")}
    assert written and all(p.parent in (out / "mels", out) for p in written)


def test_stale_mel_cleanup_stays_inside_the_dataset_folder(tiny_corpus, tmp_path):
    src, _ = small_corpus(tiny_corpus, tmp_path / "src")
    out = tmp_path / "ds"
    prepare_dataset(src, out, tiny_config())
    victim = tmp_path / "victim.npy"
    np.save(victim, np.zeros(3))
    hostile = {"id": "ghost", "source": "x.wav", "mel": "mels/../../victim.npy", "split": "train"}
    with (out / "manifest.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(hostile) + "\n")
    prepare_dataset(src, out, tiny_config())
    assert victim.is_file()


def test_a_non_utf8_line_is_one_bad_item(tiny_corpus, tmp_path):
    src, good = small_corpus(tiny_corpus, tmp_path / "src", [b"bad_latin1|caf\xe9 au lait|caf\xe9 au lait"])
    report = prepare_dataset(src, tmp_path / "ds", tiny_config())
    assert kept_ids(tmp_path / "ds") == set(good)
    [skipped] = report.skipped
    assert skipped["reason"] == "undecodable_line"
    assert "line 4" in skipped["detail"] and "UnicodeDecodeError" in skipped["detail"]


def test_a_text_frontend_exception_is_the_items_reason(tiny_corpus, tmp_path):
    src, good = small_corpus(tiny_corpus, tmp_path / "src", [f"huge_number|It costs {'9' * 1000} dollars.|"])
    shutil.copy(a_wav(tiny_corpus), src / "wavs" / "huge_number.wav")
    report = prepare_dataset(src, tmp_path / "ds", tiny_config())
    assert kept_ids(tmp_path / "ds") == set(good)
    [skipped] = report.skipped
    assert skipped["id"] == "huge_number" and skipped["reason"] == "text_frontend_error"
    assert re.match(r"[A-Za-z]\w*: \S", skipped["detail"])  # exception type and message


def test_a_russian_number_bomb_is_a_text_frontend_error(tmp_path):
    """Long digit runs are read digit by digit; beyond the expansion budget the frontend refuses the item."""
    cfg = Config()
    cfg.text.language = "ru"
    processor = ItemProcessor(cfg, np.zeros((80, 513), dtype=np.float32), tmp_path)
    result = processor(SourceItem("ru", tmp_path / "ru.wav", "это " + "1" * 1000 + " рублей", 1))
    assert result.entry is None and result.reason == "text_frontend_error"
    assert re.match(r"[A-Za-z]\w*: ", result.detail)


def test_an_unexpected_item_failure_is_reported_and_retried(tiny_corpus, tmp_path, monkeypatch):
    src, good = small_corpus(tiny_corpus, tmp_path / "src")
    real = ItemProcessor._featurise

    def flaky(self, item, *args):
        if item.id == good[1]:
            raise RuntimeError("simulated failure")
        return real(self, item, *args)

    monkeypatch.setattr(ItemProcessor, "_featurise", flaky)
    out = tmp_path / "ds"
    report = prepare_dataset(src, out, tiny_config())
    assert kept_ids(out) == {good[0], good[2]}
    [skipped] = report.skipped
    assert skipped["reason"] == "unexpected_error" and "RuntimeError: simulated failure" in skipped["detail"]
    monkeypatch.setattr(ItemProcessor, "_featurise", real)
    again = prepare_dataset(src, out, tiny_config())  # an exception is not a cached verdict
    assert again.kept == 3 and again.processed == 1 and again.recomputed == {"earlier_error": 1}


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_manifest_is_rebuilt_with_a_warning(tiny_corpus, tmp_path, caplog, damage):
    src, good = small_corpus(tiny_corpus, tmp_path / "src")
    out = tmp_path / "ds"
    prepare_dataset(src, out, tiny_config())
    text = (out / "manifest.jsonl").read_text(encoding="utf-8")
    damaged = text[: len(text) - 40] if damage == "truncate" else text + "{not json\n"
    (out / "manifest.jsonl").write_text(damaged, encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tacotron.data.prepare"):
        report = prepare_dataset(src, out, tiny_config())
    assert "damaged" in caplog.text and "manifest.jsonl" in caplog.text
    assert report.kept == 3 and report.reused == (3 if damage == "garbage" else 2)
    assert len(PreparedDataset(out, "train")) + len(PreparedDataset(out, "val")) == 3
    assert kept_ids(out) == set(good)


class _DiskFullAfterHalf:
    """A file whose first write stores half of the data, then fails as a full disk does."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        self._f.write(data[: len(data) // 2])
        self._f.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


def test_a_full_disk_while_writing_the_manifest_keeps_the_earlier_one(tiny_corpus, tmp_path, monkeypatch):
    src, good = small_corpus(tiny_corpus, tmp_path / "src")
    out = tmp_path / "ds"
    prepare_dataset(src, out, tiny_config())
    before = (out / "manifest.jsonl").read_bytes()
    real_open = io.open

    def full_disk_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return _DiskFullAfterHalf(f) if "manifest.jsonl" in str(file) and "w" in mode else f

    monkeypatch.setattr(io, "open", full_disk_open)
    monkeypatch.setattr(builtins, "open", full_disk_open)
    with pytest.raises(OSError, match="No space"):
        prepare_dataset(src, out, tiny_config())
    monkeypatch.undo()
    assert (out / "manifest.jsonl").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert prepare_dataset(src, out, tiny_config()).reused == 3


def _mels_by_id(out: Path) -> dict[str, np.ndarray]:
    entries = [json.loads(x) for x in (out / "manifest.jsonl").read_text(encoding="utf-8").splitlines()]
    return {e["id"]: np.load(out / e["mel"]) for e in entries}


def test_an_interrupted_run_with_other_settings_never_leaves_its_features(tiny_corpus, tmp_path, monkeypatch):
    src, _ = small_corpus(tiny_corpus, tmp_path / "src")
    out = tmp_path / "ds"
    prepare_dataset(src, out, tiny_config())
    low = tiny_config()
    low.audio.fmax = 4000.0

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # the mels are written, the manifest is not

    monkeypatch.setattr(prepare_module, "_write_outputs", killed)
    with pytest.raises(KeyboardInterrupt):
        prepare_dataset(src, out, low)
    monkeypatch.undo()
    again = prepare_dataset(src, out, tiny_config())
    assert again.reused == 3 and len(list((out / "mels").iterdir())) == 3  # the fmax=4000 files are gone
    fresh = tmp_path / "fresh"
    prepare_dataset(src, fresh, tiny_config())
    expected, got = _mels_by_id(fresh), _mels_by_id(out)
    assert got.keys() == expected.keys()
    for item_id, mel in expected.items():
        np.testing.assert_array_equal(got[item_id], mel)


def test_a_settings_change_recomputes_and_says_so(tiny_corpus, tmp_path, capsys):
    src, _ = small_corpus(tiny_corpus, tmp_path / "src")
    out = tmp_path / "ds"
    args = ["prepare", str(src), "--out", str(out), "--no-progress", "--workers", "1"]
    assert cli_main([*args, "--set", "audio.fmax=4000"]) == 0
    low = _mels_by_id(out)
    capsys.readouterr()
    assert cli_main(args) == 0
    assert "recomputed 3 items of an earlier run: 3 settings_changed" in capsys.readouterr().out
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["recomputed"] == {"settings_changed": 3} and report["processed"] == 3
    default = _mels_by_id(out)
    assert all(not np.array_equal(low[i], default[i]) for i in default)
    assert len(list((out / "mels").iterdir())) == 3  # the fmax=4000 mels were removed


def test_cli_prepare_that_keeps_nothing_fails_with_the_reasons(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "metadata.csv").write_text("a|Some text.|\nb|More text.|\n../c|Text.|\n", encoding="utf-8")
    code = cli_main(["prepare", str(src), "--out", str(tmp_path / "ds"), "--no-progress", "--workers", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and 1 <= len(err) <= 2
    assert "no items kept" in err[0] and "2 x missing_file" in err[0] and "1 x unsafe_id" in err[0]


def test_cli_prepare_on_a_missing_folder_is_a_one_line_error(tmp_path, capsys):
    code = cli_main(["prepare", str(tmp_path / "nope"), "--out", str(tmp_path / "ds"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "metadata.csv" in err[0]
