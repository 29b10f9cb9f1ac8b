"""HealthMonitor inside the real Trainer: NaN/inf localisation, rollback, LR cut, give-up, alignment rising.

The corpus is 16 two-word espeak-ng phrases (about 0.8 s each): short enough that a tiny model
(r=4) takes about 0.1 s a step on one thread and learns to align within a few dozen steps.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest
import torch
from tests.helpers.configs import tiny_config

from tacotron.config import Config
from tacotron.data.collate import TextMelCollate
from tacotron.data.dataset import PreparedDataset
from tacotron.health.localize import nonfinite_parameters
from tacotron.health.monitor import HealthMonitor
from tacotron.metrics.outputs import health_metrics
from tacotron.train.callbacks import Callback
from tacotron.train.schedule import SchedulePoint
from tacotron.train.trainer import Trainer

WORDS = ["cat", "dog", "red", "blue", "sun", "tree", "fish", "book", "map", "cup", "hat", "box"]


@pytest.fixture(scope="module")
def short_dataset(tmp_path_factory) -> Path:
    """16 short phrases in LJSpeech layout, prepared into a dataset folder."""
    from tacotron.data.prepare import prepare_dataset

    corpus = tmp_path_factory.mktemp("short_corpus")
    (corpus / "wavs").mkdir()
    lines = []
    for i in range(16):
        text = f"{WORDS[i % 12]} and {WORDS[(5 * i + 3) % 12]}."
        wav = corpus / "wavs" / f"short{i:02d}.wav"
        subprocess.run(["espeak-ng", "-v", "en-us", "-s", "170", "-w", str(wav), text], check=True)
        lines.append(f"short{i:02d}|{text}|{text}")
    (corpus / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path_factory.mktemp("short_dataset")
    cfg = tiny_config()
    cfg.data.val_fraction = 0.1
    prepare_dataset(corpus, out, cfg)
    return out


def short_config(max_steps: int = 12, **health) -> Config:
    cfg = tiny_config()
    cfg.model.n_frames_per_step = 4
    t = cfg.train
    t.max_steps, t.eval_every, t.checkpoint_every, t.keep_last, t.log_every = max_steps, 10_000, 2, 3, 1
    h = cfg.health
    h.detail_every, h.min_history, h.report_on_end = 2, 3, True
    for key, value in health.items():
        setattr(h, key, value)
    return cfg


def read_events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


class AtStep(Callback):
    """Runs `action(trainer)` once, at the end of step `step` (after the monitor looked at that step)."""

    def __init__(self, step: int, action):
        self.step, self.action, self.done = step, action, False

    def on_step_end(self, trainer, result) -> None:
        if result.step == self.step and not self.done:
            self.done = True
            self.action(trainer)


def poison_decoder(trainer) -> None:
    with torch.no_grad():
        trainer.model.decoder.frame_projection.weight[0, 0] = math.nan


def test_nan_parameter_is_named_rolled_back_and_training_finishes(short_dataset, tmp_path):
    run_dir = tmp_path / "run"
    monitor = HealthMonitor()
    trainer = Trainer(
        short_config(), short_dataset, run_dir, device="cpu", callbacks=[monitor, AtStep(4, poison_decoder)]
    )
    result = trainer.fit()
    assert result.step == 12 and result.stop_reason == "max_steps"
    assert nonfinite_parameters(trainer.model) == []
    assert not any(p._post_accumulate_grad_hooks for p in trainer.model.parameters())  # hooks removed
    events = read_events(run_dir)
    nonfinite = [e for e in events if e["event"] == "nonfinite"]
    assert nonfinite[0]["step"] == 5  # the first step that ran with the poisoned weight
    assert nonfinite[0]["bad_parameters"] == ["decoder.frame_projection.weight"]
    assert nonfinite[0]["first_module"]["module"] == "decoder.frame_projection"
    assert nonfinite[0]["batch_ids"] and all(i.startswith("short") for i in nonfinite[0]["batch_ids"])
    # step_4 was saved after the poisoning: flagged, and the rollback skips it
    assert any(
        e["event"] == "checkpoint_unhealthy" and e["path"].endswith("step_00000004.pt") for e in events
    )
    rollback = next(e for e in events if e["event"] == "rollback")
    assert rollback["action"].endswith("step_00000002.pt") and monitor.rollbacks == 1
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "decoder.frame_projection" in html and nonfinite[0]["batch_ids"][0] in html


def test_inf_in_one_batch_names_the_utterance(short_dataset, tmp_path):
    run_dir = tmp_path / "run"
    trainer = Trainer(
        short_config(max_anomalies=1), short_dataset, run_dir, device="cpu", callbacks=[HealthMonitor()]
    )
    take, poisoned = trainer.stream.take, []  # the loader is the one seam to corrupt a single batch

    def take_poisoned(k: int):
        batches = take(k)
        if trainer.step == 5 and not poisoned:
            batches[0].mels[1, 3, 7] = math.inf
            poisoned.append(batches[0].ids[1])
        return batches

    trainer.stream.take = take_poisoned
    result = trainer.fit()
    assert poisoned and result.step == 12 and result.stop_reason == "max_steps"
    events = read_events(run_dir)
    nonfinite = next(e for e in events if e["event"] == "nonfinite")
    assert nonfinite["step"] == 6 and nonfinite["bad_input_ids"] == poisoned
    assert nonfinite["bad_inputs"] == {"mels": poisoned} and nonfinite["bad_parameters"] == []
    assert nonfinite["bad_buffers"]  # BatchNorm running stats took the inf: a skip cannot undo that
    assert nonfinite["first_module"]["module"].startswith("decoder")  # the prenet reads the mels first
    assert any(e["event"] == "nonfinite_grad" and e["action"] == "skip_step" for e in events)
    assert any(e["event"] == "rollback" for e in events)
    assert nonfinite_parameters(trainer.model) == []
    assert poisoned[0] in (run_dir / "report.html").read_text(encoding="utf-8")


def blow_up_projection(trainer) -> None:
    with torch.no_grad():
        trainer.model.decoder.frame_projection.weight.mul_(100.0)
        trainer.model.decoder.frame_projection.bias.add_(50.0)


class ProjectionAt(Callback):
    """The decoder's frame projection weight after each step (before later callbacks act)."""

    def __init__(self):
        self.weights: dict[int, torch.Tensor] = {}

    def on_step_end(self, trainer, result) -> None:
        self.weights.setdefault(result.step, trainer.model.decoder.frame_projection.weight.detach().clone())


