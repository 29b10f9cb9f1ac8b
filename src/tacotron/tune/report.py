"""The study report (report.html with embedded PNG plots, report.md with the same tables).

Why a report: a tuner's decisions must be visible to be trusted. This page opens with why the winner
won in plain language (explain.py: what changed versus the base config and what it bought), then shows
every trial with its state, the reason it was pruned or failed, its steps and seconds to alignment and
its intelligibility proxy, the optimisation history, parameter importances, a parallel-coordinate
plot, and each live-controller decision read from the trials' events.jsonl.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tacotron.config import Config

log = logging.getLogger(__name__)

CONTROLLER_NOTE = (
    "Trials train with the live controller off (a trial measures its config, not the controller's fixes), "
    "so this list is normally empty; a training run's decisions are in its events.jsonl and `tacotron report`."
)


def _trial_rows(study: Any) -> list[dict[str, Any]]:
    from tacotron.tune.storage import RETRY_OF, retried_number

    trials = study.get_trials(deepcopy=False)
    retries = {retried_number(t): t.number for t in trials if retried_number(t) is not None}
    rows = []
    for t in trials:
        attrs = t.user_attrs
        duration = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        reason = attrs.get("prune_reason") or attrs.get("fail_reason") or _retry_note(t)
        if t.number in retries:
            reason += f" (re-queued as trial {retries[t.number]})"
        if RETRY_OF in attrs:
            reason = f"retry of trial {attrs[RETRY_OF]}" + (f"; {reason}" if reason else "")
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": ", ".join(f"{v:.4f}" for v in t.values) if t.values else "",
                "seconds": f"{duration:.1f}" if duration is not None else "",
                "steps": attrs.get("steps", ""),
                "steps_to_align": _blank(attrs.get("steps_to_align")),
                "seconds_to_align": _blank(attrs.get("seconds_to_align")),
                "proxy": _proxy_cell(attrs),
                "reason": reason,
                "params": ", ".join(f"{k}={_fmt(v)}" for k, v in t.params.items()),
            }
        )
    return rows


def _blank(value: Any) -> Any:
    return "" if value is None else value


def _proxy_cell(attrs: dict[str, Any]) -> str:
    """ "wer 0.12" or "val_mel 1.03": which intelligibility proxy the trial had, and its value."""
    if attrs.get("proxy_value") is None:
        return ""
    return f"{attrs.get('proxy_kind', '')} {attrs['proxy_value']:.4g}"


def _retry_note(trial: Any) -> str:
    if trial.state.name == "FAIL":
        return "worker lost (heartbeat expired)"
    return ""


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def controller_events(study: Any) -> list[dict[str, Any]]:
    """Live-controller decisions of every trial whose run folder is readable on this machine."""
    events = []
    for t in study.get_trials(deepcopy=False):
        path = Path(t.user_attrs.get("run_dir", "")) / "events.jsonl"
        if not t.user_attrs.get("run_dir") or not path.is_file():
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line) if line.strip() else {}
            if str(record.get("event", "")).startswith("controller/"):
                events.append({"trial": t.number, **record})
    return events


def _png(plot_fn: Any, *args: Any, **kwargs: Any) -> str:
    """Render an `optuna.visualization.matplotlib` plot into a base64 PNG string."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)  # the matplotlib backend is "experimental"
        ax = plot_fn(*args, **kwargs)
    fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
    fig.set_size_inches(9, 5)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def make_plots(study: Any) -> dict[str, tuple[str | None, str]]:
    """{title: (base64 png or None, note)}; a plot that cannot be drawn says why."""
    from optuna.visualization import matplotlib as vis

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    multi = len(study.directions) > 1
    target = {"target": (lambda t: t.values[0]), "target_name": "score"} if multi else {}
    plots: dict[str, tuple[str | None, str]] = {}
    if not complete:
        note = "no completed trial yet"
        return {
            name: (None, note)
            for name in ("Optimisation history", "Parameter importances", "Parallel coordinates")
        }
    plots["Optimisation history"] = (_png(vis.plot_optimization_history, study, **target), "")
    if len(complete) < 2:
        plots["Parameter importances"] = (None, f"needs at least 2 completed trials, have {len(complete)}")
    else:
        try:
            plots["Parameter importances"] = (_png(vis.plot_param_importances, study, **target), "")
        except (ValueError, RuntimeError) as err:  # e.g. every completed trial sampled the same values
            plots["Parameter importances"] = (None, f"not computable: {err}")
    plots["Parallel coordinates"] = (_png(vis.plot_parallel_coordinate, study, **target), "")
    if multi:
        plots["Pareto front (score vs seconds per step)"] = (_png(vis.plot_pareto_front, study), "")
    elif any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        plots["Intermediate scores"] = (_png(vis.plot_intermediate_values, study), "")
    return plots


