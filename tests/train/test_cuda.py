"""A short CUDA run: fp32 and bf16 both learn, and about equally fast (run on the GPU machine)."""

from __future__ import annotations

import json

import pytest
import torch
from tests.helpers.configs import fast_config
from tests.helpers.datasets import write_synthetic_dataset

from tacotron.train import Trainer

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def train_losses(
    dataset, run_dir, precision: str, cuda_graphs: bool = False, init_frame_bias: bool = True
) -> list[float]:
    cfg = fast_config(
        max_steps=60,
        batch_size=8,
        precision=precision,
        lr=2e-3,
        checkpoint_every=1000,
        eval_every=30,
        log_every=1,
    )
    cfg.model.n_frames_per_step = 2
    cfg.train.cuda_graphs = cuda_graphs
    cfg.train.init_frame_bias = init_frame_bias
    result = Trainer(cfg, dataset, run_dir, device="cuda").fit()
    assert result.step == 60 and result.skipped_steps == 0
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    val = [m for m in lines if m["split"] == "val"]
    assert val and all(m["val/loss"] == m["val/loss"] for m in val)  # finite, not NaN
    return [m["loss"] for m in lines if m["split"] == "train"]


def test_fp32_and_bf16_losses_go_down_in_step(tmp_path):
    dataset = write_synthetic_dataset(tmp_path / "data", fast_config(), n_items=40)
    # from a zero frame bias: with the mean-mel start the loss has little left to halve in 60 steps
    # (12.8 -> 10.6 on this data, on CPU and GPU alike), so halving would not separate learning from noise
    curves = {p: train_losses(dataset, tmp_path / p, p, init_frame_bias=False) for p in ("fp32", "bf16")}
    for precision, losses in curves.items():
        start, end = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
        assert end < 0.5 * start, f"{precision}: loss {start:.3f} -> {end:.3f} did not halve"
    fp32_end, bf16_end = (sum(curves[p][-5:]) / 5 for p in ("fp32", "bf16"))
    assert abs(bf16_end - fp32_end) < 0.25 * fp32_end, f"fp32 {fp32_end:.3f} vs bf16 {bf16_end:.3f}"


def test_cuda_graph_training_matches_eager_and_learns(tmp_path):
    """train.cuda_graphs replays forward+loss+backward per length bucket. Padding is masked in the
    loss, but BatchNorm batch statistics include the extra bucket padding (as eager training includes
    batch padding), so the first step's loss matches eager closely, not bit for bit; it learns as well."""
    dataset = write_synthetic_dataset(tmp_path / "data", fast_config(), n_items=40)
    eager = train_losses(dataset, tmp_path / "eager", "fp32")
    graphed = train_losses(dataset, tmp_path / "graphed", "fp32", cuda_graphs=True)
    # the first losses differ a little: BatchNorm statistics include the bucket padding (identical inputs
    # give identical losses and gradients: tests/model/test_fast_paths.py, tests/train/test_graphs.py)
    assert graphed[0] == pytest.approx(eager[0], rel=0.15)
    start, end = sum(graphed[:5]) / 5, sum(graphed[-5:]) / 5
    eager_start, eager_end = sum(eager[:5]) / 5, sum(eager[-5:]) / 5
    # from the mean-mel frame bias both paths start near 12.8 and end near 10.6 on this data
    assert end < 0.9 * start, f"graphed: loss {start:.3f} -> {end:.3f} barely moved"
    assert abs((start - end) - (eager_start - eager_end)) < 0.3 * (eager_start - eager_end)
    assert abs(end - eager_end) < 0.25 * eager_end
