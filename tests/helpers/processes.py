"""Running Python in a subprocess the way the tests need it: one thread, the source tree on the path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def subprocess_env(**extra: str) -> dict[str, str]:
    """One torch thread (same float results as this process) and the source tree on the path."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", TACOTRON_TEST_THREADS="1", PYTHONPATH=str(SRC))
    env.update(extra)
    return env


def run_python(
    args: list[str], env: dict[str, str] | None = None, timeout: int = 240
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=env or subprocess_env(), capture_output=True, text=True, timeout=timeout
    )
