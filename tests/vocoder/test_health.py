"""Vocoder training health: a NaN step is skipped and reported, repeated ones roll back then stop naming
the last healthy checkpoint, a winning discriminator is a warning; all of it in events.jsonl."""

from __future__ import annotations

import json

import pytest
import torch
from tests.vocoder.helpers import tiny_vocoder_config

from tacotron.train.keeper import nonfinite_state
from tacotron.vocoder import trainer as trainer_module
from tacotron.vocoder.health import NonFiniteLossError
from tacotron.vocoder.trainer import VocoderTrainer


def _events(run):
    return [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]


def _nan_mel_from(monkeypatch, trainer, first_step):
    """The mel loss is NaN on the steps (1-based) >= first_step."""
    real = trainer_module.mel_loss

    def mel_loss(a, b):
        value = real(a, b)
        return value * float("nan") if trainer.step + 1 >= first_step else value

    monkeypatch.setattr(trainer_module, "mel_loss", mel_loss)


def test_a_nan_step_is_skipped_reported_and_training_goes_on(tiny_dataset, tmp_path, monkeypatch):
    run = tmp_path / "run"
    trainer = VocoderTrainer(tiny_vocoder_config(3), tiny_dataset, run, init="scratch")
    real = trainer_module.mel_loss
    nan_at_2 = lambda a, b: real(a, b) * (float("nan") if trainer.step == 1 else 1.0)  # noqa: E731
    monkeypatch.setattr(trainer_module, "mel_loss", nan_at_2)
    trainer.fit()
    assert trainer.step == 3 and nonfinite_state(trainer.networks()) == []  # the NaN never reached a weight
    events = _events(run)
    (nan,) = [e for e in events if e["event"] == "nonfinite"]
    assert nan["step"] == 2 and nan["action"].startswith("update skipped; anomaly 1/3")
    assert nan["skipped"] == ["generator"] and nan["values"]["mel"] == "nan"
    assert [e["step"] for e in events if e["event"] == "checkpoint_unhealthy"] == [2]
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    train = {m["step"]: m for m in metrics if m["split"] == "train"}
    assert train[2]["skipped"] == 1 and train[2]["generator"] == "nan"
    assert train[3]["skipped"] == 0 and isinstance(train[3]["generator"], float)


def test_repeated_nan_rolls_back_then_stops_naming_the_last_healthy_checkpoint(
    tiny_dataset, tmp_path, monkeypatch
):
    run = tmp_path / "run"
    cfg = tiny_vocoder_config(8, "health.max_anomalies=2", "health.max_rollbacks=1")
    trainer = VocoderTrainer(cfg, tiny_dataset, run, init="scratch")
    _nan_mel_from(monkeypatch, trainer, first_step=3)
    with pytest.raises(
        NonFiniteLossError, match=r"vocoder step 4: .*last healthy checkpoint: .*step_00000002\.pt"
    ):
        trainer.fit()
    events = _events(run)
    (rollback,) = [e for e in events if e["event"] == "recovery"]
    assert rollback["step"] == 4 and rollback["target"].endswith("step_00000002.pt")
    assert [e["step"] for e in events if e["event"] == "nonfinite"] == [3, 4, 3, 4]  # 3 and 4 again
    assert [e["event"] for e in events][-1] == "give_up"
    assert trainer.lr_scale == 0.5 and trainer.lr_at(3) == pytest.approx(cfg.lr * 0.5)


def test_nan_before_any_checkpoint_stops_with_a_clear_message(tiny_dataset, tmp_path):
    cfg = tiny_vocoder_config(4, "mel_weight=.nan", "health.max_anomalies=2")
    trainer = VocoderTrainer(cfg, tiny_dataset, tmp_path / "run", init="scratch")
    with pytest.raises(
        NonFiniteLossError, match=r"vocoder step 2: non-finite values: generator=nan.*no healthy"
    ):
        trainer.fit()


def test_discriminator_collapse_is_a_warning_in_the_events(tiny_dataset, tmp_path, monkeypatch):
    run = tmp_path / "run"
    cfg = tiny_vocoder_config(3, "health.collapse_steps=2", "health.collapse_growth=0.001")
    trainer = VocoderTrainer(cfg, tiny_dataset, run, init="scratch")
    real = trainer_module.discriminator_loss
    monkeypatch.setattr(trainer_module, "discriminator_loss", lambda r, g: 0.0 * real(r, g))
    trainer.fit()
    (collapse,) = [e for e in _events(run) if e["event"] == "discriminator_collapse"]
    assert collapse["step"] == 2 and collapse["action"].startswith("warn:")
    assert trainer.step == 3


def test_non_finite_weights_roll_back_at_once_to_the_checkpoint_a_run_resumed_from(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    VocoderTrainer(tiny_vocoder_config(2), tiny_dataset, run, init="scratch").fit()
    trainer = VocoderTrainer(tiny_vocoder_config(4), tiny_dataset, run, init="scratch")
    with torch.no_grad():
        next(trainer.generator.parameters()).fill_(float("nan"))  # no skipped update can repair this
    trainer.fit()
    (rollback,) = [e for e in _events(run) if e["event"] == "recovery"]
    assert rollback["step"] == 3 and rollback["reason"].startswith("non-finite weights ['generator.")
    assert rollback["target"].endswith("step_00000002.pt")
    assert trainer.step == 4 and nonfinite_state(trainer.networks()) == []
