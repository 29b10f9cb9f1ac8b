"""`PreparedDataset`: the training-side reader of a folder written by `tacotron prepare`.

Torch, numpy and PyYAML only (this is on the GPU machine's import path). The folder's
config.yaml and symbols.json travel with it, so the trainer can check that the model is built
for the same audio features and symbol table the data was prepared with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from tacotron.config import Config
from tacotron.data.batch import Utterance

REQUIRED_FILES = ("manifest.jsonl", "config.yaml", "symbols.json")


class NotADatasetError(FileNotFoundError):
    """The folder is not (or not completely) a prepared dataset; the message says what is missing."""


class PreparedDataset(Dataset[Utterance]):
    """Items of one split ("train" or "val") of a prepared dataset folder.

    lengths: mel frames per item, in item order (for `BucketBatchSampler`).
    text_lengths: symbols per item (the manifest's ids, EOS included: what the collate pads), in item
    order (for the graph step's text buckets); both come from the manifest, no mel is read.
    items: the manifest entries of this split (dicts, see docs/ARCHITECTURE.md).
    symbols: the SymbolTable the ids were made with; config: the Config used for preparation.
    speakers: speaker names in id order (speakers.json); [] for a single-speaker dataset.
    """

    def __init__(self, dataset_dir: str | Path, split: Literal["train", "val"] = "train") -> None:
        from tacotron.text.symbols import SymbolTable

        self.root = Path(dataset_dir)
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        missing = [name for name in REQUIRED_FILES if not (self.root / name).is_file()]
        if missing:
            raise NotADatasetError(
                f"{self.root} is not a prepared dataset (missing {', '.join(missing)}); {self._hint()}"
            )
        self.split = split
        self.config = Config.load(self.root / "config.yaml")
        self.symbols = SymbolTable.from_dict(
            json.loads((self.root / "symbols.json").read_text(encoding="utf-8"))
        )
        self.speakers: list[str] = _read_speakers(self.root)
        self._speaker_ids = {name: i for i, name in enumerate(self.speakers)}
        self.items: list[dict[str, Any]] = [e for e in _read_manifest(self.root) if e["split"] == split]
        self.lengths: list[int] = [int(e["frames"]) for e in self.items]
        self.text_lengths: list[int] = [len(e["ids"]) for e in self.items]

    def _hint(self) -> str:
        """What to run: a raw corpus (metadata.csv) is prepared into a new folder, not into itself."""
        if (self.root / "metadata.csv").is_file():
            return (
                f"it looks like a raw corpus: prepare it first, `tacotron prepare {self.root} --out DATASET_DIR`, "
                "then train with --data DATASET_DIR"
            )
        if not self.root.exists():
            return "the folder does not exist; create a dataset with `tacotron prepare CORPUS_DIR --out DATASET_DIR`"
        return f"create one with `tacotron prepare CORPUS_DIR --out {self.root}`"

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Utterance:
        entry = self.items[index]
        path = self.root / entry["mel"]
        mel = np.load(path)
        expected = (self.config.audio.n_mels, int(entry["frames"]))
        if mel.shape != expected:
            raise ValueError(f"{path}: mel has shape {mel.shape}, manifest and config say {expected}")
        return Utterance(
            id=entry["id"],
            text_ids=torch.tensor(entry["ids"], dtype=torch.long),
            mel=torch.from_numpy(mel.astype(np.float32, copy=False)),
            speaker=self._speaker_id(entry),
        )

    def _speaker_id(self, entry: dict[str, Any]) -> int | None:
        """The entry's speaker as an id of `speakers`; None for a single-speaker dataset."""
        if not self.speakers:
            return None
        name = entry.get("speaker")
        if name not in self._speaker_ids:
            raise DamagedManifestError(
                f"{self.root}: item {entry['id']!r} has speaker {name!r}, not one of speakers.json "
                f"({', '.join(self.speakers)}); re-run `tacotron prepare` on the corpus"
            )
        return self._speaker_ids[name]

    def mean_mel(self, max_items: int = 256) -> torch.Tensor:
        """Per-band mean log-mel [n_mels] over the first `max_items` items (all frames of each).

        Deterministic (item order, no sampling) so every DDP rank computes the same value.
        """
        if len(self) == 0:
            raise ValueError(f"{self.root}: the {self.split} split is empty, no mean mel to compute")
        total = np.zeros(self.config.audio.n_mels, dtype=np.float64)
        frames = 0
        for index in range(min(max_items, len(self))):
            mel = self[index].mel.double().numpy()
            total += mel.sum(axis=1)
            frames += mel.shape[1]
        return torch.from_numpy(total / frames).float()

    def mel_basis(self) -> np.ndarray:
        """The filterbank [n_mels, n_fft // 2 + 1] the mels were made with (for MelSpectrogram / Griffin-Lim)."""
        return np.load(self.root / "mel_basis.npy")


class DamagedManifestError(ValueError):
    """manifest.jsonl does not parse (a truncated or edited file); the message names the line and the fix."""


def _read_speakers(root: Path) -> list[str]:
    """speakers.json: a JSON list of names (their index is the speaker id); [] when absent."""
    path = root / "speakers.json"
    if not path.is_file():
        return []
    names = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise DamagedManifestError(
            f"{path}: expected a JSON list of speaker names; re-run `tacotron prepare`"
        )
    return names


def _read_manifest(root: Path) -> list[dict[str, Any]]:
    entries = []
    path = root / "manifest.jsonl"
    fix = f"re-run `tacotron prepare CORPUS_DIR --out {root}` to rebuild it (unchanged items are reused)"
    for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        if not raw.strip():
            continue
        line = raw.decode("utf-8", "replace")
        try:
            entry = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DamagedManifestError(f"{path}:{number}: not valid JSON ({err}); {fix}") from err
        if not isinstance(entry, dict):
            raise DamagedManifestError(f"{path}:{number}: expected a JSON object, got {line[:60]!r}; {fix}")
        missing = [k for k in ("id", "ids", "mel", "frames", "split") if k not in entry]
        if missing:
            raise DamagedManifestError(f"{path}:{number}: manifest entry lacks {missing}; {fix}")
        entries.append(entry)
    return entries
