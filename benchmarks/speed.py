"""`tacotron bench` / `PYTHONPATH=src python3 benchmarks/speed.py --out DIR`: ours vs torchaudio, one process, one GPU.

Sections (run in order, results written after each so a crash loses nothing):
  train     mel frames/s and peak memory; batch 64 and 128; fp32 (TF32) and bf16; torchaudio, ours eager,
            ours with the CUDA-graph training step; plus ours at r = 2
  decode    frames/s at batch 1 and 32 for a fixed number of decoder steps (untrained weights never stop)
  rtf       end-to-end real-time factor at batch 1: the decoder + Griffin-Lim on the GPU (ours, torchaudio),
            and `Synthesizer.synthesize` (auto and eager decoding) with HiFi-GAN universal when installed
  maxbatch  largest batch that trains at the maximum lengths (bf16)
  cpu_demo  the CPU demo model's training steps/s at its r and batch and neighbours (use --device cpu)
  kernels   CUDA kernels and kernel time per decoder step (eager training step with and without the
            compiled attention step, batch-1 decoding)
Writes DIR/bench.json and DIR/bench.md.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import logging
import sys
from pathlib import Path

import torch
from report import to_markdown
from sections import SECTIONS

logger = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    return parser.parse_args(argv)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="bench_out", help="folder for bench.json and bench.md")
    parser.add_argument("--sections", default="train,decode,rtf,maxbatch", help="comma-separated subset")
    parser.add_argument("--batch-sizes", default="64,128")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--iters", type=int, default=4, help="timed training steps per configuration")
    parser.add_argument("--decode-steps", type=int, default=400)
    parser.add_argument("--text-multiple", type=int, default=64, help="text length bucket (graph shapes)")
    parser.add_argument("--mel-multiple", type=int, default=64, help="mel length bucket (graph shapes)")
    parser.add_argument(
        "--maxbatch-gib", type=float, default=24.0, help="memory cap for the largest-batch search"
    )
    parser.add_argument("--no-torchaudio", action="store_true", help="measure ours only")
    parser.add_argument(
        "--compile-decoder-step",
        action="store_true",
        help="train and decode sections: also ours with the compiled decoder step (train.compile_decoder_step, "
        "GraphedInference(compile_step=True)), in the same process as the other rows; the kernels section "
        "measures both anyway",
    )
    parser.add_argument(
        "--demo-config",
        default="demo.yaml",
        help="config of the cpu_demo section (a bare name: the shipped one)",
    )
    parser.add_argument("--device", default="cuda")


def environment(device: torch.device) -> dict:
    try:
        import torchaudio

        ta_version = torchaudio.__version__
    except ImportError:
        ta_version = "not installed"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {
        "device": name,
        "torch": torch.__version__,
        "torchaudio": ta_version,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def main(args: argparse.Namespace) -> dict:
    device = torch.device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict = {"env": environment(device), "args": vars(args)}
    for name in [s.strip() for s in args.sections.split(",") if s.strip()]:
        if name not in SECTIONS:
            raise SystemExit(f"unknown section {name!r}; choose from {', '.join(SECTIONS)}")
        logger.info("section %s", name)
        SECTIONS[name](args, device, results)
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        (out_dir / "bench.json").write_text(json.dumps(results, indent=2))
        (out_dir / "bench.md").write_text(to_markdown(results))
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    result = main(parse_args())
    print(to_markdown(result))
