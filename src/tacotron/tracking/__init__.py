"""Experiment tracking (MLflow) and alerts (webhook, Telegram), as trainer callbacks.

`build_tracking_callbacks(cfg, run_dir)` is what the Trainer appends to its callbacks on the main rank (after the
HealthMonitor, so its report exists when the run ends). TensorBoard stays in the trainer itself.
Nothing here imports MLflow until an MLflow run starts.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tacotron.config import Config, ConfigError
from tacotron.train.callbacks import Callback

log = logging.getLogger(__name__)

KNOWN_LOGGERS = ("tensorboard", "mlflow")

__all__ = ["KNOWN_LOGGERS", "build_tracking_callbacks"]


def build_tracking_callbacks(
    cfg: Config,
    run_dir: str | Path,
    *,
    parent_run_id: str | None = None,
    tags: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> list[Callback]:
    """Callbacks for `train.loggers` (MLflow) and `train.alerts`; [] when neither is on.

    parent_run_id: MLflow run to nest this run under (Smart Tuner trials; else $TACOTRON_MLFLOW_PARENT_RUN_ID).
    tags: extra MLflow tags (e.g. {"trial": "7"}). env: environment to read alert credentials from
    (default os.environ). Alerts listed without any destination configured are a warning, not an error:
    a run must not fail because nobody set up a bot.
    """
    t = cfg.train
    unknown = sorted(set(t.loggers) - set(KNOWN_LOGGERS))
    if unknown:
        raise ConfigError(f"train.loggers: unknown logger(s) {unknown}; known: {list(KNOWN_LOGGERS)}")
    callbacks: list[Callback] = []
    if "mlflow" in t.loggers:
        from tacotron.tracking.mlflow_logger import MlflowCallback

        callbacks.append(
            MlflowCallback(
                t.mlflow_tracking_uri,
                t.mlflow_experiment,
                parent_run_id=parent_run_id,
                run_name=Path(run_dir).name,
                tags=tags,
                flush_every=t.log_every,
            )
        )
    if t.alerts:
        from tacotron.tracking.alerts import AlertCallback
        from tacotron.tracking.senders import destinations_from_env

        destinations = destinations_from_env(env)
        if not destinations:
            log.warning(
                "train.alerts=%s but no destination: set TACOTRON_ALERT_WEBHOOK_URL, or "
                "TACOTRON_TELEGRAM_TOKEN + TACOTRON_TELEGRAM_CHAT_ID, or TACOTRON_ALERT_CREDENTIALS",
                t.alerts,
            )
        else:
            callbacks.append(
                AlertCallback(
                    t.alerts,
                    destinations,
                    min_interval_s=t.alert_min_interval_s,
                    max_per_hour=t.alert_max_per_hour,
                    timeout_s=t.alert_timeout_s,
                )
            )
    return callbacks
