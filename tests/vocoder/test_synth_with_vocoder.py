"""`tacotron synth --vocoder hifigan --hifigan-weights PATH` with a checkpoint of `tacotron vocoder train`."""

from __future__ import annotations

import json

import soundfile as sf
import torch
from tests.helpers.checkpoints import write_tiny_checkpoint

from tacotron.cli import main


def test_synth_with_a_trained_vocoder_writes_frames_times_hop_samples(vocoder_checkpoint, tmp_path):
    ckpt = write_tiny_checkpoint(tmp_path / "tiny.pt", max_decoder_steps=12)
    out = tmp_path / "out"
    code = main(["synth", "--checkpoint", str(ckpt), "--text", "hello there", "--out", str(out),
                 "--vocoder", "hifigan", "--hifigan-weights", str(vocoder_checkpoint), "--allow-truncated"])  # fmt: skip
    assert code == 0
    (record,) = [json.loads(line) for line in (out / "synth.jsonl").read_text().splitlines()]
    wav, rate = sf.read(out / "001.wav")
    assert rate == 22050
    assert record["frames"] > 0 and len(wav) == record["frames"] * 256


def test_synth_refuses_a_vocoder_trained_on_other_features_in_one_line(vocoder_checkpoint, tmp_path, capsys):
    ckpt = write_tiny_checkpoint(tmp_path / "tiny.pt", max_decoder_steps=12)
    state = torch.load(ckpt, weights_only=True)
    state["config"]["audio"]["sample_rate"] = 16000
    torch.save(state, ckpt)
    code = main(["synth", "--checkpoint", str(ckpt), "--text", "hello", "--out", str(tmp_path / "out"),
                 "--vocoder", "hifigan", "--hifigan-weights", str(vocoder_checkpoint)])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error: ") and "sample_rate 22050 (model: 16000)" in err[-1]
