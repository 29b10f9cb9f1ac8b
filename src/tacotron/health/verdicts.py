"""Plain-language verdicts on a run, each with the known fix.

Why rules and not just plots: a user looking at eight curves at 2 a.m. should read "attention not
aligned after 8000 steps at batch 16: raise the batch or r, raise the guided-attention weight", not
infer it. Each rule reads only the run folder (`RunLog`), so it works on finished and running runs.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass

from tacotron.health.runlog import RunLog
from tacotron.metrics.attention import ALIGNMENT_KEY

JUDGE_ALIGNMENT_AFTER = 2000  # steps; earlier, "not aligned yet" is normal
JUDGE_GATE_AFTER = 2000


@dataclass
class Verdict:
    level: str  # "error", "warning", "info", "ok"
    title: str
    detail: str = ""
    fix: str = ""


def _alignment(run: RunLog) -> tuple[str, str, list[int], list[float]]:
    """(source, measure, steps, values): validation when there is any, else the training batches' (health
    split); the r-independent `attn/alignment` (metrics/attention.py), or diagonality for a run logged by
    older code that has no alignment."""
    for measure in (ALIGNMENT_KEY, "attn/diagonality"):
        steps, values = run.series(f"val/{measure}", "val")
        if steps:
            return "validation", measure.removeprefix("attn/"), steps, values
        steps, values = run.series(measure, "health")
        if steps:
            return "training", measure.removeprefix("attn/"), steps, values
    return "validation", "alignment", [], []


def reduction_factors_used(run: RunLog) -> list[int | str]:
    """The r values the run trained with, in order, from its train metrics rows (the trainer logs "r" in
    every row): [4, 2] after an r schedule switched 4 -> 2; the last one is the r in force. Only when no
    train row has r (a run of older code) is it the config's n_frames_per_step, which a schedule overrides."""
    _, values = run.series("r", "train")
    if not values:
        return [run.cfg("model", "n_frames_per_step", "?")]
    used = [int(v) for v in values]
    return [used[0]] + [b for a, b in zip(used, used[1:], strict=False) if b != a]


def alignment_verdicts(run: RunLog) -> list[Verdict]:
    source, measure, steps, values = _alignment(run)
    if not steps:
        return [Verdict("info", "no attention health logged yet")]
    threshold = float(run.cfg("health", "align_threshold", 0.5))
    batch, r_used = run.cfg("train", "batch_size", "?"), reduction_factors_used(run)
    r = r_used[-1]
    guided = run.cfg("loss", "guided_attn_weight", "?")
    best = max(values)
    aligned_at = next((s for s, v in zip(steps, values, strict=True) if v >= threshold), None)
    last_step, last = steps[-1], values[-1]
    deadline = max(JUDGE_ALIGNMENT_AFTER, int(run.cfg("health", "align_deadline_step", 0) or 0))
    if aligned_at is None:
        title = f"attention not aligned after {last_step} steps at batch {batch} (r={r})"
        detail = f"best {source} {measure} {best:.2f} < {threshold:g}"
        if len(r_used) > 1:
            detail += f"; r changed during the run: {' -> '.join(map(str, r_used))}"
        fix = (
            f"raise the batch or r, raise the guided-attention weight (loss.guided_attn_weight, now {guided})"
        )
        if last_step < deadline:
            return [
                Verdict(
                    "info", f"attention not aligned yet at step {last_step}", detail + "; too early to judge"
                )
            ]
        return [Verdict("error", title, detail, fix)]
    collapse_ratio = float(run.cfg("health", "collapse_ratio", 0.6))
    if last < collapse_ratio * best:
        return [
            Verdict(
                "error",
                f"attention collapsed: {measure} {last:.2f} at step {last_step} after {best:.2f}",
                f"{source} {measure} first reached {threshold:g} at step {aligned_at}",
                "lower train.lr; keep guided attention longer (loss.guided_attn_decay_start)",
            )
        ]
    return [Verdict("ok", f"attention aligned at step {aligned_at}", f"{source} {measure} now {last:.2f}")]


