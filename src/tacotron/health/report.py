"""`write_report(run_dir)`: a self-contained HTML report and a short Markdown summary of one run.

Why self-contained: the report is mailed, attached to issues and opened from a laptop after the GPU
box is gone. Plots are base64 PNGs inside the HTML (no network, no side files). It reads only the run
folder, so it works while training is still writing (see `runlog`).
"""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path
from typing import Any

import tacotron.health.report_plots as report_plots
from tacotron.health.runlog import RunLog, load_run
from tacotron.health.verdicts import Verdict, is_anomaly, run_verdicts

logger = logging.getLogger(__name__)

IMPORTANT_EVENTS = ("rollback", "recovery", "lr_scaled", "precision_changed", "give_up", "stop_requested")
LEVEL_MARK = {"error": "✖", "warning": "▲", "info": "•", "ok": "✔"}
LEVEL_COLOUR = {"error": "#b00020", "warning": "#b26a00", "info": "#335", "ok": "#1b7f3a"}
CSS = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.verdict{margin:.4em 0;padding:.5em .8em;border-left:5px solid;background:#f7f7f7}
.fix{color:#444;font-style:italic}img{max-width:100%}
table{border-collapse:collapse;font-size:.85em;width:100%}td,th{border:1px solid #ddd;padding:3px 6px;
text-align:left;vertical-align:top}tr.anomaly{background:#fff4e5}tr.rollback,tr.recovery,tr.give_up{background:#fde8ea}
.kv td:first-child{font-weight:600;width:14em}
"""


def _last(run: RunLog, key: str, split: str) -> float | None:
    values = run.series(key, split)[1]
    return values[-1] if values else None


def summary_numbers(run: RunLog) -> dict[str, str]:
    """The handful of numbers a reader wants first."""
    rows = {"run folder": str(run.run_dir), "last step": str(run.last_step)}
    for label, key, split in [
        ("train loss", "loss", "train"),
        ("val loss", "val/loss", "val"),
        ("val alignment", "val/attn/alignment", "val"),
        ("val diagonality", "val/attn/diagonality", "val"),
        ("train diagonality", "attn/diagonality", "health"),
        ("val gate F1", "val/gate/f1", "val"),
        ("learning rate", "lr", "train"),
    ]:
        value = _last(run, key, split)
        if value is not None:
            rows[label] = f"{value:.4g}"
    anomalies = sum(is_anomaly(e) for e in run.events)
    rollbacks = sum(e.get("event") == "rollback" for e in run.events)
    rows["events"] = f"{len(run.events)} ({anomalies} anomalies, {rollbacks} rollbacks)"
    if run.partial_lines:
        rows["note"] = f"{run.partial_lines} unfinished log line(s) left out (run still writing?)"
    return rows


def _verdict_html(v: Verdict) -> str:
    colour = LEVEL_COLOUR[v.level]
    parts = [
        f'<div class="verdict" style="border-color:{colour}"><b style="color:{colour}">'
        f"{LEVEL_MARK[v.level]} {html.escape(v.title)}</b>"
    ]
    if v.detail:
        parts.append(f"<br>{html.escape(v.detail)}")
    if v.fix:
        parts.append(f'<br><span class="fix">fix: {html.escape(v.fix)}</span>')
    return "".join(parts) + "</div>"


def _img(b64: str | None, alt: str) -> str:
    if b64 is None:
        return f"<p><i>no data for {html.escape(alt)} yet</i></p>"
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _audio(b64: str | None, name: str) -> str:
    """An inline player for a validation sample's audio (none when validation ran without a vocoder)."""
    if b64 is None:
        return ""
    return f'<p><audio controls preload="none" title="{html.escape(name)}" src="data:audio/wav;base64,{b64}"></audio></p>'


def _event_details(event: dict[str, Any]) -> str:
    shown = []
    for key in ("bad_input_ids", "bad_parameters", "first_module", "batch_ids", "value", "threshold", "fix"):
        value = event.get(key)
        if value not in (None, [], {}, ""):
            if isinstance(value, dict) and "module" in value:
                value = value["module"]
            shown.append(f"{key}: {value}")
    return "; ".join(shown)


def events_table(run: RunLog) -> str:
    if not run.events:
        return "<p><i>no events</i></p>"
    rows = ["<table><tr><th>step</th><th>event</th><th>why</th><th>action</th><th>details</th></tr>"]
    for e in run.events:
        cells = [
            e.get("step", ""),
            e.get("event", ""),
            e.get("reason", ""),
            e.get("action", ""),
            _event_details(e),
        ]
        tds = "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
        css = "anomaly" if is_anomaly(e) else html.escape(str(e.get("event", "")))
        rows.append(f'<tr class="{css}">{tds}</tr>')
    return "\n".join(rows) + "</table>"


def render_html(run: RunLog, verdicts: list[Verdict]) -> str:
    kv = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
        for k, v in summary_numbers(run).items()
    )
    sections = [
        ("Loss terms", _img(report_plots.loss_plot(run), "loss terms")),
        ("Learning rate and gradient norms", _img(report_plots.lr_grad_plot(run), "lr and grad norms")),
        ("Update ratio", _img(report_plots.update_plot(run), "update ratio")),
        ("Attention health", _img(report_plots.attention_plot(run), "attention health")),
        ("Alignments at checkpoints", _img(report_plots.alignment_grid(run), "alignments")),
        ("Gate and mel bands", _img(report_plots.gate_mel_plot(run), "gate and mel bands")),
        ("Events", _img(report_plots.events_plot(run), "events timeline") + events_table(run)),
    ]
    samples = report_plots.sample_images(run)
    if samples:
        imgs = "".join(f"<p>{html.escape(n)}</p>{_audio(wav, n)}{_img(b, n)}" for n, b, wav in samples)
        sections.insert(5, ("Validation samples", imgs))
    body = "\n".join(f"<h2>{html.escape(title)}</h2>\n{content}" for title, content in sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>tacotron run report: {html.escape(run.run_dir.name)}</title><style>{CSS}</style></head><body>"
        f"<h1>Run report: {html.escape(run.run_dir.name)}</h1>"
        f"<p>generated {time.strftime('%Y-%m-%d %H:%M:%S')}</p>"
        f'<table class="kv">{kv}</table><h2>Verdicts</h2>'
        + "\n".join(_verdict_html(v) for v in verdicts)
        + f"\n{body}\n</body></html>\n"
    )


def render_markdown(run: RunLog, verdicts: list[Verdict]) -> str:
    lines = [f"# Run report: {run.run_dir.name}", ""]
    lines += [f"- **{k}**: {v}" for k, v in summary_numbers(run).items()]
    lines += ["", "## Verdicts", ""]
    for v in verdicts:
        text = f"- {LEVEL_MARK[v.level]} **{v.level}**: {v.title}"
        text += f" ({v.detail})" if v.detail else ""
        text += f". Fix: {v.fix}" if v.fix else ""
        lines.append(text)
    important = [e for e in run.events if is_anomaly(e) or e.get("event") in IMPORTANT_EVENTS]
    if important:
        lines += ["", "## Events", "", "| step | event | why | action |", "|---|---|---|---|"]
        for e in important[-20:]:
            cells = [str(e.get(k, "")).replace("|", "/") for k in ("step", "event", "reason", "action")]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Plots: report.html in the same folder."]
    return "\n".join(lines) + "\n"


def write_report(run_dir: str | Path, out_dir: str | Path | None = None) -> tuple[Path, Path]:
    """Write `report.html` and `report.md` (into `out_dir`, default the run folder); returns both paths."""
    run = load_run(run_dir)
    verdicts = run_verdicts(run)
    out = Path(out_dir) if out_dir is not None else run.run_dir
    out.mkdir(parents=True, exist_ok=True)
    html_path, md_path = out / "report.html", out / "report.md"
    html_path.write_text(render_html(run, verdicts), encoding="utf-8")
    md_path.write_text(render_markdown(run, verdicts), encoding="utf-8")
    logger.info("report written: %s, %s", html_path, md_path)
    return html_path, md_path