def _summary(study: Any, storage_desc: str) -> dict[str, Any]:
    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name for t in trials)
    best = None
    if not len(study.directions) > 1 and counts.get("COMPLETE"):
        b = study.best_trial
        best = {"number": b.number, "value": b.value, "params": b.params, **b.user_attrs}
    return {
        "study": study.study_name,
        "storage": storage_desc,
        "trials": len(trials),
        "counts": dict(counts),
        "best": best,
    }


def _table_md(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)\n"
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]).replace("|", "/") for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _table_html(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>(none)</p>"
    keys = list(rows[0])
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        f"<tr class='{html.escape(str(r.get('state', '')).lower())}'>"
        + "".join(f"<td>{html.escape(str(r[k]))}</td>" for k in keys)
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _event_rows(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "trial": e["trial"],
            "step": e.get("step"),
            "event": e.get("event"),
            "reason": e.get("reason"),
            "action": e.get("action"),
        }
        for e in events
    ]


def write_study_report(
    study: Any, out_dir: str | Path, storage_desc: str = "", base: Config | None = None
) -> tuple[Path, Path]:
    """Write report.html and report.md (and summary.json) into `out_dir`; returns (html, md).

    `base`: the study's base config, against which the winner's changes are explained (explain.py).
    """
    from tacotron.tune.explain import explain_winner

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = _summary(study, storage_desc)
    summary["verdict"] = explain_winner(study, base)
    rows = _trial_rows(study)
    events = _event_rows(controller_events(study))
    plots = make_plots(study)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    md_path.write_text(_markdown(summary, rows, events, plots), encoding="utf-8")
    html_path.write_text(_html(summary, rows, events, plots), encoding="utf-8")
    log.info("study report: %s", html_path)
    return html_path, md_path


def _header_lines(summary: dict[str, Any]) -> list[str]:
    counts = ", ".join(f"{k.lower()} {v}" for k, v in sorted(summary["counts"].items())) or "none"
    lines = [
        f"Study **{summary['study']}** in `{summary['storage']}`: {summary['trials']} trials ({counts})."
    ]
    best = summary["best"]
    if best:
        lines.append(
            f"Best trial {best['number']}: score {best['value']:.4f}, {_aligned_text(best)}, "
            f"params {best['params']}."
        )
    lines.append(f"Live view: `optuna-dashboard {summary['storage']}`.")
    return lines


def _aligned_text(best: dict[str, Any]) -> str:
    if best.get("steps_to_align") is None:
        return "never aligned"
    return f"aligned at step {best['steps_to_align']} ({best.get('seconds_to_align')} s)"


def _markdown(summary, rows, events, plots) -> str:
    parts = [f"# Smart Tuner study: {summary['study']}", "", *_header_lines(summary), ""]
    if summary["verdict"]:
        parts += ["## Why the winner", "", *(f"- {line}" for line in summary["verdict"]), ""]
    parts += ["## Trials", ""]
    parts += [_table_md(rows), "## Live-controller decisions", "", CONTROLLER_NOTE, "", _table_md(events)]
    parts += ["## Plots", ""]
    for title, (png, note) in plots.items():
        parts.append(f"- {title}: {'see report.html' if png else note}")
    return "\n".join(parts) + "\n"


def _html(summary, rows, events, plots) -> str:
    header = "".join(f"<p>{html.escape(line).replace('**', '')}</p>" for line in _header_lines(summary))
    if summary["verdict"]:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in summary["verdict"])
        header += f"<h2>Why the winner</h2><ul>{items}</ul>"
    figures = "".join(
        f"<h3>{html.escape(t)}</h3>"
        + (
            f"<img alt='{html.escape(t)}' src='data:image/png;base64,{png}'>"
            if png
            else f"<p>{html.escape(n)}</p>"
        )
        for t, (png, n) in plots.items()
    )
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:13px}"
        "td,th{border:1px solid #ccc;padding:3px 6px}tr.pruned{background:#fff6d5}tr.fail{background:#fde2e2}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>Study {html.escape(summary['study'])}</title>"
        f"<style>{style}</style></head><body><h1>Smart Tuner study: {html.escape(summary['study'])}</h1>"
        f"{header}<h2>Trials</h2>{_table_html(rows)}<h2>Live-controller decisions</h2><p>{CONTROLLER_NOTE}</p>"
        f"{_table_html(events)}"
        f"<h2>Plots</h2>{figures}</body></html>"
    )
