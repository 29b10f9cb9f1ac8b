"""The Debug Reporter: health metrics, anomaly detection, recovery policy and the run report.

`attention_health` and `health_metrics` are pure functions (the Smart Tuner and validation use them);
`HealthMonitor` (a trainer `Callback`) and `write_report` are loaded on first use, so importing the
metrics from the training loop never pulls in the trainer or matplotlib.
"""

from __future__ import annotations

from typing import Any

from tacotron.health.attention import attention_health
from tacotron.health.metrics import health_metrics

__all__ = ["HealthMonitor", "attention_health", "health_metrics", "write_report"]


def __getattr__(name: str) -> Any:
    if name == "HealthMonitor":
        from tacotron.health.monitor import HealthMonitor

        return HealthMonitor
    if name == "write_report":
        from tacotron.health.report import write_report

        return write_report
    raise AttributeError(f"module 'tacotron.health' has no attribute {name!r}")
