"""A real install, as a user gets it: a fresh venv outside the checkout, `pip install` of the project
(non-editable, core dependencies only), then demo-data -> prepare -> train -> synth -> report from a
folder that is not the checkout, with the shipped configs found by name.

The project is installed from a copy of what a source distribution holds (pyproject.toml, README.md,
src/), so the build leaves no build/ folder in the checkout. Versions come from requirements.lock
(as constraints: only what the core needs is installed), torch first as the CPU build, so pip's
cache serves the rest: about 2 minutes on 2 idle cores, 3.5 on 2 cores shared with other jobs
(a third installing; the first `prepare` also waits for librosa's numba functions to compile).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"
TINY_MODEL = [
    "model.symbols_embedding_dim=32",
    "model.encoder_embedding_dim=32",
    "model.encoder_n_convolutions=1",
    "model.attention_rnn_dim=48",
    "model.attention_dim=16",
    "model.attention_location_n_filters=4",
    "model.decoder_rnn_dim=48",
    "model.prenet_dim=32",
    "model.postnet_embedding_dim=32",
    "model.postnet_n_convolutions=2",
    "model.max_decoder_steps=30",
    "train.batch_size=4",
    "train.r_schedule=[]",
    "train.max_steps=3",
    "train.eval_every=3",
    "train.checkpoint_every=3",
    "train.n_val_synth=1",
    "data.workers=1",
]


def _sets(overrides: list[str]) -> list[str]:
    return [arg for item in overrides for arg in ("--set", item)]


def _env() -> dict[str, str]:
    """This process's environment without anything that points Python at the checkout or its venv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env.update(OMP_NUM_THREADS="2")
    return env


def _run(argv: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run one step; its wall time goes to stdout (`pytest -s` shows where the minutes go)."""
    start = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    name = Path(argv[0]).name if argv[0] != sys.executable else "python"
    print(f"{time.monotonic() - start:6.1f} s  {name} {' '.join(argv[1:3])}")
    assert proc.returncode == 0, (
        f"{' '.join(map(str, argv))} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    )
    return proc


def _copy_source(dest: Path) -> Path:
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dest / name)
    shutil.copytree(REPO / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return dest


@pytest.mark.slow
def test_fresh_install_outside_the_checkout_trains_and_synthesises(tmp_path):
    start = time.monotonic()
    venv, work = tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    python, tacotron = str(venv / "bin" / "python"), str(venv / "bin" / "tacotron")
    # --no-compile: byte-compiling all of torch at install takes longer than compiling what is imported
    pip = [python, "-m", "pip", "install", "-q", "--no-compile", "--disable-pip-version-check"]
    _run([*pip, TORCH], cwd=tmp_path)
    _run([*pip, "-c", str(REPO / "requirements.lock"), str(_copy_source(tmp_path / "source"))], cwd=tmp_path)
    installed = time.monotonic()

    probe = "import tacotron.configs as c; print(c.__file__); print(*c.shipped_names())"
    package_file, names = _run([python, "-c", probe], cwd=work, timeout=120).stdout.splitlines()
    assert Path(package_file).is_relative_to(venv), package_file  # the installed copy, not the checkout
    assert names.split() == sorted(p.name for p in (REPO / "src" / "tacotron" / "configs").glob("*.yaml"))

    def cli(line: str, *more: str) -> None:
        _run([tacotron, *line.split(), *more], cwd=work)

    sets = _sets(TINY_MODEL)  # on the shipped demo.yaml, found by name from a folder without it
    cli("demo-data --n 40 --out corpus")
    cli("prepare corpus --out dataset --no-progress --config demo.yaml", *sets)
    cli("train --data dataset --run run --device cpu --config demo.yaml", *sets)
    assert (work / "run" / "checkpoints" / "step_00000003.pt").is_file()
    cli("synth --checkpoint run --out synth --allow-truncated --text", "Hello there.")
    with wave.open(str(work / "synth" / "001.wav")) as wav:
        assert wav.getframerate() == 22050 and wav.getnframes() > 0
    cli("report run --quiet")
    assert (work / "run" / "report.html").is_file()

    # Without its extra, a feature is one line naming the extra (exit 2), not a traceback.
    for line, extra in (
        ("serve --checkpoint run", "serve"),
        ("synth --checkpoint run --out s2 --text Hi. --vocoder hifigan", "hifigan"),
    ):
        proc = subprocess.run([tacotron, *line.split()], cwd=work, env=_env(), capture_output=True, text=True)
        assert proc.returncode == 2 and f"pip install 'tacotron-trainer[{extra}]'" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    bench = subprocess.run([tacotron, "bench"], cwd=work, env=_env(), capture_output=True, text=True)
    assert bench.returncode == 2 and "source checkout" in bench.stderr and "Traceback" not in bench.stderr

    print(f"install {installed - start:.0f} s, commands {time.monotonic() - installed:.0f} s")
