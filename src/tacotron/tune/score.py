"""The trial score: one number (lower is better) from validation metrics, and the hard pruning rules.

Why mel loss plus attention health: a run whose mel loss falls while attention never becomes diagonal
is a run that cannot speak at inference (it learned to copy the teacher-forced input). So

    score = w_mel * val_mel + w_diag * (1 - val_diagonality) + w_gate * (1 - val_gate_f1)

with weights `tune.score_mel_weight`, `tune.score_diagonality_weight`, `tune.score_gate_f1_weight`.
A term whose weight is 0 is not read, so a run without health metrics can still be scored on loss.
"""

from __future__ import annotations

import math

from tacotron.config import TuneConfig

# Keys the trainer passes to `Callback.on_eval_end` (validation losses and health metrics).
MEL_KEY = "val/mel/after"
DIAG_KEY = "val/attn/diagonality"
GATE_F1_KEY = "val/gate/f1"


class TrialFailed(RuntimeError):
    """A trial cannot produce a valid score (non-finite loss, missing metric); recorded as FAILED."""


def _metric(metrics: dict[str, float], key: str) -> float:
    if key not in metrics:
        raise TrialFailed(f"evaluation metrics lack '{key}' (have: {', '.join(sorted(metrics))})")
    return float(metrics[key])


def trial_score(metrics: dict[str, float], cfg: TuneConfig) -> float:
    """The weighted score of one evaluation; raises TrialFailed when an input is not finite."""
    terms = {}
    if cfg.score_mel_weight:
        terms[MEL_KEY] = cfg.score_mel_weight * _metric(metrics, MEL_KEY)
    if cfg.score_diagonality_weight:
        terms[DIAG_KEY] = cfg.score_diagonality_weight * (1.0 - _metric(metrics, DIAG_KEY))
    if cfg.score_gate_f1_weight:
        terms[GATE_F1_KEY] = cfg.score_gate_f1_weight * (1.0 - _metric(metrics, GATE_F1_KEY))
    bad = [key for key, value in terms.items() if not math.isfinite(value)]
    if bad:
        raise TrialFailed(f"non-finite validation metric(s) {bad}: {metrics}")
    return float(sum(terms.values()))


def hard_prune_reason(
    history: list[dict[str, float]], step: int, cfg: TuneConfig, align_threshold: float
) -> str | None:
    """Why a trial is hopeless regardless of other trials, or None.

    `history` is every evaluation so far (latest last). Two rules: no alignment by
    `tune.prune_unaligned_step`, and divergence (val mel loss above `tune.prune_divergence_factor`
    times its best so far). The pruner compares against other trials; these rules need none.
    """
    latest = history[-1]
    if cfg.prune_unaligned_step and step >= cfg.prune_unaligned_step and DIAG_KEY in latest:
        diag = latest[DIAG_KEY]
        if diag < align_threshold:
            return f"no alignment by step {step}: diagonality {diag:.3f} < {align_threshold}"
    if cfg.prune_divergence_factor and len(history) > 1 and MEL_KEY in latest:
        best = min(h[MEL_KEY] for h in history[:-1] if MEL_KEY in h)
        if latest[MEL_KEY] > cfg.prune_divergence_factor * best:
            return (
                f"diverged at step {step}: val mel loss {latest[MEL_KEY]:.4f} > "
                f"{cfg.prune_divergence_factor} x best {best:.4f}"
            )
    return None


def steps_to_alignment(evals: list[tuple[int, float]], threshold: float) -> int | None:
    """First evaluation step whose diagonality reaches `threshold`; None if it never does."""
    for step, diag in evals:
        if math.isfinite(diag) and diag >= threshold:
            return step
    return None
