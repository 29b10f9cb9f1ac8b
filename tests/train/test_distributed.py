"""DDP with two gloo processes on CPU, against one process accumulating the same global batch."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path

import pytest
import torch
from tests.helpers.configs import fast_config, no_dropout
from tests.helpers.datasets import write_synthetic_dataset
from tests.helpers.processes import run_ranks, run_together, subprocess_env
from tests.helpers.servers import free_port

from tacotron.train import Callback, Trainer

HERE = Path(__file__).resolve().parent

BIAS_BEFORE_BATCHNORM = re.compile(r"^(encoder|postnet)\.convs\.\d+\.bias$")


class KeepParameters(Callback):
    def on_train_end(self, trainer):
        self.params = {k: v.detach().clone() for k, v in trainer.model.named_parameters()}


def run_two_ranks(cfg, dataset, run_dir, out, *extra: str) -> list[dict]:
    """Train with two gloo ranks (scripts/ddp_worker.py); each rank's saved end state."""
    cfg.save(out / "ddp.yaml")
    script = str(HERE / "scripts" / "ddp_worker.py")
    run_ranks([sys.executable, script, str(out / "ddp.yaml"), str(dataset), str(run_dir), str(out), *extra])
    return [torch.load(out / f"rank{r}.pt") for r in range(2)]


@pytest.mark.slow
def test_two_gloo_ranks_agree_and_match_single_process_accumulation(tiny_dataset, tmp_path):
    # DDP: each rank takes every 2nd batch of the sampler's global batch list and accumulates 2 of them
    # (no_sync on the first); one process accumulating 4 takes the same 4 batches per step (9 items of
    # batch 1: true for the first 2 steps), so with loss normalisation over all 4 the updates must match.
    ddp_cfg = no_dropout(fast_config(max_steps=2, batch_size=1, grad_accum_steps=2, checkpoint_every=100))
    ranks = run_two_ranks(ddp_cfg, tiny_dataset, tmp_path / "run_ddp", tmp_path)
    assert ranks[0]["step"] == ranks[1]["step"] == 2
    for name, value in ranks[0]["params"].items():
        assert torch.equal(value, ranks[1]["params"][name]), f"ranks disagree on {name}"
    assert (tmp_path / "run_ddp" / "checkpoints" / "step_00000002.pt").is_file()
    metrics = [json.loads(line) for line in (tmp_path / "run_ddp" / "metrics.jsonl").read_text().splitlines()]
    assert [m["effective_batch_size"] for m in metrics if m["split"] == "train"] == [4, 4]

    single_cfg = no_dropout(fast_config(max_steps=2, batch_size=1, grad_accum_steps=4, checkpoint_every=100))
    keep = KeepParameters()
    Trainer(single_cfg, tiny_dataset, tmp_path / "run_single", device="cpu", callbacks=[keep]).fit()
    initial = Trainer(single_cfg, tiny_dataset, tmp_path / "run_init", device="cpu", resume=False)
    initial.close()
    for name, value in keep.params.items():
        if BIAS_BEFORE_BATCHNORM.match(name):
            continue  # true gradient 0 (BatchNorm cancels a shift): Adam turns rounding noise into full steps
        assert not torch.equal(value, dict(initial.model.named_parameters())[name].detach()), (
            f"{name} did not train"
        )
        torch.testing.assert_close(ranks[0]["params"][name], value, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.slow
def test_rank_zero_veto_and_rollback_reach_every_rank(tiny_dataset, tmp_path):
    # rank 0 alone vetoes step 1's update, and at step 3 rolls back to step_2 and halves the LR; only it
    # knows the healthy checkpoints. Rank 1 must skip the same update, load the same checkpoint at the
    # same step and take the same LR, or the weights differ (or the ranks hang in a collective).
    cfg = fast_config(max_steps=4, batch_size=1, checkpoint_every=2)
    ranks = run_two_ranks(cfg, tiny_dataset, tmp_path / "run", tmp_path, "1", "3")

    assert ranks[0]["steps"] == ranks[1]["steps"] == [1, 2, 3, 3, 4]
    assert ranks[0]["skipped_steps"] == ranks[1]["skipped_steps"] == 1
    assert ranks[0]["lr"] == ranks[1]["lr"] == pytest.approx(0.5 * cfg.train.lr)
    assert ranks[0]["healthy"].endswith("step_00000004.pt") and ranks[1]["healthy"] == "None"
    for name, value in ranks[0]["params"].items():
        assert torch.equal(value, ranks[1]["params"][name]), f"ranks disagree on {name}"
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    [rollback] = [e for e in events if e["event"] == "rollback"]  # written once, by rank 0
    assert rollback["step"] == 3 and rollback["action"].endswith("step_00000002.pt")
    [skip] = [e for e in events if e["event"] == "update_skipped"]
    assert skip["step"] == 1 and skip["reason"] == "rank 0 veto"


def launch_two_nodes(cfg_path: Path, dataset: Path, runs: list[Path], *extra: str) -> list[tuple[int, str]]:
    """`torchrun --nnodes 2 --node-rank R --rdzv-endpoint ...` twice on this machine, one process each:
    the multi-node recipe of README.md (static rendezvous), gloo on the CPU. (exit code, output) per node."""
    endpoint = f"127.0.0.1:{free_port()}"
    commands = []
    for node, run in enumerate(runs):
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
            "--node-rank", str(node), "--rdzv-endpoint", endpoint,
            "-m", "tacotron", "--", "train", "--config", str(cfg_path), "--data", str(dataset),
            "--run", str(run), "--device", "cpu", *extra,
        ]  # fmt: skip
        commands.append((cmd, subprocess_env()))
    return run_together(commands, timeout=240)


