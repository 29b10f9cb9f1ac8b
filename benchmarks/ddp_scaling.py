"""Weak scaling of DDP training: mel frames/s of the real Trainer under `torchrun` for N = 1, 2, 4, 8 GPUs.

Every rank trains the full-size model (NVIDIA sizes) in bf16 on LJSpeech-shaped synthetic data (text
80-180 symbols, mels 400-870 frames) with a fixed per-GPU batch, through `tacotron.train.Trainer`, the
same code path as `tacotron train --gpus N`. Throughput is the sum over ranks of real mel frames per
second after warm-up steps; the speed-up is fps(N) / fps(1) and weak-scaling efficiency
fps(N) / (N * fps(1)). At the end every rank's parameters are compared element-wise (all-reduce max ==
all-reduce min). `--cuda-graphs` trains with `train.cuda_graphs` (the graph step, its gradients summed
by `GradientSync`); a run that asked for graphs and trained eagerly fails, except in `--cpu-smoke`.

usage (on a multi-GPU machine):
    python benchmarks/ddp_scaling.py --gpus 1 2 4 --out results/   # launcher: runs torchrun per N
    python benchmarks/ddp_scaling.py --gpus 1 8 --cuda-graphs --out results_graphs/
    python benchmarks/ddp_scaling.py --cpu-smoke --gpus 1 2 --batch 2 --steps 3 --warmup 1  # CPU check
The launcher writes ddp_scaling.json and ddp_scaling.md; workers are started by torchrun.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))

TEXT_RANGE = (80, 180)
MEL_RANGE = (400, 870)
SMOKE_TEXT_RANGE, SMOKE_MEL_RANGE = (10, 30), (30, 60)  # --cpu-smoke: seconds per step on a CPU


def write_dataset(out: Path, n_items: int, seed: int = 0, text_range=TEXT_RANGE, mel_range=MEL_RANGE) -> Path:
    """A prepared-dataset folder of LJSpeech-shaped random items (numpy only: no espeak-ng on GPU hosts)."""
    from tacotron.config import Config
    from tacotron.text.symbols import build_symbol_table

    rng = np.random.default_rng(seed)
    symbols = build_symbol_table("en")
    cfg = Config()
    (out / "mels").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n_items):
        n_text = int(rng.integers(text_range[0], text_range[1] + 1))
        n_mel = int(rng.integers(mel_range[0], mel_range[1] + 1))
        ids = [int(x) for x in rng.integers(3, len(symbols), n_text)] + [symbols.eos_id]
        item_id = f"b{i:05d}"
        np.save(
            out / "mels" / f"{item_id}.npy", rng.normal(-5, 2, (cfg.audio.n_mels, n_mel)).astype(np.float32)
        )
        split = "val" if i < 2 else "train"
        record = {
            "id": item_id,
            "text": "x",
            "cleaned": "x",
            "ids": ids,
            "mel": f"mels/{item_id}.npy",
            "frames": n_mel,
            "seconds": n_mel * 256 / 22050,
            "split": split,
        }
        lines.append(json.dumps(record))
    (out / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    (out / "symbols.json").write_text(json.dumps(symbols.to_dict()))
    np.save(
        out / "mel_basis.npy",
        np.abs(rng.normal(0, 0.01, (cfg.audio.n_mels, cfg.audio.n_fft // 2 + 1))).astype(np.float32),
    )
    cfg.save(out / "config.yaml")
    return out


def worker(args: argparse.Namespace) -> None:
    """One torchrun rank: train `--steps` steps, time the last ones, check parameter identity."""
    import torch
    import torch.distributed as dist

    from tacotron.config import Config
    from tacotron.train import Callback, Trainer

    def sync() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    class Timer(Callback):
        def __init__(self) -> None:
            self.frames, self.t0, self.t1, self.identical, self.graphs = 0, None, None, None, None

        def on_train_start(self, trainer) -> None:
            self.graphs = trainer.uses_cuda_graphs

        def on_step_end(self, trainer, result) -> None:
            if trainer.step == args.warmup:
                sync()
                self.t0 = time.perf_counter()
            elif trainer.step > args.warmup:
                self.frames += int(result.batch.mel_lengths.sum())
                sync()
                self.t1 = time.perf_counter()

        def on_train_end(self, trainer) -> None:
            if not dist.is_initialized():  # one process: nothing to compare
                self.identical = True
                return
            flat = torch.cat([p.detach().float().flatten() for p in trainer.model.parameters()])
            hi, lo = flat.clone(), flat.clone()
            dist.all_reduce(hi, op=dist.ReduceOp.MAX)
            dist.all_reduce(lo, op=dist.ReduceOp.MIN)
            self.identical = bool(torch.equal(hi, lo))

    cfg = Config()
    cfg.train.precision = "bf16"
    cfg.train.batch_size = args.batch
    cfg.train.max_steps = args.steps
    cfg.train.eval_every = cfg.train.checkpoint_every = 10 * args.steps
    cfg.train.loggers = []
    cfg.train.n_val_synth = 0
    cfg.train.log_every = 10
    cfg.model.n_frames_per_step = args.r
    cfg.train.cuda_graphs = args.cuda_graphs
    cfg.data.loader_workers = 4
    device = f"cuda:{os.environ['LOCAL_RANK']}"
    if args.cpu_smoke:  # a tiny model on CPU/gloo, to check the script itself without a GPU
        device, cfg.train.precision, cfg.data.loader_workers = "cpu", "fp32", 0
        for name in (
            "attention_rnn_dim",
            "decoder_rnn_dim",
            "symbols_embedding_dim",
            "encoder_embedding_dim",
        ):
            setattr(cfg.model, name, 32)
        cfg.model.postnet_embedding_dim = cfg.model.prenet_dim = 32
    timer = Timer()
    run_dir = Path(args.run) / f"n{os.environ['WORLD_SIZE']}"
    Trainer(cfg, args.data, run_dir, device=device, callbacks=[timer], resume=False).fit()
    if int(os.environ["RANK"]) == 0:
        seconds = timer.t1 - timer.t0
        world = int(os.environ["WORLD_SIZE"])
        # each rank sees batches of the same length distribution; frames counted on rank 0, times world
        result = {
            "world_size": world,
            "frames_per_s": timer.frames * world / seconds,
            "timed_steps": args.steps - args.warmup,
            "seconds": seconds,
            "identical_params": timer.identical,
            "cuda_graphs": timer.graphs,
            "batch_per_gpu": args.batch,
            "r": args.r,
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "torch": torch.__version__,
        }
        (Path(args.run) / f"result_n{world}.json").write_text(json.dumps(result))


def launcher(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ranges = (SMOKE_TEXT_RANGE, SMOKE_MEL_RANGE) if args.cpu_smoke else (TEXT_RANGE, MEL_RANGE)
    data = write_dataset(out / "data", args.batch * max(args.gpus) * 10, 0, *ranges)
    env = {
        **os.environ,
        "NCCL_NVLS_ENABLE": "0",
        "TORCH_SYMM_MEM_DISABLE_MULTICAST": "1",
        "NVSHMEM_DISABLE_NVLS": "1",
        "PYTHONPATH": str(SRC),
    }
    results = []
    for n in args.gpus:
        # torchrun parses abbreviations of its own options even after the script, so the workers'
        # arguments travel in an environment variable
        worker_args = {
            "data": str(data),
            "run": str(out),
            "steps": args.steps,
            "warmup": args.warmup,
            "batch": args.batch,
            "r": args.r,
            "cpu_smoke": args.cpu_smoke,
            "cuda_graphs": args.cuda_graphs,
        }
        env["TACOTRON_DDP_WORKER"] = json.dumps(worker_args)
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={n}",
            "--standalone",
            __file__,
        ]
        started = time.monotonic()
        code = subprocess.run(cmd, env=env, timeout=args.timeout).returncode
        if code != 0:
            raise SystemExit(f"torchrun with {n} GPUs failed (exit {code})")
        result = json.loads((out / f"result_n{n}.json").read_text())
        result["wall_s"] = time.monotonic() - started
        results.append(result)
        print(json.dumps(result), flush=True)
    lines = report(results)
    (out / "ddp_scaling.json").write_text(json.dumps(results, indent=2))
    (out / "ddp_scaling.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    problems = [p for r in results for p in problems_of(r, args)]
    if problems:
        raise SystemExit("\n".join(problems))
    return 0


def problems_of(result: dict, args: argparse.Namespace) -> list[str]:
    """Ranks that drifted apart, or an eager run where graphs were asked for: numbers not to be quoted."""
    n, problems = result["world_size"], []
    if not result["identical_params"]:
        problems.append(f"{n} GPUs: parameters differ between ranks after training")
    if args.cuda_graphs and not result["cuda_graphs"] and not args.cpu_smoke:
        problems.append(f"{n} GPUs: --cuda-graphs given but the trainer trained eagerly")
    return problems


def report(results: list[dict]) -> list[str]:
    """The markdown table (speed-up = fps(N) / fps(1)); adds speedup and efficiency to each result."""
    base = next((r["frames_per_s"] for r in results if r["world_size"] == 1), None)
    lines = [
        "| GPUs | step | mel frames/s | speed-up (N-GPU / 1-GPU) | weak-scaling efficiency | params identical |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        speedup = r["frames_per_s"] / base if base else float("nan")
        r["speedup"], r["efficiency"] = speedup, speedup / r["world_size"]
        step = "CUDA graphs" if r["cuda_graphs"] else "eager"
        lines.append(
            f"| {r['world_size']} | {step} | {r['frames_per_s']:.0f} | {speedup:.2f}x | {r['efficiency']:.1%} "
            f"| {r['identical_params']} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gpus", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--out", default="ddp_scaling")
    parser.add_argument("--batch", type=int, default=64, help="per-GPU batch")
    parser.add_argument("--r", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="tiny model and short items on CPU (gloo): checks the script (graphs then train eagerly)",
    )
    parser.add_argument(
        "--cuda-graphs", action="store_true", help="train.cuda_graphs: the CUDA-graph step (DDP included)"
    )
    if "TACOTRON_DDP_WORKER" in os.environ:
        worker(argparse.Namespace(**json.loads(os.environ["TACOTRON_DDP_WORKER"])))
        return 0
    return launcher(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
