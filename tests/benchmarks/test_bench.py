"""Benchmark harness on the CPU: workloads, parity check, largest-batch search, report, CLI wiring."""

from __future__ import annotations

import argparse
import importlib

import pytest
import torch

from tacotron.model import build_model


@pytest.fixture
def bench(monkeypatch):
    """The benchmarks/ modules (they import each other by plain name, as when run as a script)."""
    from tacotron.commands.bench import BENCH_DIR

    monkeypatch.syspath_prepend(str(BENCH_DIR))
    return {name: importlib.import_module(name) for name in ("workloads", "timing", "report", "speed")}


def test_synthetic_batches_are_ljspeech_shaped_and_reproducible(bench):
    wl = bench["workloads"]
    a = wl.synthetic_batches(2, 3, r=2, seed=5)
    b = wl.synthetic_batches(2, 3, r=2, seed=5)
    for work, again in zip(a, b, strict=True):
        batch = work.batch
        assert torch.equal(batch.mels, again.batch.mels)
        assert batch.text_lengths.min() >= 80 and batch.text_lengths.max() <= 180
        assert batch.mel_lengths.min() >= 400 and batch.mel_lengths.max() <= 870
        assert batch.mels.size(2) % 2 == 0 and work.frames == int(batch.mel_lengths.sum())
        assert work.norm.frames == work.frames


def test_parity_check_rejects_models_of_different_size(bench, tiny_cfg):
    wl = bench["workloads"]
    small = build_model(tiny_cfg.model, wl.N_SYMBOLS, 80)
    tiny_cfg.model.decoder_rnn_dim = 96
    bigger = build_model(tiny_cfg.model, wl.N_SYMBOLS, 80)
    with pytest.raises(RuntimeError, match="differ in size"):
        wl.check_same_work(small, bigger, wl.synthetic_batches(1, 2, r=1, seed=0)[0])


def test_eager_step_trains_and_time_train_counts_real_frames(bench, tiny_cfg):
    wl, timing = bench["workloads"], bench["timing"]
    model = build_model(tiny_cfg.model, wl.N_SYMBOLS, 80).train()
    works = [wl.fixed_length_batch(2, 12, 20, r=1, device="cpu")]
    before = [p.detach().clone() for p in model.parameters()]
    step = timing.eager_step(model, "fp32", torchaudio_model=False)
    result = timing.time_train(step, works, warmup=1, iters=2, device=torch.device("cpu"))
    assert result["frames_per_s"] > 0 and result["iters"] == 2
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("limit", [1, 100, 333, 5000])
def test_largest_batch_from_memory_brackets_the_limit(bench, limit):
    """Fake memory model: 1 GiB fixed + 0.1 GiB per item, capacity from `limit` items; prediction is off."""
    timing = bench["timing"]
    gib = 2**30
    tries = []

    def try_size(n):
        tries.append(n)
        return n <= limit, int((1 + 0.13 * n) * gib)  # peak slope is steeper than the real limit

    total = int((1 + 0.1 * 300) * gib)
    found = timing.largest_batch_from_memory(try_size, total_bytes=total)
    assert found <= limit
    if found != tries[-1]:  # the search ended on a failing size just above the answer
        assert not try_size(tries[-1])[0]
    assert len(tries) <= 12


def test_report_has_ratios_and_device(bench):
    report = bench["report"]
    results = {
        "env": {"device": "NVIDIA H100", "torch": "2.11", "torchaudio": "2.11", "date": "2026-01-01"},
        "train": [
            {
                "batch": 64,
                "precision": "bf16",
                "r": 1,
                "torchaudio": {"frames_per_s": 20000.0, "peak_gib": 20.0},
                "ours_graphed": {"frames_per_s": 90000.0, "peak_gib": 21.0},
            }
        ],
        "decode": [{"batch": 1, "steps": 400, "torchaudio": 1000.0, "ours_graphed": 5000.0}],
    }
    text = report.to_markdown(results)
    assert "NVIDIA H100" in text and "4.50x" in text and "5.00x" in text
    assert report.ratio(None, 3.0) == "n/a" and report.ratio(1.0, 0.0) == "n/a"