def test_loss_spike_skips_its_update_then_rolls_back_and_cuts_lr(short_dataset, tmp_path):
    run_dir = tmp_path / "run"
    cfg = short_config(max_anomalies=2, rollback_lr_factor=0.5)
    cfg.train.lr_schedule = "constant"
    weights = ProjectionAt()
    callbacks = [HealthMonitor(), AtStep(5, blow_up_projection), weights]
    trainer = Trainer(cfg, short_dataset, run_dir, device="cpu", callbacks=callbacks)
    result = trainer.fit()
    assert result.step == 12 and result.stop_reason == "max_steps"
    events = read_events(run_dir)
    spikes = [e for e in events if e["event"] == "loss_spike"]
    assert spikes[0]["step"] == 6 and spikes[0]["value"] > spikes[0]["threshold"] > 0  # 5x the running median
    assert spikes[0]["action"].startswith("update skipped") and "anomaly 1/2" in spikes[0]["action"]
    assert spikes[0]["update_applied"] is False
    assert torch.equal(weights.weights[5], weights.weights[6])  # the spike's update was vetoed
    skips = [e for e in events if e["event"] == "update_skipped"]
    assert [e["step"] for e in skips] == [6, 7] and skips[0]["reason"].startswith("loss_spike: loss ")
    assert spikes[1]["step"] == 7 and "roll back" in spikes[1]["action"]
    rollback = next(e for e in events if e["event"] == "rollback")
    assert rollback["action"].endswith("step_00000004.pt")
    recovery = next(e for e in events if e["event"] == "recovery")
    assert recovery["lr_after"] == pytest.approx(0.5 * recovery["lr_before"])
    assert any(e["event"] == "lr_scaled" for e in events)
    train_rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r for r in train_rows if r["split"] == "train"][-1]["lr"] == pytest.approx(0.5 * cfg.train.lr)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    for needle in ("loss_spike", "rollback", "lr_scaled", "x0.5"):
        assert needle in html, needle


