"""Running Python in a subprocess the way the tests need it: one thread, the source tree on the path."""

from __future__ import annotations

import os
import subprocess
import sys
import time
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

    Processes still running when the time is up are killed (stuck in a collective, they would outlive
    the test) and the test fails with every process's output, the stuck ones' included: a hang in a
    multi-process test is only diagnosable from all sides.
    """
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for cmd, env in commands
    ]
    deadline = time.monotonic() + timeout
    outputs: list[str] = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=max(0.1, deadline - time.monotonic()))[0])
    except subprocess.TimeoutExpired:
        stuck = [i for i, p in enumerate(procs) if p.poll() is None]
        for p in procs:
            if p.poll() is None:
                p.kill()
        outputs += [p.communicate()[0] for p in procs[len(outputs) :]]
        tails = "\n".join(f"--- process {i} ---\n{out[-3000:]}" for i, out in enumerate(outputs))
        raise AssertionError(f"processes {stuck} still running after {timeout} s (killed)\n{tails}") from None
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
