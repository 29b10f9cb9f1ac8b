"""`tacotron dump-mels`: teacher-forced mels, frame for frame the dataset's, equal to the model's forward."""

from __future__ import annotations

import json

import numpy as np
import torch
from tests.helpers.checkpoints import write_tiny_checkpoint

from tacotron.cli import main
from tacotron.data.collate import TextMelCollate
from tacotron.data.dataset import PreparedDataset
from tacotron.infer.synthesizer import Synthesizer


def test_dumped_mels_match_dataset_frames_and_the_models_forward(tiny_dataset, tmp_path):
    # r=2 pads batches to even frame counts; prenet dropout off so one forward per item is comparable
    ckpt = write_tiny_checkpoint(tmp_path / "r2.pt", n_frames_per_step=2, prenet_dropout_at_inference=False)
    out = tmp_path / "gta"
    code = main(["dump-mels", "--checkpoint", str(ckpt), "--data", str(tiny_dataset), "--out", str(out),
                 "--batch-size", "3"])  # fmt: skip
    assert code == 0
    entries = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    model = Synthesizer.from_checkpoint(ckpt).model
    seen = set()
    for split in ("train", "val"):
        data = PreparedDataset(tiny_dataset, split)
        for i, item in enumerate(data.items):
            (entry,) = [e for e in entries if e["id"] == item["id"]]
            mel = np.load(out / entry["mel"])
            assert entry["split"] == split and entry["frames"] == item["frames"]
            assert mel.shape == (80, item["frames"]) and mel.dtype == np.float32
            batch = TextMelCollate(2)([data[i]])  # alone: no padding but the r multiple
            with torch.no_grad():
                expected = model(
                    batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=2
                ).mel_postnet
            np.testing.assert_allclose(mel, expected[0, :, : item["frames"]].numpy(), atol=1e-5, rtol=1e-4)
            seen.add(item["id"])
    assert len(seen) == len(entries)
    assert json.loads((out / "dump.json").read_text())["prenet_dropout"] is False


def test_dump_refuses_a_checkpoint_for_other_features(tiny_dataset, tmp_path, capsys):
    ckpt = write_tiny_checkpoint(tmp_path / "tiny.pt")
    state = torch.load(ckpt, weights_only=True)
    state["config"]["audio"]["hop_length"] = 200
    torch.save(state, ckpt)
    code = main(
        ["dump-mels", "--checkpoint", str(ckpt), "--data", str(tiny_dataset), "--out", str(tmp_path / "o")]
    )
    assert code == 2
    assert "audio.hop_length 256 (checkpoint: 200)" in capsys.readouterr().err
