"""Teacher-forced ("ground-truth aligned", GTA) mels: the acoustic model's postnet output when fed the real
mels, frame for frame aligned with the real audio.

Why: a vocoder fine-tuned on (predicted mel, real audio) pairs learns to undo the acoustic model's own
blur and bias, which (real mel, real audio) training never shows it (Shen et al. 2018, section 3.3).
The model runs in eval mode; prenet dropout follows the checkpoint's inference setting (on by default,
as at synthesis time), seeded per batch so a dump is reproducible.

Output folder:
  manifest.jsonl   one JSON per item: {"id", "mel": "mels/<id>.npy", "frames", "split"}; frames equal the
                   dataset's (its manifest "frames"), so mel frame t matches audio samples [t*hop, (t+1)*hop)
  mels/<id>.npy    float32 [n_mels, frames]
  dump.json        {"checkpoint", "step", "dataset", "seed", "prenet_dropout"}
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tacotron.data.collate import TextMelCollate
from tacotron.data.dataset import PreparedDataset
from tacotron.infer.synthesizer import CheckpointMismatchError, Synthesizer
from tacotron.model.tacotron2 import teacher_forced

logger = logging.getLogger(__name__)

SPLITS = ("train", "val")
AUDIO_FIELDS = ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels", "fmin", "fmax", "log_clamp")


@dataclass
class DumpReport:
    out_dir: Path
    items: int
    frames: int


def dump_mels(
    checkpoint: str | Path,
    dataset_dir: str | Path,
    out_dir: str | Path,
    *,
    batch_size: int = 8,
    device: str = "cpu",
    seed: int = 0,
) -> DumpReport:
    """Write the teacher-forced mel of every item (both splits) of `dataset_dir` to `out_dir`."""
    synth = Synthesizer.from_checkpoint(checkpoint, device=device, vocoder="griffin-lim", fast=False)
    out = Path(out_dir)
    (out / "mels").mkdir(parents=True, exist_ok=True)
    entries: list[dict] = []
    batch_index = 0
    for split in SPLITS:
        data = PreparedDataset(dataset_dir, split)
        check_dataset_fits(synth, data)
        order = sorted(range(len(data)), key=lambda i: data.lengths[i])  # little padding per batch
        for start in range(0, len(order), batch_size):
            chunk = [data[i] for i in order[start : start + batch_size]]
            mels = teacher_forced_mels(synth, chunk, seed=seed + batch_index)
            batch_index += 1
            for item_id, mel in mels.items():
                rel = f"mels/{item_id}.npy"
                _save_npy(out / rel, mel)
                entries.append({"id": item_id, "mel": rel, "frames": int(mel.shape[1]), "split": split})
    _write_text(out / "manifest.jsonl", "".join(json.dumps(e) + "\n" for e in entries))
    info = {
        "checkpoint": str(synth.checkpoint),
        "step": synth.step,
        "dataset": str(Path(dataset_dir).resolve()),
        "seed": seed,
        "prenet_dropout": bool(synth.model.prenet_dropout_at_inference),
    }
    _write_text(out / "dump.json", json.dumps(info, indent=2) + "\n")
    frames = sum(e["frames"] for e in entries)
    logger.info("wrote %d teacher-forced mels (%d frames) to %s", len(entries), frames, out)
    return DumpReport(out, len(entries), frames)


def check_dataset_fits(synth: Synthesizer, data: PreparedDataset) -> None:
    """The model must read the dataset's symbols, speakers and mel features, else its output is noise."""
    wrong = [
        f"audio.{name} {getattr(data.config.audio, name)} (checkpoint: {getattr(synth.cfg.audio, name)})"
        for name in AUDIO_FIELDS
        if getattr(data.config.audio, name) != getattr(synth.cfg.audio, name)
    ]
    if data.symbols != synth.frontend.symbols:
        wrong.append("the symbol table")
    if data.speakers and data.speakers != synth.speakers:
        wrong.append(f"speakers {data.speakers} (checkpoint: {synth.speakers})")
    if wrong:
        raise CheckpointMismatchError(
            f"{synth.checkpoint} does not fit dataset {data.root}: {'; '.join(wrong)}"
        )


@torch.no_grad()
def teacher_forced_mels(synth: Synthesizer, items: list, *, seed: int) -> dict[str, np.ndarray]:
    """id -> postnet mel [n_mels, frames] (float32, padding cut) for a list of `Utterance`s."""
    batch = TextMelCollate(synth.r)(items).to(synth.device)
    torch.manual_seed(seed)
    out = teacher_forced(synth.model, batch)
    lengths = batch.mel_lengths.tolist()
    post = out.mel_postnet.float().cpu().numpy()
    return {item_id: post[i, :, : lengths[i]].copy() for i, item_id in enumerate(batch.ids)}


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, array.astype(np.float32))
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
