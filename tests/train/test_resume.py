"""Exact resume across processes, and a kill -9 in the middle of a checkpoint write."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tests.helpers.checkpoints import model_params
from tests.helpers.configs import fast_config
from tests.helpers.processes import run_python

from tacotron.train import Trainer, load_checkpoint

HERE = Path(__file__).resolve().parent


@pytest.mark.slow
def test_resume_in_a_fresh_process_matches_an_uninterrupted_run(tiny_dataset, tmp_path):
    # eval at step 2 (with a synthesis) must not disturb the RNG stream either
    cfg = fast_config(max_steps=4, eval_every=2, n_val_synth=1)
    straight = Trainer(cfg, tiny_dataset, tmp_path / "straight", device="cpu").fit()
    assert straight.step == 4

    half = fast_config(max_steps=2, eval_every=2, n_val_synth=1)
    run = tmp_path / "split"
    assert Trainer(half, tiny_dataset, run, device="cpu").fit().step == 2
    proc = run_python(
        [
            "-m",
            "tacotron",
            "train",
            "--config",
            str(run / "config.yaml"),
            "--data",
            str(tiny_dataset),
            "--run",
            str(run),
            "--resume",
            "--device",
            "cpu",
            "--set",
            "train.max_steps=4",
        ]
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    a = load_checkpoint(straight.last_checkpoint)
    b = load_checkpoint(run / "checkpoints" / "step_00000004.pt")
    assert b["step"] == 4 and b["sampler"] == a["sampler"]
    params_a, params_b = (
        model_params(straight.last_checkpoint),
        model_params(run / "checkpoints" / "step_00000004.pt"),
    )
    assert params_a.keys() == params_b.keys()
    different = [k for k in params_a if not torch.equal(params_a[k], params_b[k])]
    assert not different, f"weights differ after resume: {different[:5]}"
    moved = model_params(run / "checkpoints" / "step_00000002.pt")
    assert any(not torch.equal(moved[k], params_b[k]) for k in moved), "the resumed steps changed nothing"
    events = [json.loads(line)["event"] for line in (run / "events.jsonl").read_text().splitlines()]
    assert "resumed" in events


def test_kill_9_while_writing_a_checkpoint_leaves_the_run_resumable(tiny_dataset, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    cfg = fast_config(max_steps=6, checkpoint_every=2)
    cfg.save(run / "input.yaml")
    proc = run_python(
        [
            str(HERE / "scripts" / "crash_in_checkpoint.py"),
            str(run / "input.yaml"),
            str(tiny_dataset),
            str(run),
            "2",
        ]
    )
    assert proc.returncode == -9, proc.stderr[-3000:]

    ckpt_dir = run / "checkpoints"
    names = sorted(p.name for p in ckpt_dir.iterdir())
    assert "step_00000002.pt" in names and "step_00000004.pt" not in names
    partial = [n for n in names if n.startswith(".step_00000004.pt.tmp.")]
    assert len(partial) == 1, names
    assert load_checkpoint(ckpt_dir / "step_00000002.pt")["step"] == 2

    result = Trainer(cfg, tiny_dataset, run, device="cpu").fit()
    assert result.step == 6
    assert not any(p.name.startswith(".") for p in ckpt_dir.iterdir()), "the stale temp file was not removed"
    assert load_checkpoint(result.last_checkpoint)["step"] == 6
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "resumed" and e["step"] == 2 for e in events)
    # steps 3-4 logged by the killed process were dropped and re-logged once by the resumed one
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if m["split"] == "train"] == [1, 2, 3, 4, 5, 6]


def test_resume_skips_a_damaged_newest_checkpoint_and_names_it(tiny_dataset, tmp_path):
    cfg = fast_config(max_steps=4, checkpoint_every=2, keep_last=0)
    assert Trainer(cfg, tiny_dataset, tmp_path, device="cpu").fit().step == 4
    newest = tmp_path / "checkpoints" / "step_00000004.pt"
    newest.write_bytes(newest.read_bytes()[:1000])  # a copy cut short / a full disk

    trainer = Trainer(
        fast_config(max_steps=6, checkpoint_every=2, keep_last=0), tiny_dataset, tmp_path, device="cpu"
    )
    assert trainer.step == 2  # the newest intact checkpoint
    result = trainer.fit()
    assert result.step == 6 and load_checkpoint(result.last_checkpoint)["step"] == 6
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    [skipped] = [e for e in events if e["event"] == "checkpoint_skipped"]
    assert skipped["path"] == str(newest) and skipped["action"] == "resumed from step_00000002.pt"
    assert load_checkpoint(newest)["step"] == 4  # training past step 4 wrote it anew, intact


def test_resume_with_no_intact_checkpoint_starts_fresh_and_says_so(tiny_dataset, tmp_path):
    cfg = fast_config(max_steps=2, checkpoint_every=2)
    Trainer(cfg, tiny_dataset, tmp_path, device="cpu").fit()
    only = tmp_path / "checkpoints" / "step_00000002.pt"
    only.write_bytes(b"not a checkpoint")
    trainer = Trainer(fast_config(max_steps=2, checkpoint_every=2), tiny_dataset, tmp_path, device="cpu")
    assert trainer.step == 0 and trainer.checkpoints.skipped_damaged == [only]
    trainer.close()
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    skipped = [(e["path"], e["action"]) for e in events if e["event"] == "checkpoint_skipped"]
    assert skipped == [(str(only), "starting from step 0")]
