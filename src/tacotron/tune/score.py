"""The trial score: one number (lower is better) from validation metrics, and the hard pruning rules.

Why mel loss plus attention health: a run whose mel loss falls while attention never becomes diagonal
is a run that cannot speak at inference (it learned to copy the teacher-forced input). So

    score = w_mel * val_mel + w_align * (1 - val_alignment) + w_gate * (1 - val_gate_f1)
            [+ w_diag * (1 - val_diagonality)]

with weights `tune.score_mel_weight`, `tune.score_alignment_weight`, `tune.score_gate_f1_weight` (and
`tune.score_diagonality_weight`, 0 by default). `val_alignment` is the r-independent alignment measure
of metrics/attention.py: raw diagonality is ~0.3-0.5 for a correct alignment at r = 4-6 and ~1 at
r = 1, so a score on it favoured small r and its threshold suited r <= 2 only. The alignment term is
bounded (0..w_align) and the default weight is large enough that an aligned trial beats an unaligned
one whose early mel loss is somewhat lower (tests/tune/test_score.py pins this down).

A term whose weight is 0 is not read, so a run without health metrics can still be scored on loss.
At the end of a trial the held-out intelligibility proxy is added (`final_score`, see proxy.py).
"""

from __future__ import annotations

import math

from tacotron.config import TuneConfig
from tacotron.metrics.attention import VAL_ALIGNMENT_KEY as ALIGN_KEY

# Keys the trainer passes to `Callback.on_eval_end` (validation losses and health metrics).
MEL_KEY = "val/mel/after"
DIAG_KEY = "val/attn/diagonality"
GATE_F1_KEY = "val/gate/f1"

# score part name -> (metric key, weight field, whether the part is 1 - metric)
_PARTS = {
    "mel": (MEL_KEY, "score_mel_weight", False),
    "alignment": (ALIGN_KEY, "score_alignment_weight", True),
    "gate": (GATE_F1_KEY, "score_gate_f1_weight", True),
    "diagonality": (DIAG_KEY, "score_diagonality_weight", True),
}


class TrialFailed(RuntimeError):
    """A trial cannot produce a valid score (non-finite loss, missing metric); recorded as FAILED."""


def _metric(metrics: dict[str, float], key: str) -> float:
    if key not in metrics:
        raise TrialFailed(f"evaluation metrics lack '{key}' (have: {', '.join(sorted(metrics))})")
    return float(metrics[key])


def score_parts(metrics: dict[str, float], cfg: TuneConfig) -> dict[str, float]:
    """Each weighted term of the score by name ("mel", "alignment", "gate", "diagonality"); raises
    TrialFailed when an input is missing or not finite. What the study report explains a winner with."""
    parts = {}
    for name, (key, weight_field, inverted) in _PARTS.items():
        weight = getattr(cfg, weight_field)
        if weight:
            value = _metric(metrics, key)
            parts[name] = weight * ((1.0 - value) if inverted else value)
    bad = [name for name, value in parts.items() if not math.isfinite(value)]
    if bad:
        raise TrialFailed(f"non-finite validation metric(s) {bad}: {metrics}")
    return parts


def trial_score(metrics: dict[str, float], cfg: TuneConfig) -> float:
    """The weighted score of one evaluation; raises TrialFailed when an input is not finite."""
    return float(sum(score_parts(metrics, cfg).values()))


def is_aligned(metrics: dict[str, float], cfg: TuneConfig) -> bool:
    """Whether an evaluation counts as aligned: val attn/alignment >= `tune.alignment_threshold`."""
    value = metrics.get(ALIGN_KEY, float("nan"))
    return math.isfinite(value) and value >= cfg.alignment_threshold


def hard_prune_reason(history: list[dict[str, float]], step: int, cfg: TuneConfig) -> str | None:
    """Why a trial is hopeless regardless of other trials, or None.

    `history` is every evaluation so far (latest last). Two rules: no alignment (`is_aligned`) by
    `tune.prune_unaligned_step`, and divergence (val mel loss above `tune.prune_divergence_factor`
    times its best so far). The pruner compares against other trials; these rules need none.
    """
    latest = history[-1]
    due = cfg.prune_unaligned_step and step >= cfg.prune_unaligned_step
    if due and ALIGN_KEY in latest and not is_aligned(latest, cfg):
        return f"no alignment by step {step}: alignment {latest[ALIGN_KEY]:.3f} < {cfg.alignment_threshold}"
    if cfg.prune_divergence_factor and len(history) > 1 and MEL_KEY in latest:
        best = min(h[MEL_KEY] for h in history[:-1] if MEL_KEY in h)
        if latest[MEL_KEY] > cfg.prune_divergence_factor * best:
            return (
                f"diverged at step {step}: val mel loss {latest[MEL_KEY]:.4f} > "
                f"{cfg.prune_divergence_factor} x best {best:.4f}"
            )
    return None


def steps_to_alignment(evals: list[tuple[int, float]], threshold: float) -> int | None:
    """First evaluation step whose alignment measure reaches `threshold`; None if it never does."""
    for step, value in evals:
        if math.isfinite(value) and value >= threshold:
            return step
    return None