def test_gives_up_with_a_message_after_max_rollbacks(short_dataset, tmp_path):
    run_dir = tmp_path / "run"
    monitor = HealthMonitor()
    trainer = Trainer(
        short_config(max_rollbacks=0),
        short_dataset,
        run_dir,
        device="cpu",
        callbacks=[monitor, AtStep(3, poison_decoder)],
    )
    result = trainer.fit()
    assert monitor.gave_up and result.step < 12
    assert "health monitor gave up" in result.stop_reason and "max_rollbacks=0" in result.stop_reason
    assert any(e["event"] == "give_up" for e in read_events(run_dir))


def teacher_forced_diagonality(model: torch.nn.Module, dataset_dir: Path, r: int) -> float:
    data = PreparedDataset(dataset_dir, "train")
    batch = TextMelCollate(r)([data[i] for i in range(len(data))])
    model.eval()
    with torch.no_grad():
        out = model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=batch.r)
    model.train()
    return health_metrics(out, batch)["attn/diagonality"]


@pytest.mark.slow
def test_diagonality_rises_during_a_short_real_training_run(short_dataset, tmp_path):
    cfg = short_config(max_steps=80, detail_every=10)
    cfg.train.lr, cfg.train.checkpoint_every = 2e-3, 40
    cfg.loss.guided_attn_weight = 20.0
    trainer = Trainer(cfg, short_dataset, tmp_path / "run", device="cpu", callbacks=[HealthMonitor()])
    before = teacher_forced_diagonality(trainer.model, short_dataset, 4)
    trainer.fit()
    after = teacher_forced_diagonality(trainer.model, short_dataset, 4)
    assert after > 2 * before, (before, after)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    logged = [r["attn/diagonality"] for r in rows if r["split"] == "health"]
    assert len(logged) == 8 and max(logged[-3:]) > 1.5 * logged[0]
    assert len(list((tmp_path / "run" / "health" / "alignments").glob("step_*.npy"))) == 2


def test_rollback_under_fp16_switches_to_the_fallback_precision(short_dataset, tmp_path):
    run_dir = tmp_path / "run"
    cfg = short_config(max_steps=8, fp16_fallback="bf16", report_on_end=False)
    cfg.train.precision = "fp16"
    cfg.train.fp16_init_scale = 2.0**10  # no overflow skips before the poisoned step (CPU-dependent at 2^16)
    trainer = Trainer(
        cfg, short_dataset, run_dir, device="cpu", callbacks=[HealthMonitor(), AtStep(3, poison_decoder)]
    )
    result = trainer.fit()
    assert result.step == 8 and result.stop_reason == "max_steps"
    assert trainer.precision.name == "bf16"
    events = read_events(run_dir)
    assert any(e["event"] == "precision_changed" and e["reason"] == "fp16 -> bf16" for e in events)
    recovery = next(e for e in events if e["event"] == "recovery")
    assert "precision fp16 -> bf16" in recovery["action"]


def test_no_alignment_by_the_deadline_is_a_warning_not_a_rollback(short_dataset, tmp_path):
    run_dir = tmp_path / "run"
    cfg = short_config(max_steps=4, align_deadline_step=2, report_on_end=False)
    monitor = HealthMonitor()
    result = Trainer(cfg, short_dataset, run_dir, device="cpu", callbacks=[monitor]).fit()
    assert result.step == 4 and monitor.rollbacks == 0
    (event,) = [e for e in read_events(run_dir) if e["event"] == "no_alignment"]
    assert event["step"] == 2 and event["action"].startswith("warn")
    assert "guided_attn_weight" in event["action"] and "n_frames_per_step" in event["action"]


def test_stage_change_restarts_the_loss_and_gradient_medians():
    """An r / batch switch moves loss and gradient norm to a new scale: not an explosion to roll back for."""
    cfg = Config().health
    cfg.min_history = 3
    monitor = HealthMonitor(cfg)
    for step in range(1, 6):
        assert monitor.grad_explosion.update(step, 1.0) is None
        assert monitor.loss_spike.update(step, 2.0) is None
    monitor.on_stage_change(None, SchedulePoint(step=6, r=4, batch_size=32))
    assert monitor.grad_explosion.update(6, 80.0) is None and monitor.loss_spike.update(6, 30.0) is None
    for step in (7, 8):
        monitor.grad_explosion.update(step, 60.0)
    assert monitor.grad_explosion.update(9, 2000.0) is not None  # the new scale is watched again

    unchanged = HealthMonitor(cfg)
    for step in range(1, 6):
        unchanged.grad_explosion.update(step, 1.0)
    assert unchanged.grad_explosion.update(6, 80.0).kind == "grad_explosion"
