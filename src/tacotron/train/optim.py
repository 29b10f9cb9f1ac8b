"""Optimizer and learning-rate schedule.

The LR is a pure function of the optimizer step (`lr_at`), times a scale that callbacks change
(`LRSchedule.scale`, e.g. the Debug Reporter halves it after a rollback). Because it depends only on
the step and the scale, resuming from a checkpoint reproduces the schedule exactly.
"""

from __future__ import annotations

import math

import torch

from tacotron.config import TrainConfig


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """Adam (L2 weight decay, as in the NVIDIA recipe) or AdamW (decoupled), fused on CUDA for speed."""
    params = [p for p in model.parameters() if p.requires_grad]
    kwargs = dict(lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)
    if device.type == "cuda":
        kwargs["fused"] = True
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, **kwargs)
    return torch.optim.Adam(params, **kwargs)


def lr_at(step: int, cfg: TrainConfig) -> float:
    """The scheduled LR for optimizer step `step` (0-based): linear warm-up, then decay, floored at lr_min.

    step: multiply by lr_decay_rate every lr_decay_steps after lr_decay_start.
    exponential: smooth version of step (lr_decay_rate ** (elapsed / lr_decay_steps)).
    noam: Vaswani et al. 2017, peaking at `lr` after warmup_steps, then ~ 1/sqrt(step).
    """
    if cfg.lr_schedule == "noam":
        warm = max(cfg.warmup_steps, 1)
        s = step + 1
        return cfg.lr * math.sqrt(warm) * min(s**-0.5, s * warm**-1.5)
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    elapsed = max(0, step - max(cfg.lr_decay_start, cfg.warmup_steps))
    if cfg.lr_schedule == "constant":
        return cfg.lr
    if cfg.lr_schedule == "step":
        factor = cfg.lr_decay_rate ** (elapsed // max(cfg.lr_decay_steps, 1))
    elif cfg.lr_schedule == "exponential":
        factor = cfg.lr_decay_rate ** (elapsed / max(cfg.lr_decay_steps, 1))
    else:
        raise ValueError(f"train.lr_schedule: unknown schedule {cfg.lr_schedule!r}")
    return max(cfg.lr * factor, min(cfg.lr_min, cfg.lr))


class LRSchedule:
    """Sets every param group's LR to `scale * lr_at(step)`; `state_dict` keeps the scale for resume."""

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: TrainConfig):
        self.optimizer = optimizer
        self.cfg = cfg
        self.scale = 1.0

    def lr(self, step: int) -> float:
        return self.scale * lr_at(step, self.cfg)

    def apply(self, step: int) -> float:
        """Write the LR for `step` into the optimizer; return it."""
        lr = self.lr(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def state_dict(self) -> dict[str, float]:
        return {"scale": self.scale}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.scale = float(state["scale"])
