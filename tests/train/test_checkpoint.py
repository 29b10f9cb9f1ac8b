"""Atomic checkpoint files, rotation, format checks and RNG round trips."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from tacotron.model.checkpoint import FORMAT_VERSION, CheckpointError, load_checkpoint
from tacotron.train.checkpoint import (
    CheckpointManager,
    atomic_save,
    capture_rng_state,
    restore_rng_state,
)


def state(step: int) -> dict:
    return {"format_version": FORMAT_VERSION, "step": step, "w": torch.full((3,), float(step))}


def test_atomic_save_leaves_no_temp_file_and_loads(tmp_path):
    path = atomic_save(state(1), tmp_path / "a.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]
    assert load_checkpoint(path)["step"] == 1


def test_crash_before_rename_keeps_previous_file_intact(tmp_path):
    path = tmp_path / "a.pt"
    atomic_save(state(1), path)

    def crash(tmp):
        raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated"):
        atomic_save(state(2), path, before_rename=crash)
    assert load_checkpoint(path)["step"] == 1
    temps = [p for p in tmp_path.iterdir() if p.name != "a.pt"]
    assert len(temps) == 1 and temps[0].name.startswith(".a.pt.tmp.")


def test_truncated_or_foreign_files_are_rejected(tmp_path):
    good = atomic_save(state(1), tmp_path / "good.pt")
    data = good.read_bytes()
    bad = tmp_path / "step_00000002.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="step_00000002.pt"):
        load_checkpoint(bad)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="format_version"):
        load_checkpoint(tmp_path / "foreign.pt")
    torch.save({"format_version": FORMAT_VERSION + 1}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="not supported"):
        load_checkpoint(tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_manager_rotates_keeps_protected_and_ignores_temp_files(tmp_path):
    mgr = CheckpointManager(tmp_path, keep_last=2)
    first = mgr.save(state(1), 1)
    mgr.protected = {first}
    for step in (2, 3, 4):
        mgr.save(state(step), step)
    assert [s for s, _ in mgr.numbered()] == [1, 3, 4]
    mgr.save(state(4), 4, tag="best")
    (tmp_path / ".step_00000005.pt.tmp.123").write_bytes(b"partial")
    assert mgr.latest().name == "step_00000004.pt"
    assert [p.name for p in mgr.remove_stale_temp_files()] == [".step_00000005.pt.tmp.123"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "best.pt",
        "step_00000001.pt",
        "step_00000003.pt",
        "step_00000004.pt",
    ]
    with pytest.raises(ValueError, match="tag"):
        mgr.save(state(5), 5, tag="../evil")


def test_rng_state_round_trip_through_a_weights_only_file(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    saved = capture_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    atomic_save({"format_version": FORMAT_VERSION, "rng": saved}, tmp_path / "r.pt")
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    restore_rng_state(load_checkpoint(tmp_path / "r.pt")["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
