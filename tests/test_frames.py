"""`tacotron.frames` owns the frame arithmetic of r: its values, its range check, and that nobody else has it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from tacotron import frames

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "tacotron"
# The numpy ONNX runner must not import torch or the package; its mirror is checked in tests/test_export.py.
OWNERS = {PACKAGE / "frames.py", PACKAGE / "export_onnx_runner.py"}
# ceil(n / r), padded lengths and steps re-derived by hand: -(-n // r), (n + r - 1) // r, math.ceil(n / r),
# torch.div(n + r - 1, r, ...), -n % r, t // r (for any spelling of r: r, self.r, batch.r, fine_r, ...).
R = r"\b(?:\w+\.)?(?:\w+_)?r\b"
HAND_MADE = [
    re.compile(rf"//\s*{R}"),
    re.compile(rf"\+\s*{R}\s*-\s*1\b"),
    re.compile(rf"ceil\([^)]*/\s*{R}"),
    re.compile(rf"\s%\s+{R}\b"),
]


def _code_lines(path: Path) -> list[tuple[int, str]]:
    """Lines outside docstrings and comments (shapes like `[B, T // r, L]` in docs are fine)."""
    out, in_doc = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        stripped = line.strip()
        quotes = stripped.count('"""')
        if in_doc or stripped.startswith('"""'):
            in_doc = in_doc != (quotes % 2 == 1)
            continue
        out.append((number, line.split("#", 1)[0]))
    return out


def test_no_frame_arithmetic_outside_frames_py():
    found = [
        f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if path not in OWNERS
        for number, line in _code_lines(path)
        if any(p.search(line) for p in HAND_MADE)
    ]
    assert not found, "compute frames from r with tacotron.frames, not by hand:\n" + "\n".join(found)


def test_the_guard_sees_each_spelling():
    for line in ("-(-n // r) * r", "(x + r - 1) // r", "math.ceil(n / r)", "torch.div(n + batch.r - 1, batch.r)",
                 "extra = -t % self.r", "t // fine_r"):  # fmt: skip
        assert any(p.search(line) for p in HAND_MADE), line


@pytest.mark.parametrize(("n", "r", "steps"), [(1, 1, 1), (431, 2, 216), (9, 3, 3), (10, 3, 4), (0, 4, 0)])
def test_decoder_steps_and_padded_frames_on_ints_and_tensors(n, r, steps):
    assert frames.decoder_steps(n, r) == steps and frames.padded_frames(n, r) == steps * r
    t = torch.tensor([n, n + 1])
    assert frames.decoder_steps(t, r).tolist() == [steps, frames.decoder_steps(n + 1, r)]
    assert frames.padded_frames(t, r).tolist() == [steps * r, frames.padded_frames(n + 1, r)]


def test_step_of_frame_keeps_never():
    assert frames.step_of_frame(torch.tensor([-1, 0, 5, 6]), 3).tolist() == [-1, 0, 1, 2]
    assert frames.step_of_frame(-1, 3) == -1 and frames.step_of_frame(7, 2) == 3


def test_check_r_names_the_range_and_the_config_key():
    assert frames.check_r(frames.MAX_R) == frames.MAX_R
    for bad in (0, frames.MAX_R + 1, 2.0, True, "2", None):
        with pytest.raises(
            ValueError, match=rf"reduction factor r must be an int in 1\.\.{frames.MAX_R}, got"
        ):
            frames.check_r(bad)
    with pytest.raises(ValueError, match=r"1\.\.3 \(model\.max_frames_per_step\), got 4"):
        frames.check_r(4, 3)


def test_check_same_r_refuses_a_mismatch():
    assert frames.check_same_r(2, 2, "here") == 2
    with pytest.raises(ValueError, match=r"here: .*r=1 .*padded for r=2.*r=batch\.r"):
        frames.check_same_r(1, 2, "here")
