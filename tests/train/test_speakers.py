"""Several speakers: the embedding trains, the checkpoint keeps the speaker table, synth picks a voice;
model.n_speakers: 0 is exactly the single-speaker model of before."""

from __future__ import annotations

import json
import math

import pytest
import torch
from tests.helpers.configs import fast_config, tiny_config
from tests.helpers.datasets import write_synthetic_dataset

from tacotron.cli import main as cli_main
from tacotron.config import Config
from tacotron.data.collate import TextMelCollate
from tacotron.data.dataset import PreparedDataset
from tacotron.losses import LossNorm, Tacotron2Loss
from tacotron.model import build_model
from tacotron.model.checkpoint import load_checkpoint
from tacotron.train.graphs import GraphedTrainStep
from tacotron.train.trainer import Trainer

NAMES = ["alice", "bob", "carol"]


@pytest.fixture
def three_speaker_dataset(tmp_path):
    """A synthetic prepared dataset whose items are spread over three named speakers."""
    out = write_synthetic_dataset(tmp_path / "ds", tiny_config(), n_items=12)
    lines = (out / "manifest.jsonl").read_text().splitlines()
    entries = [{**json.loads(line), "speaker": NAMES[i % 3]} for i, line in enumerate(lines)]
    (out / "manifest.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    (out / "speakers.json").write_text(json.dumps(NAMES))
    return out


def _model(n_speakers: int):
    cfg = tiny_config(model={"n_speakers": n_speakers, "speaker_embedding_dim": 8})
    torch.manual_seed(0)
    return build_model(cfg.model, 40, cfg.audio.n_mels), cfg


def test_no_speakers_keeps_todays_parameters_and_keys():
    plain, _ = _model(0)
    multi, _ = _model(3)
    keys, multi_keys = set(plain.state_dict()), set(multi.state_dict())
    assert not any("speaker" in k for k in keys)
    assert multi_keys - keys == {
        "speaker_embedding.embedding.weight",
        "speaker_embedding.projection.weight",
        "speaker_embedding.projection.bias",
    }
    assert multi_keys >= keys
    # a config written before speakers existed reads as single-speaker
    old = tiny_config().to_dict()
    del old["model"]["n_speakers"], old["model"]["speaker_embedding_dim"]
    assert Config.from_dict(old).model.n_speakers == 0


def test_speakers_flow_through_collate_and_reach_the_embedding(three_speaker_dataset):
    data = PreparedDataset(three_speaker_dataset, "train")
    assert data.speakers == NAMES
    items = [data[i] for i in range(4)]
    batch = TextMelCollate(1)(items)
    by_id = {u.id: u.speaker for u in items}
    assert batch.speakers.tolist() == [by_id[i] for i in batch.ids]
    assert batch.select([0, 2]).speakers.tolist() == [by_id[batch.ids[0]], by_id[batch.ids[2]]]
    model, cfg = _model(3)
    out = model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=1, speakers=batch.speakers)
    loss = Tacotron2Loss(cfg.loss)(out, batch, 0, LossNorm.from_batch(batch))["loss"]
    loss.backward()
    grad = model.speaker_embedding.embedding.weight.grad
    assert math.isfinite(float(loss.detach()))
    for speaker in set(batch.speakers.tolist()):
        assert grad[speaker].abs().sum() > 0
    with pytest.raises(ValueError, match="has 3 speakers: pass speakers"):
        model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=1)
    plain, _ = _model(0)
    with pytest.raises(ValueError, match="one speaker"):
        plain(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=1, speakers=batch.speakers)


def test_the_graph_step_copies_speakers_as_a_static_input(three_speaker_dataset):
    data = PreparedDataset(three_speaker_dataset, "train")
    model, cfg = _model(3)
    model.train()
    step = GraphedTrainStep(model, Tacotron2Loss(cfg.loss), precision="fp32", capture=False)
    batch = TextMelCollate(1)([data[i] for i in range(2)])
    first, _ = step(batch, 0)
    first = float(first["loss"])
    other = TextMelCollate(1)([data[i] for i in range(2)])
    other.speakers = (other.speakers + 1) % 3  # same shapes, other voices: the same graph, new input
    second, _ = step(other, 0)
    assert len(step.graphs) == 1 and float(second["loss"]) != first


def test_a_three_speaker_model_trains_and_synth_picks_a_speaker(three_speaker_dataset, tmp_path, capsys):
    cfg = fast_config(max_steps=2, checkpoint_every=2)
    with pytest.raises(ValueError, match="model.n_speakers=3"):
        Trainer(cfg.copy(), three_speaker_dataset, tmp_path / "refused", device="cpu")
    cfg.model.n_speakers = 3
    cfg.model.speaker_embedding_dim = 8
    result = Trainer(cfg, three_speaker_dataset, tmp_path / "run", device="cpu").fit()
    assert result.step == 2
    metrics = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [m["loss"] for m in metrics if m["split"] == "train"]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    ckpt_path = tmp_path / "run" / "checkpoints" / "step_00000002.pt"
    ckpt = load_checkpoint(ckpt_path)
    assert ckpt["speakers"] == NAMES
    assert all(torch.isfinite(v).all() for k, v in ckpt["model"].items() if "speaker" in k)

    base = ["synth", "--checkpoint", str(ckpt_path), "--text", "abc def.", "--allow-truncated"]
    capsys.readouterr()
    assert cli_main([*base, "--out", str(tmp_path / "bob"), "--speaker", "bob"]) == 0
    assert (tmp_path / "bob" / "001.wav").is_file()
    capsys.readouterr()
    assert cli_main([*base, "--out", str(tmp_path / "nobody"), "--speaker", "dave"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown speaker 'dave'" in err[0] and "alice, bob, carol" in err[0]
