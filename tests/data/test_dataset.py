"""PreparedDataset: shapes, splits, stored config/symbols, clear errors, and a light import path."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from tacotron.data.batch import Utterance
from tacotron.data.dataset import NotADatasetError, PreparedDataset
from tacotron.text import TextFrontend


def test_items_have_ids_mels_and_lengths(tiny_dataset):
    train, val = PreparedDataset(tiny_dataset, "train"), PreparedDataset(tiny_dataset, "val")
    assert len(train) + len(val) == 12 and len(val) == 3  # val_fraction 0.25
    assert {e["id"] for e in train.items}.isdisjoint(e["id"] for e in val.items)
    for i in range(len(train)):
        utt = train[i]
        assert isinstance(utt, Utterance)
        assert utt.mel.dtype == torch.float32 and utt.mel.shape == (80, train.lengths[i])
        assert utt.text_ids.numel() == train.text_lengths[i]  # what the collate pads, from the manifest
        assert utt.text_ids.dtype == torch.long and int(utt.text_ids[-1]) == train.symbols.eos_id
        assert torch.isfinite(utt.mel).all() and utt.mel.min() >= np.log(1e-5) - 1e-4
    assert train.symbols == TextFrontend(train.config.text).symbols
    assert train.config.audio.n_mels == 80
    assert train.mel_basis().shape == (80, 513)


def test_folder_layout_matches_the_contract(tiny_dataset):
    for name in (
        "manifest.jsonl",
        "config.yaml",
        "symbols.json",
        "mel_basis.npy",
        "report.json",
        "report.md",
    ):
        assert (tiny_dataset / name).is_file(), name
    entry = json.loads((tiny_dataset / "manifest.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert {"id", "text", "cleaned", "ids", "mel", "frames", "seconds", "split"} <= set(entry)
    assert np.load(tiny_dataset / entry["mel"]).shape == (80, entry["frames"])


def test_not_a_dataset_gives_a_clear_error(tmp_path, tiny_dataset):
    with pytest.raises(NotADatasetError, match="not a prepared dataset.*manifest.jsonl"):
        PreparedDataset(tmp_path)
    with pytest.raises(ValueError, match="split"):
        PreparedDataset(tiny_dataset, "test")


def test_mel_shape_mismatch_names_the_file(tmp_path, tiny_dataset):
    import shutil

    copy = tmp_path / "ds"
    shutil.copytree(tiny_dataset, copy)
    ds = PreparedDataset(copy)
    np.save(copy / ds.items[0]["mel"], np.zeros((80, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=ds.items[0]["id"]):
        ds[0]


def test_reads_without_librosa_soundfile_or_num2words(tiny_dataset):
    """The GPU machine has no librosa/soundfile/soxr/num2words: reading a dataset must not need them."""
    code = (
        "import sys\n"
        "for m in ('librosa', 'soundfile', 'soxr', 'num2words'): sys.modules[m] = None\n"
        "from tacotron.data.dataset import PreparedDataset\n"
        f"ds = PreparedDataset({str(tiny_dataset)!r})\n"
        "print(ds[0].mel.shape[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "80"


def test_mean_mel_is_the_frame_mean_of_the_first_items(tiny_dataset):
    train = PreparedDataset(tiny_dataset, "train")
    frames = np.concatenate([train[i].mel.numpy() for i in range(3)], axis=1)
    mean = train.mean_mel(max_items=3)
    assert mean.shape == (80,) and mean.dtype == torch.float32
    np.testing.assert_allclose(mean.numpy(), frames.mean(axis=1), rtol=1e-5, atol=1e-5)
    # all frames of every item weigh the same, so more items move the mean
    assert not torch.allclose(train.mean_mel(max_items=len(train)), mean)


@pytest.mark.parametrize("damage", ["truncated", "not_an_object"])
def test_a_damaged_manifest_names_the_line_and_the_fix(tmp_path, tiny_dataset, damage):
    import shutil

    copy = tmp_path / "ds"
    shutil.copytree(tiny_dataset, copy)
    lines = (copy / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    lines[-1] = lines[-1][: len(lines[-1]) // 2] if damage == "truncated" else "5"
    (copy / "manifest.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"manifest.jsonl:{len(lines)}: .*tacotron prepare"):
        PreparedDataset(copy)
