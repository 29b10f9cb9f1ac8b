"""HealthMonitor under DDP: only rank 0 detects, acts and writes; the other ranks stay passive."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from tests.helpers.fakes import FakeTacotron, fake_batch

from tacotron.config import HealthConfig
from tacotron.health.monitor import ALIGNMENT_DIR, HealthMonitor
from tacotron.train.callbacks import StepResult, UpdateInfo


def other_rank(run_dir: Path) -> SimpleNamespace:
    """A non-main rank's trainer: any call to a method it lacks (events, rollback, stop) raises."""
    return SimpleNamespace(is_main=False, run_dir=run_dir, step=2, model=FakeTacotron())


def test_a_non_main_rank_writes_nothing_and_decides_nothing(tmp_path):
    cfg = HealthConfig(min_history=1, detail_every=1, report_on_end=True)
    monitor = HealthMonitor(cfg)
    trainer = other_rank(tmp_path)
    monitor.on_train_start(trainer)
    batch = fake_batch()
    for step, loss in ((1, 1.0), (2, 100.0)):  # the second is a 100x spike on rank 0
        assert (
            monitor.on_before_optimizer_step(trainer, UpdateInfo(step, {"loss": loss}, 1.0, 1e-3, batch))
            is None
        )
    nan_step = StepResult(3, {"loss": math.nan}, math.nan, 1e-3, True, batch, None, "non-finite gradient")
    monitor.on_anomaly(trainer, {"kind": "nonfinite_grad", "step": 3})
    monitor.on_step_end(trainer, nan_step)
    monitor.on_eval_end(trainer, {"val/attn/alignment": 0.0})
    monitor._last_alignment = np.zeros((4, 3), dtype=np.float16)
    monitor.on_checkpoint(trainer, tmp_path / "checkpoints" / "step_00000002.pt")
    monitor.on_train_end(trainer)

    assert monitor.anomalies == [] and monitor.rollbacks == 0 and not monitor.gave_up
    assert not (tmp_path / ALIGNMENT_DIR).exists() and list(tmp_path.iterdir()) == []


def test_the_main_rank_vetoes_a_loss_spike_update():
    monitor = HealthMonitor(HealthConfig(min_history=2, spike_factor=5.0))
    trainer = SimpleNamespace(is_main=True)
    batch = fake_batch()
    answers = []
    for step, loss in enumerate((1.0, 1.1, 0.9, 30.0, 1.0), start=1):
        info = UpdateInfo(step, {"loss": loss}, 1.0, 1e-3, batch)
        answers.append((monitor.on_before_optimizer_step(trainer, info), info.reason))
    assert [a for a, _ in answers] == [None, None, None, False, None]
    assert answers[3][1].startswith("loss_spike: loss 30")
