"""Export the best trial as a ready-to-train config (best.yaml) plus its checkpoint (best.pt).

Why the base config and not the trial's: a trial ran with the tuner's short schedule
(`max_steps = steps_per_trial`, frequent evaluations). best.yaml is the base config with only the
searched parameters replaced, so `tacotron train --config best.yaml` trains the full run.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from tacotron.config import Config
from tacotron.tune.space import apply_params

log = logging.getLogger(__name__)


class NoCompletedTrial(RuntimeError):
    """The study has no completed trial, so there is nothing to export."""


def best_trial(study: Any) -> Any:
    """The best completed trial (multi-objective: the Pareto trial with the lowest score)."""
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raise NoCompletedTrial(f"study '{study.study_name}' has no completed trial to export")
    if len(study.directions) > 1:
        return min(study.best_trials, key=lambda t: t.values[0])
    return study.best_trial


def trial_checkpoint(trial: Any) -> Path | None:
    """The trial's best.pt, else its newest step checkpoint; None when its folder is not on this machine."""
    ckpt_dir = Path(trial.user_attrs.get("run_dir", "")) / "checkpoints"
    if not trial.user_attrs.get("run_dir") or not ckpt_dir.is_dir():
        return None
    if (ckpt_dir / "best.pt").is_file():
        return ckpt_dir / "best.pt"
    steps = sorted(ckpt_dir.glob("step_*.pt"))
    return steps[-1] if steps else None


def export_best(study: Any, base: Config, out_dir: str | Path) -> tuple[Path, Path | None]:
    """Write out_dir/best.yaml (base + best params) and copy the trial's checkpoint to out_dir/best.pt."""
    trial = best_trial(study)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = apply_params(base, trial.params)
    header = (
        f"# Smart Tuner: study '{study.study_name}', best trial {trial.number} "
        f"(score {trial.values[0]:.4f}). Base config with these searched values:\n"
        + "".join(f"#   {k}: {v}\n" for k, v in trial.params.items())
    )
    yaml_path = out_dir / "best.yaml"
    yaml_path.write_text(header + cfg.to_yaml(), encoding="utf-8")
    source = trial_checkpoint(trial)
    ckpt_path = None
    if source is None:
        log.warning(
            "best trial %d's checkpoint is not on this machine (host %s, run_dir %s)",
            trial.number,
            trial.user_attrs.get("host"),
            trial.user_attrs.get("run_dir"),
        )
    else:
        ckpt_path = out_dir / "best.pt"
        shutil.copy2(source, ckpt_path)
    log.info("best trial %d exported: %s, checkpoint %s", trial.number, yaml_path, ckpt_path)
    return yaml_path, ckpt_path
