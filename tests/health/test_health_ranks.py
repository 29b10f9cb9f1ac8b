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


def _explosions(losses: list[float], grad_clip: float, rise: float = 0.05) -> list[dict]:
    """Feeds a main-rank monitor steps of `losses` with a gradient norm of 0.3, and of 30 (100x) on the
    steps after the 30th; returns the events it reported for them."""
    reported: list[dict] = []
    trainer = SimpleNamespace(
        is_main=True,
        step=0,
        cfg=SimpleNamespace(train=SimpleNamespace(grad_clip=grad_clip)),
        precision=SimpleNamespace(name="bf16"),
        report_anomaly=lambda kind, **details: reported.append({"kind": kind, **details}),
        last_healthy_checkpoint=lambda: None,  # a rollback finds no target: the monitor gives up
        events=SimpleNamespace(
            log=lambda step, event, **details: reported.append({"kind": event, **details})
        ),
        request_stop=lambda reason: None,
    )
    cfg = HealthConfig(
        min_history=5, detail_every=0, max_anomalies=3, spike_window=20, clipped_explosion_loss_rise=rise
    )
    monitor = HealthMonitor(cfg)
    batch = fake_batch()
    for step, loss in enumerate(losses, start=1):
        grad_norm = 30.0 if step > 30 and step % 3 == 0 else 0.3
        monitor.on_step_end(
            trainer, StepResult(step, {"loss": loss}, grad_norm, 1e-3, False, batch, None, "")
        )
    return reported


def test_clipped_explosions_with_a_falling_loss_are_events_not_counted_toward_a_rollback():
    falling = [0.40 - 0.001 * i for i in range(40)]
    events = _explosions(falling, grad_clip=1.0)
    assert [e["kind"] for e in events] == ["grad_explosion"] * 3  # steps 33, 36, 39
    for event in events:
        assert event["action"].startswith("continue: the update is bounded by train.grad_clip=1 and the loss")
        assert event["counted"] is False and event["loss_recent"] < event["loss_before"]


def test_clipped_explosions_count_once_the_loss_rises_and_unclipped_ones_always():
    rising = [0.40] * 33 + [0.48] * 17  # explosions from step 33; the loss 20% up from step 34
    events = _explosions(rising, grad_clip=1.0)
    assert [e["kind"] for e in events] == ["grad_explosion"] * 5 + ["give_up"]
    # steps 33 and 36: the rise is not yet the median of the last 10 losses; from step 39 it is
    assert [e["counted"] for e in events[:5]] == [False, False, True, True, True]
    assert "anomaly 1/3" in events[2]["action"] and "anomaly 2/3" in events[3]["action"]
    assert events[4]["action"].startswith("roll back (3 anomalies")
    falling = [0.40 - 0.001 * i for i in range(40)]
    for unclipped in (_explosions(falling, grad_clip=0.0), _explosions(falling, 1.0, rise=0.0)):
        assert "anomaly 2/3" in unclipped[1]["action"] and "counted" not in unclipped[1]