def gate_verdicts(run: RunLog) -> list[Verdict]:
    steps, f1 = run.series("val/gate/f1", "val")
    if not steps:
        steps, f1 = run.series("gate/f1", "health")
    stop_steps, stops = run.series("val/infer/gate_stop", "val")
    if not steps:
        return []
    pos_weight = run.cfg("loss", "gate_pos_weight", "?")
    fix = f"check trailing silence (data.trim_db), raise loss.gate_pos_weight (now {pos_weight})"
    recent = f1[-3:]
    never_in_inference = bool(stops) and max(stops[-3:]) == 0.0
    if steps[-1] >= JUDGE_GATE_AFTER and (max(recent) < 0.05 or never_in_inference):
        where = "in synthesis" if never_in_inference else "at the true stop frame"
        return [
            Verdict(
                "error", "gate never fires", f"{where}; gate F1 {recent[-1]:.2f} at step {steps[-1]}", fix
            )
        ]
    return [Verdict("info", f"gate F1 {f1[-1]:.2f} at step {steps[-1]}")]


TRAINER_ANOMALIES = ("nonfinite_grad",)


def is_anomaly(event: dict) -> bool:
    """An anomaly event: reported by the HealthMonitor (source "health") or the trainer's own skip notice."""
    return event.get("source") == "health" or event.get("event") in TRAINER_ANOMALIES


def event_verdicts(run: RunLog) -> list[Verdict]:
    found: list[Verdict] = []
    anomalies = [e for e in run.events if is_anomaly(e)]
    by_kind = Counter(str(e.get("event")) for e in anomalies)
    for kind, count in sorted(by_kind.items()):
        first = next(e for e in anomalies if e.get("event") == kind)
        level = "error" if kind in ("nonfinite", "attention_collapse", "loss_scale_collapse") else "warning"
        if kind == "nonfinite_grad" and "nonfinite" in by_kind:
            continue  # the trainer's skip notice of a step the monitor already explained
        found.append(
            Verdict(
                level,
                f"{count} x {kind.replace('_', ' ')} (first at step {first.get('step')})",
                str(first.get("reason", "")),
                str(first.get("fix", "")),
            )
        )
    rollbacks = [e for e in run.events if e.get("event") == "rollback"]
    recoveries = [e for e in run.events if e.get("event") == "recovery"]
    if rollbacks:
        last = (recoveries or rollbacks)[-1]
        found.append(
            Verdict(
                "warning",
                f"{len(rollbacks)} rollback(s); last at step {last.get('step')}",
                str(last.get("action", "")),
            )
        )
    for e in run.events:
        if e.get("event") == "give_up":
            found.append(
                Verdict(
                    "error",
                    f"training stopped at step {e.get('step')}",
                    str(e.get("reason", "")),
                    "fix the cause named above, then resume from the last healthy checkpoint",
                )
            )
    return found


def loss_verdicts(run: RunLog) -> list[Verdict]:
    steps, loss = run.series("loss", "train")
    if len(loss) < 20:
        return []
    head = statistics.median(loss[: max(5, len(loss) // 10)])
    tail = statistics.median(loss[-max(5, len(loss) // 10) :])
    found = []
    if steps[-1] >= 500 and tail > 0.9 * head:
        found.append(
            Verdict(
                "warning",
                "training loss is not falling",
                f"median {head:.3g} -> {tail:.3g}",
                "check the LR (train.lr) and that the data is what you think (prepare report)",
            )
        )
    v_steps, val = run.series("val/loss", "val")
    if len(val) >= 3 and val[-1] > 1.2 * min(val) and tail < head:
        best_step = v_steps[val.index(min(val))]
        found.append(
            Verdict(
                "warning",
                f"validation loss rising since step {best_step} (overfitting)",
                f"{min(val):.3g} -> {val[-1]:.3g}",
                "use checkpoints/best.pt; add data, raise dropout, or set train.early_stop_patience",
            )
        )
    return found


def run_verdicts(run: RunLog) -> list[Verdict]:
    """Every verdict, worst first; one "ok" verdict when nothing is wrong."""
    found = alignment_verdicts(run) + gate_verdicts(run) + event_verdicts(run) + loss_verdicts(run)
    order = {"error": 0, "warning": 1, "info": 2, "ok": 3}
    found.sort(key=lambda v: order[v.level])
    if not any(v.level in ("error", "warning") for v in found):
        found.insert(0, Verdict("ok", "no problems detected", f"up to step {run.last_step}"))
    return found