@pytest.mark.slow
def test_two_torchrun_nodes_train_and_refuse_to_resume_from_different_steps(tmp_path):
    # each "node" has its own run folder, as without shared storage: rank 0 writes every checkpoint
    cfg = fast_config(max_steps=2, batch_size=2, checkpoint_every=100)
    dataset = write_synthetic_dataset(tmp_path / "data", cfg, n_items=12)
    cfg.save(tmp_path / "train.yaml")
    runs = [tmp_path / "node0", tmp_path / "node1"]
    nodes = launch_two_nodes(tmp_path / "train.yaml", dataset, runs)
    assert [code for code, _ in nodes] == [0, 0], nodes[0][1][-3000:] + nodes[1][1][-3000:]
    assert "stopped at step 2" in nodes[0][1]
    assert (runs[0] / "checkpoints" / "step_00000002.pt").is_file()
    assert not (runs[1] / "checkpoints").exists() or not any((runs[1] / "checkpoints").iterdir())
    metrics = [json.loads(line) for line in (runs[0] / "metrics.jsonl").read_text().splitlines()]
    train = [m for m in metrics if m["split"] == "train"]
    assert [m["effective_batch_size"] for m in train] == [4, 4]  # 2 per rank, 2 ranks
    assert all(math.isfinite(m["loss"]) for m in train)

    # continuing: node 0 finds step 2, node 1 nothing; both must stop with the reason, not hang
    nodes = launch_two_nodes(tmp_path / "train.yaml", dataset, runs, "--set", "train.max_steps=4")
    assert all(code != 0 for code, _ in nodes)
    for _, output in nodes:
        assert "ranks start from different steps (0 to 2)" in output and "shares" in output


HANG = """
import os, time, torch, torch.distributed as dist
from tacotron.train.distributed import init_distributed
info, _ = init_distributed("cpu", timeout_s=3)
start = time.monotonic()
if info.rank == 0:
    try:
        dist.all_reduce(torch.ones(1))
        print("the all-reduce returned")
    except Exception as err:
        print(f"failed after {time.monotonic() - start:.1f} s: {type(err).__name__}", flush=True)
    os._exit(0)  # the timed-out group's threads cannot be joined at exit (gloo aborts): what is tested is above
else:
    time.sleep(20)  # alive but never joining: a diverged rank
"""


def test_a_collective_a_rank_never_joins_fails_within_the_timeout():
    """train.ddp_timeout_s reaches the process group: rank 0 waits in an all-reduce that rank 1 never calls
    and gets an error after ~3 s instead of hanging (gloo's default would wait 30 minutes)."""
    outputs = run_ranks([sys.executable, "-c", HANG], timeout=120)
    report = outputs[0].strip().splitlines()[-1]
    assert report.startswith("failed after "), outputs[0][-2000:]
    assert 2.5 <= float(report.split()[2]) < 15, report
