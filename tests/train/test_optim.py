"""LR schedules and optimizer construction."""

from __future__ import annotations

import math

import pytest
import torch

from tacotron.config import TrainConfig
from tacotron.train.optim import LRSchedule, build_optimizer, lr_at


def cfg(**kw) -> TrainConfig:
    c = TrainConfig(
        lr=1e-3, lr_min=1e-5, warmup_steps=0, lr_decay_start=0, lr_decay_steps=10, lr_decay_rate=0.5
    )
    for k, v in kw.items():
        setattr(c, k, v)
    return c


def test_warmup_is_linear_then_reaches_peak():
    c = cfg(lr_schedule="constant", warmup_steps=4)
    assert [lr_at(s, c) for s in range(5)] == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3])


def test_step_decay_halves_every_period_after_start():
    c = cfg(lr_schedule="step", lr_decay_start=5)
    assert lr_at(14, c) == pytest.approx(1e-3)
    assert lr_at(15, c) == pytest.approx(5e-4)
    assert lr_at(25, c) == pytest.approx(2.5e-4)


def test_exponential_decay_is_smooth_and_floored():
    c = cfg(lr_schedule="exponential")
    assert lr_at(5, c) == pytest.approx(1e-3 * 0.5**0.5)
    assert lr_at(10_000, c) == pytest.approx(1e-5)  # lr_min floor


def test_noam_peaks_at_warmup_then_decays_as_inverse_sqrt():
    c = cfg(lr_schedule="noam", warmup_steps=100)
    lrs = [lr_at(s, c) for s in range(400)]
    assert max(lrs) == pytest.approx(1e-3)
    assert lrs.index(max(lrs)) == 99
    assert lr_at(399, c) == pytest.approx(1e-3 * math.sqrt(100 / 400))


def test_lr_schedule_scale_survives_state_dict():
    model = torch.nn.Linear(2, 2)
    c = cfg(lr_schedule="constant")
    opt = build_optimizer(model, c, torch.device("cpu"))
    sched = LRSchedule(opt, c)
    sched.scale = 0.25
    other = LRSchedule(opt, c)
    other.load_state_dict(sched.state_dict())
    assert other.apply(3) == pytest.approx(2.5e-4)
    assert opt.param_groups[0]["lr"] == pytest.approx(2.5e-4)


@pytest.mark.parametrize(("name", "cls"), [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)])
def test_optimizer_kind_and_weight_decay(name, cls):
    c = cfg(optimizer=name, weight_decay=0.01)
    opt = build_optimizer(torch.nn.Linear(2, 2), c, torch.device("cpu"))
    assert type(opt) is cls
    assert opt.param_groups[0]["weight_decay"] == 0.01
