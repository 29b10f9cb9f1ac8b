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


def run_together(
    commands: list[tuple[list[str], dict[str, str]]], timeout: int = 300
) -> list[tuple[int, str]]:
    """Start every (argv, env) at once and wait for all: (exit code, stdout + stderr) of each, in order.

    A process still running when the time is up is killed: stuck in a collective (a peer died), it
    would otherwise outlive the test.
    """
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for cmd, env in commands
    ]
    try:
        outputs = [p.communicate(timeout=timeout)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [(p.returncode, out) for p, out in zip(procs, outputs, strict=True)]


def run_ranks(cmd: list[str], world_size: int = 2, timeout: int = 300) -> list[str]:
    """Run `cmd` once per rank of a local process group (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and
    MASTER_PORT set, one torch thread); assert every rank exits 0; return their outputs in rank order."""
    from tests.helpers.servers import free_port

    port = str(free_port())
    envs = [
        subprocess_env(
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            WORLD_SIZE=str(world_size),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=port,
        )  # fmt: skip
        for rank in range(world_size)
    ]
    results = run_together([(cmd, env) for env in envs], timeout)
    tails = "\n".join(f"--- rank {r} ---\n{out[-2000:]}" for r, (_, out) in enumerate(results))
    assert [code for code, _ in results] == [0] * world_size, tails
    return [out for _, out in results]
