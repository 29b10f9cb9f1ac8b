"""(mel, audio) pairs for HiFi-GAN training: a prepared dataset's items with their real audio.

The audio is the item's source file, loaded and trimmed exactly as `prepare` did (same sample rate and
`data.trim_db`), so its frame count must equal the manifest's; a mismatch (the corpus changed since
`prepare`) is an error naming the item. Mels are the dataset's own, or teacher-forced ones from
`tacotron dump-mels` (`mels_dir`), which have the same frames. Waveforms are cached in memory after
their first load (trimming costs more than a training step on small corpora).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from tacotron.data.dataset import PreparedDataset


class VocoderDataError(ValueError):
    """An item's audio or mel does not fit the dataset (missing file, other frame count)."""


class VocoderData:
    """Items of one split: `mel(i)` [n_mels, frames], `audio(i)` [frames * hop] float32, `segment(...)`."""

    def __init__(self, dataset_dir: str | Path, split: str = "train", mels_dir: str | Path | None = None):
        self.dataset = PreparedDataset(dataset_dir, split)  # type: ignore[arg-type]
        self.audio_cfg = self.dataset.config.audio
        self.trim_db = self.dataset.config.data.trim_db
        self.items = self.dataset.items
        self.mels_dir = Path(mels_dir) if mels_dir is not None else None
        self._dumped = _read_dump_manifest(self.mels_dir) if self.mels_dir is not None else {}
        self._audio: dict[int, np.ndarray] = {}
        if self.mels_dir is not None:
            missing = [e["id"] for e in self.items if e["id"] not in self._dumped]
            if missing:
                raise VocoderDataError(
                    f"{self.mels_dir}: no dumped mel for {len(missing)} items of {split} (e.g. {missing[:3]}); "
                    "run `tacotron dump-mels` on this dataset"
                )

    def __len__(self) -> int:
        return len(self.items)

    def mel(self, index: int) -> np.ndarray:
        entry = self.items[index]
        if self.mels_dir is None:
            return self.dataset[index].mel.numpy()
        dumped = self._dumped[entry["id"]]
        mel = np.load(self.mels_dir / dumped["mel"]).astype(np.float32, copy=False)
        if mel.shape != (self.audio_cfg.n_mels, int(entry["frames"])):
            raise VocoderDataError(
                f"{self.mels_dir / dumped['mel']}: shape {mel.shape}, the dataset's mel of {entry['id']!r} "
                f"has {(self.audio_cfg.n_mels, int(entry['frames']))}"
            )
        return mel

    def audio(self, index: int) -> np.ndarray:
        """The item's waveform as `prepare` featurised it, cut to frames * hop samples."""
        if index not in self._audio:
            self._audio[index] = self._load_audio(self.items[index])
        return self._audio[index]

    def _load_audio(self, entry: dict) -> np.ndarray:
        from tacotron.audio.io import load_wav

        a = self.audio_cfg
        source = entry.get("source")
        if not source or not Path(source).is_file():
            raise VocoderDataError(f"item {entry['id']!r}: source audio {source!r} not found")
        wav = load_wav(source, a.sample_rate)
        if self.trim_db > 0:
            import librosa

            wav, _ = librosa.effects.trim(
                wav, top_db=self.trim_db, frame_length=a.n_fft, hop_length=a.hop_length
            )
        frames = int(entry["frames"])
        if len(wav) // a.hop_length != frames:
            raise VocoderDataError(
                f"item {entry['id']!r}: {source} gives {len(wav) // a.hop_length} frames, the dataset has "
                f"{frames}; the corpus changed since `prepare`, re-run it"
            )
        return np.ascontiguousarray(wav[: frames * a.hop_length], dtype=np.float32)

    def segment(self, index: int, frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A random hop-aligned window of `frames` frames: (mel [n_mels, frames], audio [frames * hop]).

        Shorter items are padded: the mel with silence (log of the clamp), the audio with zeros.
        """
        mel, wav = self.mel(index), self.audio(index)
        hop = self.audio_cfg.hop_length
        have = mel.shape[1]
        if have >= frames:
            start = int(rng.integers(0, have - frames + 1))
            return mel[:, start : start + frames], wav[start * hop : (start + frames) * hop]
        silence = np.log(self.audio_cfg.log_clamp)
        mel = np.pad(mel, ((0, 0), (0, frames - have)), constant_values=silence)
        return mel, np.pad(wav, (0, (frames - have) * hop))

    def batch(
        self, indices: list[int], frames: int, rng: np.random.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mels [B, n_mels, frames], audio [B, 1, frames * hop]) of random segments of `indices`."""
        pairs = [self.segment(i, frames, rng) for i in indices]
        mels = torch.from_numpy(np.stack([m for m, _ in pairs]))
        wavs = torch.from_numpy(np.stack([w for _, w in pairs])).unsqueeze(1)
        return mels, wavs


def _read_dump_manifest(mels_dir: Path) -> dict[str, dict]:
    path = mels_dir / "manifest.jsonl"
    if not path.is_file():
        raise VocoderDataError(f"{mels_dir} has no manifest.jsonl; write one with `tacotron dump-mels`")
    lines = path.read_text(encoding="utf-8").splitlines()
    return {e["id"]: e for e in (json.loads(line) for line in lines if line.strip())}
