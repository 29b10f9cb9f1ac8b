"""A stand-in for the Trainer in tuner tests: scripted evaluation metrics, no model, no data.

Why: pruning, scoring and reporting are decisions about metric curves; a real training run per trial
would make a many-trial study cost minutes. Each evaluation calls only the trial's `TrialReporter`
(the other callbacks expect a real trainer), so the objective, Optuna's pruner and the storage are real.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from tacotron.tune.objective import TrialReporter

Curve = Callable[[Any, int], dict[str, float]]  # (trial config, step) -> validation metrics


def aligning(cfg: Any, step: int) -> dict[str, float]:
    """A good run: mel loss falls, alignment passes 0.5 at step 5."""
    return {
        "val/mel/after": 1.0 - 0.01 * step,
        "val/attn/alignment": min(0.9, 0.1 * step),
        "val/gate/f1": 0.6,
    }


def stuck(cfg: Any, step: int) -> dict[str, float]:
    """A bad run: high mel loss, attention that never aligns."""
    return {"val/mel/after": 3.0, "val/attn/alignment": 0.05, "val/gate/f1": 0.2}


def by_lr(cfg: Any, step: int) -> dict[str, float]:
    """Trials with train.lr >= 1e-4 align; lower ones are stuck."""
    return (aligning if cfg.train.lr >= 1e-4 else stuck)(cfg, step)


def fake_trainer_factory(curve: Curve = by_lr):
    class FakeTrainer:
        def __init__(self, cfg, dataset_dir, run_dir, device="cpu", callbacks=(), resume=False):
            self.cfg, self.step, self.stop_reason = cfg, 0, None
            self.reporters = [c for c in callbacks if isinstance(c, TrialReporter)]

        def request_stop(self, reason: str) -> None:
            self.stop_reason = self.stop_reason or reason

        def fit(self):
            train = self.cfg.train
            while self.step < train.max_steps and self.stop_reason is None:
                self.step = min(train.max_steps, self.step + train.eval_every)
                for reporter in self.reporters:
                    reporter.on_eval_end(self, curve(self.cfg, self.step))
            return SimpleNamespace(stop_reason=self.stop_reason)

    return FakeTrainer
