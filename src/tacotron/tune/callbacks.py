"""The one place a training run's callbacks are assembled from its config.

Order matters: the Debug Reporter (`HealthMonitor`, `health.enabled`) first, so its report exists when
tracking uploads it at the end; then the Smart Tuner's `LiveController` (`tune.controller`); then
tracking (`train.loggers` MLflow, `train.alerts`), only on the main process. `tacotron train`, tuner
trials and tuned-vs-base comparisons all call `run_callbacks`; the Trainer adds none of its own.
The controller reacts to evaluations, the monitor to single steps, so they do not act on the same
signal twice: step-level spikes and NaNs are the monitor's, evaluation-level trends the controller's.
"""

from __future__ import annotations

from pathlib import Path

from tacotron.config import Config
from tacotron.train.callbacks import Callback
from tacotron.train.distributed import is_main_process


def run_callbacks(
    cfg: Config,
    run_dir: str | Path,
    *,
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> list[Callback]:
    """The callbacks `cfg` asks for, in the order above (tracking arguments: see `build_tracking_callbacks`)."""
    callbacks: list[Callback] = []
    if cfg.health.enabled:
        from tacotron.health.monitor import HealthMonitor

        callbacks.append(HealthMonitor(cfg.health))
    if cfg.tune.controller:
        from tacotron.tune.controller import LiveController

        callbacks.append(LiveController(cfg.tune, cfg.health.align_threshold))
    if is_main_process():
        from tacotron.tracking import build_tracking_callbacks

        callbacks.extend(
            build_tracking_callbacks(cfg, run_dir, parent_run_id=parent_run_id, tags=tags, env=env)
        )
    return callbacks
