"""The study report's plain-language verdict: what the winner changed versus the base config, and what
that bought.

Why: a table of trials answers "which trial won" but not "should I use it". This says which values
moved (param: base -> best), and what the winner measured against the other completed trials (the
median of each), in the terms the score is made of: steps and seconds to alignment, each weighted
score part, and the held-out intelligibility proxy. When a trial ran the base config's own values
(an enqueued baseline), the winner is compared with it directly.
"""

from __future__ import annotations

import statistics
from typing import Any

from tacotron.config import Config


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def base_value(base: Config, key: str) -> Any:
    """The base config's value of a dotted search-space key ("train.lr"); None when it has none."""
    node: Any = base
    for part in key.split("."):
        if not hasattr(node, part):
            return None
        node = getattr(node, part)
    return node


def _change(key: str, old: Any, new: Any) -> str:
    line = f"{key}: {_fmt(old)} -> {_fmt(new)}"
    numbers = isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(old, bool)
    if numbers and old and new != old:
        line += f" (x{new / old:.3g})"
    return line


def param_changes(best_params: dict[str, Any], base: Config) -> tuple[list[str], list[str]]:
    """("key: base -> best" for each changed param, names of params the winner left at base)."""
    changed, same = [], []
    for key, value in best_params.items():
        old = base_value(base, key)
        if old == value or (
            isinstance(old, float) and isinstance(value, float) and abs(old - value) <= 1e-12
        ):
            same.append(key)
        else:
            changed.append(_change(key, old, value))
    return changed, same


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _alignment_line(best: Any, others: list[Any]) -> str:
    attrs = best.user_attrs
    step, seconds = attrs.get("steps_to_align"), attrs.get("seconds_to_align")
    if step is None:
        line = f"never aligned within its {attrs.get('steps', '?')} steps"
    else:
        line = f"aligned at step {step}" + (
            f" ({seconds:.0f} s into the trial)" if seconds is not None else ""
        )
    if others:
        reached = [
            t.user_attrs["steps_to_align"] for t in others if t.user_attrs.get("steps_to_align") is not None
        ]
        line += f"; {len(reached)} of the {len(others)} other completed trials aligned"
        if reached:
            line += f" (median step {_fmt(_median([float(s) for s in reached]))})"
    return "What it bought: " + line + "."


def _parts_line(best: Any, others: list[Any]) -> str | None:
    parts = best.user_attrs.get("score_parts")
    if not parts:
        return None
    texts = []
    for name, value in parts.items():
        theirs = [
            float(t.user_attrs["score_parts"][name])
            for t in others
            if name in t.user_attrs.get("score_parts", {})
        ]
        if not value and not any(theirs):
            continue  # a part that is 0 everywhere (the proxy without a judge) explains nothing
        text = f"{name} {value:.4g}"
        if theirs:
            text += f" (others' median {_median(theirs):.4g})"
        texts.append(text)
    return "Score parts (weighted, lower is better): " + ", ".join(texts) + "."


def _proxy_line(best: Any, others: list[Any]) -> str | None:
    attrs = best.user_attrs
    if "proxy_kind" not in attrs or attrs.get("proxy_value") is None:
        return None
    name = "held-out WER" if attrs["proxy_kind"] == "wer" else "validation mel loss"
    line = f"Intelligibility proxy: {name} {attrs['proxy_value']:.4g}"
    theirs = [
        float(t.user_attrs["proxy_value"])
        for t in others
        if t.user_attrs.get("proxy_kind") == attrs["proxy_kind"]
        and t.user_attrs.get("proxy_value") is not None
    ]
    if theirs:
        line += f" (others' median {_median(theirs):.4g})"
    if attrs["proxy_kind"] == "wer":
        return line + f": {attrs.get('proxy_detail', '')}."
    return line + "; no ASR judge result (see proxy_detail)."


def runs_base_values(params: dict[str, Any], base: Config) -> bool:
    """Whether a trial's sampled values are exactly the base config's (an enqueued baseline trial)."""
    return bool(params) and all(base_value(base, k) == v for k, v in params.items())


def _baseline_line(best: Any, complete: list[Any], base: Config) -> str | None:
    """The winner against a completed trial that ran exactly the base config's values, if any."""
    for t in complete:
        if t.number != best.number and runs_base_values(t.params, base):
            align = t.user_attrs.get("steps_to_align")
            return (
                f"Against trial {t.number}, which ran the base config's own values: score {t.value:.4f} vs "
                f"{best.value:.4f}, steps to alignment {align if align is not None else 'never'} vs "
                f"{best.user_attrs.get('steps_to_align') or 'never'}."
            )
    return None


def explain_winner(study: Any, base: Config | None) -> list[str]:
    """Plain-language lines about the best trial; [] when no trial completed or the study is multi-objective."""
    if len(study.directions) > 1:
        return []
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        return []
    best = study.best_trial
    others = [t for t in complete if t.number != best.number]
    lines = [
        f"Trial {best.number} won with score {best.value:.4f} (lower is better) of {len(complete)} completed."
    ]
    if base is not None:
        changed, same = param_changes(best.params, base)
        line = "What changed versus the base config: " + ("; ".join(changed) if changed else "nothing")
        lines.append(line + (f"; left at the base value: {', '.join(same)}." if same else "."))
    lines.append(_alignment_line(best, others))
    lines += [line for line in (_parts_line(best, others), _proxy_line(best, others)) if line]
    if base is not None:
        lines += [line for line in (_baseline_line(best, complete, base),) if line]
    return lines
