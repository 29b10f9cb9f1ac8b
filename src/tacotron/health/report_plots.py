"""The report's figures, each returned as a base64 PNG string (so the HTML file is self-contained).

matplotlib is imported inside the functions (it is optional on the training import path) and used
through `Figure` + the Agg canvas, never pyplot, so no global figure state and no display needed.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np

from tacotron.health.runlog import RunLog
from tacotron.metrics.attention import ALIGNMENT_KEY

EVENT_COLOURS = {"rollback": "tab:red", "recovery": "tab:red", "lr_scaled": "tab:purple", "give_up": "black"}
ANOMALY_COLOUR = "tab:orange"


def _figure(rows: int = 1, height: float = 3.0) -> tuple[Any, list[Any]]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, height * rows), dpi=80)
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    return fig, list(axes)


def _png(fig: Any) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _lines(ax: Any, run: RunLog, keys: list[str], split: str, label_prefix: str = "") -> int:
    drawn = 0
    for key in keys:
        steps, values = run.series(key, split)
        if not steps:
            continue
        # a rollback makes the step go back: draw each stretch of increasing steps as its own line
        cuts = [0] + [i for i in range(1, len(steps)) if steps[i] <= steps[i - 1]] + [len(steps)]
        colour = None
        for start, end in zip(cuts[:-1], cuts[1:], strict=True):
            (line,) = ax.plot(
                steps[start:end],
                values[start:end],
                color=colour,
                linewidth=1.2,
                label=label_prefix + key if colour is None else None,
            )
            colour = line.get_color()
        drawn += 1
    if drawn:
        ax.legend(fontsize=7, loc="best")
    return drawn


def _colour(event: dict[str, Any]) -> str | None:
    from tacotron.health.verdicts import is_anomaly

    return ANOMALY_COLOUR if is_anomaly(event) else EVENT_COLOURS.get(str(event.get("event")))


def _mark_events(ax: Any, run: RunLog) -> None:
    for event in run.events:
        colour = _colour(event)
        if colour and isinstance(event.get("step"), int):
            ax.axvline(event["step"], color=colour, linestyle="--", linewidth=0.8, alpha=0.8)


def loss_plot(run: RunLog) -> str | None:
    """Every training loss term (log scale) and the validation loss, with anomaly/rollback marks."""
    train_keys = [k for k in run.keys("train") if k == "loss" or "/" in k and not k.startswith("grad")]
    train_keys = [k for k in train_keys if k.split("/")[0] in ("loss", "mel", "gate", "attn")]
    fig, (ax,) = _figure()
    drawn = _lines(ax, run, train_keys, "train") + _lines(ax, run, ["val/loss"], "val")
    if not drawn:
        return None
    ax.set_yscale("log")
    ax.set(title="loss terms (dashed: orange anomaly, red rollback)", xlabel="step")
    _mark_events(ax, run)
    return _png(fig)


def lr_grad_plot(run: RunLog) -> str | None:
    """Learning rate, and gradient norm: total each step plus per module every detail step."""
    fig, (ax_lr, ax_grad) = _figure(rows=2)
    drawn_lr = _lines(ax_lr, run, ["lr"], "train")
    ax_lr.set(title="learning rate", xlabel="step")
    drawn_grad = _lines(ax_grad, run, ["grad_norm"], "train")
    drawn_grad += _lines(ax_grad, run, run.keys("health", "grad_norm/"), "health")
    if not (drawn_lr or drawn_grad):
        return None
    if drawn_grad:
        ax_grad.set_yscale("log")
    ax_grad.set(title="gradient norm per module (before clipping)", xlabel="step")
    _mark_events(ax_grad, run)
    return _png(fig)


def update_plot(run: RunLog) -> str | None:
    """Update/parameter ratio per module (healthy Adam training sits around 1e-3)."""
    keys = run.keys("health", "update_ratio/")
    if not keys:
        return None
    fig, (ax,) = _figure()
    _lines(ax, run, keys, "health")
    ax.set_yscale("log")
    ax.set(title="update / parameter norm ratio per module", xlabel="step")
    return _png(fig)


def attention_plot(run: RunLog) -> str | None:
    """Attention health over time: training batches (health) and validation."""
    # alignment is what the threshold applies to (r-independent); diagonality beside it for reference
    names = [ALIGNMENT_KEY, "attn/diagonality", "attn/monotonicity", "attn/coverage", "attn/end_alignment"]
    fig, (ax,) = _figure(height=3.5)
    drawn = _lines(ax, run, names, "health", "train ") + _lines(ax, run, [f"val/{n}" for n in names], "val")
    if not drawn:
        return None
    threshold = float(run.cfg("health", "align_threshold", 0.5))
    ax.axhline(threshold, color="grey", linestyle=":", linewidth=1)
    ax.set(title="attention health (dotted: threshold of attn/alignment)", xlabel="step", ylim=(0, 1.05))
    return _png(fig)


def gate_mel_plot(run: RunLog) -> str | None:
    """Gate F1/accuracy and mel error per frequency band."""
    fig, (ax_gate, ax_mel) = _figure(rows=2)
    drawn = _lines(ax_gate, run, ["gate/f1", "gate/accuracy"], "health", "train ")
    drawn += _lines(ax_gate, run, ["val/gate/f1", "val/infer/gate_stop"], "val")
    ax_gate.set(title="stop gate", xlabel="step", ylim=(0, 1.05))
    bands = run.keys("health", "mel_band/")
    drawn += _lines(ax_mel, run, bands, "health")
    ax_mel.set(title="mel L1 error by band (0 = lowest frequencies)", xlabel="step")
    return _png(fig) if drawn else None


def alignment_grid(run: RunLog, max_images: int = 6) -> str | None:
    """The alignment snapshots saved at checkpoints (latest `max_images`), side by side."""
    chosen = run.alignments[-max_images:]
    if not chosen:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3 * len(chosen), 3), dpi=80)
    axes = fig.subplots(1, len(chosen), squeeze=False)[0]
    for ax, (step, path) in zip(axes, chosen, strict=True):
        align = np.load(path).astype(np.float32)  # (T_dec, L)
        ax.imshow(align.T, aspect="auto", origin="lower", interpolation="none", vmin=0, vmax=1)
        ax.set(title=f"step {step}", xlabel="decoder step", ylabel="symbol")
    return _png(fig)


def events_plot(run: RunLog) -> str | None:
    """Timeline: one row per event type, one mark per event."""
    events = [e for e in run.events if isinstance(e.get("step"), int)]
    if not events:
        return None
    kinds = sorted({str(e.get("event")) for e in events})
    fig, (ax,) = _figure(height=max(1.5, 0.4 * len(kinds) + 1))
    for row, kind in enumerate(kinds):
        chosen = [e for e in events if str(e.get("event")) == kind]
        colour = _colour(chosen[0]) or "tab:blue"
        ax.scatter([e["step"] for e in chosen], [row] * len(chosen), color=colour, marker="|", s=300)
    ax.set_yticks(range(len(kinds)), kinds)
    ax.set(title="events timeline", xlabel="step", ylim=(-0.7, len(kinds) - 0.3))
    return _png(fig)


def sample_images(run: RunLog, max_images: int = 4) -> list[tuple[str, str, str | None]]:
    """(file name, PNG base64, WAV base64 or None) of the latest validation samples the trainer wrote.

    The WAV is the figure's namesake (`step_..._<id>.wav`, written when validation has a vocoder), so the
    report lets one listen to what the plots show.
    """
    return [(p.name, _b64(p), _b64(p.with_suffix(".wav"))) for p in run.samples[-max_images:]]


def _b64(path: Path) -> str | None:
    return base64.b64encode(path.read_bytes()).decode("ascii") if path.is_file() else None