def test_report_adds_the_compiled_step_rows_with_their_ratios(bench):
    report = bench["report"]
    results = {
        "args": {"compile_decoder_step": True},
        "train": [
            {
                "batch": 64,
                "precision": "bf16",
                "r": 1,
                "torchaudio": {"frames_per_s": 10000.0},
                "ours_graphed": {"frames_per_s": 100000.0},
                "ours_graphed_compiled": {"frames_per_s": 125000.0},
            },
            {"batch": 64, "precision": "bf16", "r": 2, "ours_graphed": {"frames_per_s": 1.0}},
        ],
        "decode": [
            {"batch": 1, "steps": 400, "torchaudio": 800.0, "ours_graphed": 5600.0,
             "ours_graphed_compiled": 8400.0, "ours_graphed_bf16_compiled": 8000.0},
        ],
    }  # fmt: skip
    lines = report.to_markdown(results).splitlines()
    train_header, train_row = (
        line for line in lines if line.startswith(("| batch | precision", "| 64 | bf16 | 1"))
    )
    assert train_header.count("|") == train_row.count("|")
    assert train_row.endswith("| 125,000 | 12.50x |") and "| 10.00x |" in train_row
    assert next(line for line in lines if line.startswith("| 64 | bf16 | 2")).endswith("| n/a | n/a |")
    decode_row = next(line for line in lines if line.startswith("| 1 | 400"))
    assert decode_row.endswith("| 8,400 / 8,000 | 10.50x |") and "| 7.00x |" in decode_row
    assert "compiled decoder step" in lines[0]


def test_report_adds_the_prepared_step_columns_before_the_compiled_ones(bench):
    row = {"batch": 1, "steps": 400, "torchaudio": 1000.0, "ours_graphed": 6000.0}
    row |= {"ours_graphed_prepared": 10500.0, "ours_graphed_bf16_prepared": 11000.0}
    row |= {"ours_graphed_compiled": 6500.0, "ours_graphed_bf16_compiled": 7000.0}
    lines = bench["report"].to_markdown({"decode": [row]}).splitlines()
    header = next(line for line in lines if line.startswith("| batch | steps"))
    decode_row = next(line for line in lines if line.startswith("| 1 | 400"))
    assert header.count("|") == decode_row.count("|") == lines[lines.index(header) + 1].count("|")
    assert "| prepared step fp32 / bf16 | prepared step fp32 / torchaudio | compiled step" in header
    assert decode_row.endswith("| 10,500 / 11,000 | 10.50x | 6,500 / 7,000 | 6.50x |")


def test_bench_command_parses_and_refuses_without_cuda(bench, monkeypatch):
    from tacotron.commands import bench as command

    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--sections", "train", "--out", "x"])
    assert args.batch_sizes == "64,128" and args.iters == 4
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert command.run(args) == 2


def test_cpu_demo_section_times_the_demo_config_and_its_neighbours(bench, tiny_cfg, tmp_path):
    """`tacotron bench --device cpu --sections cpu_demo`: one row per (r, batch) variant, real frames."""
    import yaml

    tiny_cfg.model.n_frames_per_step = 3
    tiny_cfg.train.batch_size = 4
    config = tmp_path / "demo.yaml"
    config.write_text(yaml.safe_dump({"model": vars(tiny_cfg.model), "train": {"batch_size": 4}}))
    args = bench["speed"].parse_args(
        ["--device", "cpu", "--sections", "cpu_demo", "--iters", "1", "--demo-config", str(config)]
    )
    args.out = str(tmp_path / "out")
    results = bench["speed"].main(args)
    rows = results["cpu_demo"]
    assert [(row["r"], row["batch"]) for row in rows] == [(3, 4), (3, 2), (1, 4), (5, 4)]
    assert all(row["steps_per_s"] > 0 and row["frames_per_s"] > 0 for row in rows)
    assert "| 5 | 4 |" in (tmp_path / "out" / "bench.md").read_text()
