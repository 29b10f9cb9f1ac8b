"""`tacotron bench`: speed and memory of this project against torchaudio.models.Tacotron2 on one GPU.

The measuring code lives in the repository's `benchmarks/` folder (speed.py and its modules); this
command runs it from a source checkout, so `tacotron bench --out DIR` and
`PYTHONPATH=src python3 benchmarks/speed.py --out DIR` are the same thing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

HELP = "benchmark training/decoding speed and memory against torchaudio's Tacotron 2 (GPU)"

BENCH_DIR = Path(__file__).resolve().parents[3] / "benchmarks"


def _speed_module():
    """Import benchmarks/speed.py (its sibling modules import each other by plain name)."""
    if not (BENCH_DIR / "speed.py").is_file():
        raise FileNotFoundError(
            f"tacotron bench needs the source checkout's benchmarks/ folder; not found at {BENCH_DIR}"
        )
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    return importlib.import_module("speed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    try:
        _speed_module().add_arguments(parser)
    except FileNotFoundError as err:
        parser.epilog = str(err)


def run(args: argparse.Namespace) -> int:
    try:
        speed = _speed_module()
    except FileNotFoundError as err:
        print(f"bench: {err}", file=sys.stderr)
        return 2
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(
            "bench: no CUDA device; the benchmark compares GPU speed (use --device cpu to smoke-test)",
            file=sys.stderr,
        )
        return 2
    results = speed.main(args)
    print(speed.to_markdown(results))
    print(f"bench: wrote {Path(args.out) / 'bench.json'} and bench.md")
    return 0
