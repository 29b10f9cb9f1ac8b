"""The report on synthetic run folders: verdicts, partial logs, self-contained HTML, headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tacotron.cli import main
from tacotron.config import Config
from tacotron.health.report import write_report
from tacotron.health.runlog import load_run, read_jsonl
from tacotron.health.verdicts import alignment_verdicts, run_verdicts

CHROMIUM = shutil.which("chromium")


def write_run(
    run_dir: Path,
    steps: int,
    diag: float,
    gate_f1: float,
    events: list[dict] | None = None,
    partial: bool = True,
    r_at: dict[int, int] | None = None,
    alignment: float | None = None,
) -> Path:
    """A run folder as the trainer + HealthMonitor write it, with a partial last metrics line.

    r_at: {from_step: r} logged in the train rows as an r schedule would (default: no "r" key).
    alignment: the r-independent attn/alignment beside diagonality (default: not logged, as older code)."""
    cfg = Config()
    cfg.train.batch_size = 16
    run_dir.mkdir(parents=True)
    cfg.save(run_dir / "config.yaml")
    lines = []
    for step in range(1, steps + 1, max(1, steps // 50)):
        loss = 5.0 / math.sqrt(step)
        lines.append(
            {
                "step": step,
                "time": 0.0,
                "split": "train",
                "loss": loss,
                "mel/before": loss / 2,
                "gate": 0.1,
                "grad_norm": 2.0,
                "lr": 1e-3,
            }
        )
        if r_at:
            lines[-1]["r"] = [r for start, r in sorted(r_at.items()) if start <= step][-1]
        lines.append(
            {
                "step": step,
                "time": 0.0,
                "split": "health",
                "attn/diagonality": diag,
                **({} if alignment is None else {"attn/alignment": alignment}),
                "attn/coverage": diag,
                "gate/f1": gate_f1,
                "grad_norm/decoder": 1.0,
                "grad_norm/attention": 0.5,
                "update_ratio/decoder": 1e-3,
                "mel_band/0": 0.3,
            }
        )
    lines.append(
        {
            "step": steps,
            "time": 0.0,
            "split": "val",
            "val/loss": 1.0,
            "val/attn/diagonality": diag,
            **({} if alignment is None else {"val/attn/alignment": alignment}),
            "val/gate/f1": gate_f1,
        }
    )
    text = "".join(json.dumps(r) + "\n" for r in lines)
    if partial:
        text += '{"step": 99999, "split": "train", "lo'  # the trainer is mid-write
    (run_dir / "metrics.jsonl").write_text(text)
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events or []))
    align = run_dir / "health" / "alignments"
    align.mkdir(parents=True)
    np.save(align / f"step_{steps:08d}.npy", np.eye(20, 12, dtype=np.float16))
    return run_dir


SPIKE_EVENTS = [
    {
        "step": 700,
        "time": 0,
        "event": "loss_spike",
        "reason": "loss 90 is 30x its running median 3",
        "action": "roll back (2 anomalies in 100 steps)",
        "source": "health",
        "batch_ids": ["LJ001-0001"],
        "fix": "lower train.lr",
    },
    {
        "step": 700,
        "time": 0,
        "event": "rollback",
        "reason": "to step 600",
        "action": "checkpoints/step_00000600.pt",
    },
    {"step": 600, "time": 0, "event": "lr_scaled", "reason": "x0.5", "action": "lr=0.0005"},
    {
        "step": 701,
        "time": 0,
        "event": "nonfinite",
        "reason": "non-finite values: loss=nan",
        "action": "continue",
        "source": "health",
        "first_module": {"module": "decoder.frame_projection"},
        "bad_input_ids": ["LJ009-0009"],
    },
]


def test_read_jsonl_skips_partial_tail(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1, "loss": "nan"}\n{"step": 2}\n{"step": 3, "lo')
    read = read_jsonl(path)
    assert [r["step"] for r in read.records] == [1, 2] and read.bad_lines == 1
    assert read_jsonl(tmp_path / "missing.jsonl").records == []


def test_unaligned_run_and_silent_gate_get_named_verdicts_with_fixes(tmp_path):
    run = load_run(write_run(tmp_path / "run", steps=8000, diag=0.1, gate_f1=0.0))
    assert run.partial_lines == 1
    verdicts = {v.title: v for v in run_verdicts(run)}
    title = "attention not aligned after 8000 steps at batch 16 (r=1)"
    assert verdicts[title].level == "error"
    assert "raise the batch or r" in verdicts[title].fix and "guided_attn_weight" in verdicts[title].fix
    assert (
        "trailing silence" in verdicts["gate never fires"].fix
        and "gate_pos_weight" in verdicts["gate never fires"].fix
    )


def test_alignment_verdict_reports_the_r_used_not_the_configs(tmp_path):
    """The config says r=1, but the train rows show an r schedule 4 -> 2: the verdict names r=2 and the change."""
    run = load_run(write_run(tmp_path / "run", steps=8000, diag=0.1, gate_f1=0.0, r_at={0: 4, 3000: 2}))
    assert run.cfg("model", "n_frames_per_step") == 1
    verdict = next(v for v in run_verdicts(run) if v.title.startswith("attention not aligned"))
    assert verdict.title == "attention not aligned after 8000 steps at batch 16 (r=2)"
    assert "r changed during the run: 4 -> 2" in verdict.detail
    steady = load_run(write_run(tmp_path / "steady", steps=8000, diag=0.1, gate_f1=0.0, r_at={0: 3}))
    verdict = next(v for v in run_verdicts(steady) if v.title.startswith("attention not aligned"))
    assert verdict.title.endswith("(r=3)") and "changed" not in verdict.detail


def test_alignment_verdict_reads_the_r_independent_alignment(tmp_path):
    """At r = 4 a correct alignment has diagonality ~0.35 (under the 0.5 threshold) and alignment ~0.9:
    aligned. A run logged by older code without alignment is judged on diagonality, and says so."""
    r4 = load_run(write_run(tmp_path / "r4", steps=8000, diag=0.35, gate_f1=0.9, r_at={0: 4}, alignment=0.9))
    verdict = alignment_verdicts(r4)[0]
    assert verdict.level == "ok" and verdict.detail == "validation alignment now 0.90"
    scrambled = load_run(write_run(tmp_path / "bad", steps=8000, diag=0.6, gate_f1=0.9, alignment=0.2))
    verdict = alignment_verdicts(scrambled)[0]
    assert verdict.level == "error" and verdict.detail == "best validation alignment 0.20 < 0.5"
    old = load_run(write_run(tmp_path / "old", steps=8000, diag=0.35, gate_f1=0.9))
    assert alignment_verdicts(old)[0].detail == "best validation diagonality 0.35 < 0.5"


def test_healthy_run_is_ok_and_events_become_verdicts(tmp_path):
    healthy = run_verdicts(load_run(write_run(tmp_path / "ok", steps=8000, diag=0.8, gate_f1=0.9)))
    assert healthy[0].level == "ok" and healthy[0].title == "no problems detected"
    spiky = run_verdicts(load_run(write_run(tmp_path / "spiky", 8000, 0.8, 0.9, events=SPIKE_EVENTS)))
    titles = [v.title for v in spiky]
    assert "1 x loss spike (first at step 700)" in titles
    assert "1 rollback(s); last at step 700" in titles
    assert spiky[0].level == "error"  # the NaN comes first


def test_write_report_html_and_markdown(tmp_path):
    run_dir = write_run(tmp_path / "run", steps=8000, diag=0.1, gate_f1=0.0, events=SPIKE_EVENTS)
    html_path, md_path = write_report(run_dir)
    html = html_path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in html
    assert "http://" not in html and "https://" not in html  # self-contained
    images = html.split('src="data:image/png;base64,')[1:]
    assert len(images) >= 6  # loss, lr/grad, update, attention, alignments, gate/mel, events
    for chunk in images:
        png = base64.b64decode(chunk.split('"', 1)[0])
        assert png.startswith(b"\x89PNG")
    for needle in (
        "loss_spike",
        "rollback",
        "lr_scaled",
        "decoder.frame_projection",
        "LJ009-0009",
        "attention not aligned after 8000 steps",
        "gate never fires",
    ):
        assert needle in html, needle
    md = md_path.read_text(encoding="utf-8")
    assert "attention not aligned after 8000 steps at batch 16" in md and "| 700 | loss_spike |" in md


def test_cli_report(tmp_path, capsys):
    run_dir = write_run(tmp_path / "run", steps=100, diag=0.1, gate_f1=0.0)
    assert main(["report", str(run_dir), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "report.html").is_file() and "Verdicts" in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "run folder not found" in capsys.readouterr().err


def render_with_chromium(html_path: Path, tmp_path: Path) -> np.ndarray:
    """Screenshot `html_path` in headless Chromium; returns the RGB image."""
    from matplotlib.image import imread

    shot = tmp_path / "shot.png"
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium'}",
        "--window-size=1100,2400",
        f"--screenshot={shot}",
        html_path.resolve().as_uri(),
    ]
    subprocess.run(cmd, check=True, timeout=120, capture_output=True)
    assert shot.is_file(), "chromium wrote no screenshot"
    return imread(io.BytesIO(shot.read_bytes()), format="png")[..., :3]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (`make browser` installs it)")
def test_report_renders_in_headless_chromium(tmp_path):
    run_dir = write_run(tmp_path / "run", steps=8000, diag=0.1, gate_f1=0.0, events=SPIKE_EVENTS)
    html_path, _ = write_report(run_dir)
    image = render_with_chromium(html_path, tmp_path)
    assert image.shape[0] >= 2000 and image.shape[1] >= 1000
    colours = np.unique((image.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colours) > 50  # text, verdict colours and plot lines, not a blank page
    red = (image[..., 0] > 0.6) & (image[..., 1] < 0.3) & (image[..., 2] < 0.3)
    assert red.sum() > 50  # the error verdicts' red marks were drawn


def test_not_a_run_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        load_run(tmp_path)


def test_validation_samples_get_audio_players_when_validation_wrote_audio(tmp_path):
    from matplotlib.figure import Figure

    from tacotron.train.validate import write_pcm16

    run_dir = write_run(tmp_path / "run", steps=100, diag=0.8, gate_f1=0.9)
    samples = run_dir / "samples"
    samples.mkdir()
    for item in ("LJ001-0001", "LJ001-0002"):
        Figure(figsize=(1, 1)).savefig(samples / f"step_00000100_{item}.png")
    write_pcm16(samples / "step_00000100_LJ001-0001.wav", np.zeros(2205, dtype=np.float32), 22050)
    html = write_report(run_dir)[0].read_text(encoding="utf-8")
    players = html.split('src="data:audio/wav;base64,')[1:]
    assert len(players) == 1  # only the sample that has a wav
    assert base64.b64decode(players[0].split('"', 1)[0]).startswith(b"RIFF")
    assert "step_00000100_LJ001-0002.png" in html  # the sample without audio keeps its figure
