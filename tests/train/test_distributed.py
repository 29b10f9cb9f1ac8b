"""DDP with two gloo processes on CPU, against one process accumulating the same global batch."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tests.helpers.configs import fast_config, no_dropout
from tests.helpers.processes import subprocess_env
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
    port = str(free_port())
    procs = []
    for rank in range(2):
        env = subprocess_env(
            RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=port
        )
        script = str(HERE / "scripts" / "ddp_worker.py")
        cmd = [sys.executable, script, str(out / "ddp.yaml"), str(dataset), str(run_dir), str(out), *extra]
        procs.append(
            subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        )
    try:
        outputs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:  # a rank stuck in a collective would otherwise outlive the test
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
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
