"""Steps to alignment: train several configs on the same corpus and compare when attention aligns.

Why: "the tuned config is better" must be a measurement. Each config trains through the real
`Trainer` for the same number of steps, evaluated every `eval_every` steps, with the same seed and the
live controller off (so the config alone is measured); the step at which the r-independent validation
alignment first reaches `tune.alignment_threshold` (as in the tuner's trials, score.py) is recorded. Results go to compare.json and compare.md.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tacotron.config import Config
from tacotron.train.callbacks import Callback
from tacotron.tune.score import ALIGN_KEY, DIAG_KEY, steps_to_alignment

log = logging.getLogger(__name__)


class EvalRecorder(Callback):
    """Keeps (step, val alignment, val diagonality, val loss) of every evaluation."""

    def __init__(self) -> None:
        self.evals: list[dict[str, float]] = []

    def on_eval_end(self, trainer: Any, metrics: dict[str, float]) -> None:
        self.evals.append(
            {
                "step": trainer.step,
                "alignment": metrics.get(ALIGN_KEY, float("nan")),
                "diagonality": metrics.get(DIAG_KEY, float("nan")),
                "val_loss": metrics.get("val/loss", float("nan")),
            }
        )


def alignment_run(
    cfg: Config, dataset_dir: Path, run_dir: Path, max_steps: int, eval_every: int, device: str = "auto"
) -> dict[str, Any]:
    """Train `cfg` for `max_steps` and return {"steps_to_align", "evals", "threshold"}."""
    from tacotron.train import Trainer
    from tacotron.tune.callbacks import run_callbacks

    cfg = cfg.copy()
    cfg.train.max_steps = max_steps
    cfg.train.eval_every = eval_every
    cfg.train.early_stop_patience = 0
    cfg.train.max_minutes = 0.0  # both configs get the same number of steps, whatever their time budget
    cfg.tune.controller = False
    recorder = EvalRecorder()
    trainer = Trainer(
        cfg,
        dataset_dir,
        run_dir,
        device=device,
        callbacks=[recorder, *run_callbacks(cfg, run_dir)],
        resume=False,
    )
    trainer.fit()
    threshold = cfg.tune.alignment_threshold
    steps = steps_to_alignment([(e["step"], e["alignment"]) for e in recorder.evals], threshold)
    return {"steps_to_align": steps, "threshold": threshold, "evals": recorder.evals}


def compare_configs(
    configs: dict[str, Config],
    dataset_dir: Path,
    out_dir: Path,
    max_steps: int,
    eval_every: int,
    device: str = "auto",
) -> dict[str, Any]:
    """Run `alignment_run` for each named config; write compare.json / compare.md into `out_dir`."""
    out_dir = Path(out_dir)
    results = {
        name: alignment_run(cfg, Path(dataset_dir), out_dir / name, max_steps, eval_every, device)
        for name, cfg in configs.items()
    }
    (out_dir / "compare.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    lines = [
        f"# Steps to alignment ({max_steps} steps, eval every {eval_every}, dataset {dataset_dir})",
        "",
        "| config | steps to alignment | final alignment | final diagonality | final val loss |",
        "|---|---|---|---|---|",
    ]
    for name, res in results.items():
        last = res["evals"][-1] if res["evals"] else {}
        reached = res["steps_to_align"] if res["steps_to_align"] is not None else f"not within {max_steps}"
        lines.append(
            f"| {name} | {reached} | {last.get('alignment', float('nan')):.3f} | "
            f"{last.get('diagonality', float('nan')):.3f} | "
            f"{last.get('val_loss', float('nan')):.4f} |"
        )
    (out_dir / "compare.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    log.info("alignment comparison written to %s", out_dir / "compare.md")
    return results
