"""`tacotron dump-mels`: teacher-forced mels of a prepared dataset, aligned with its audio (for `vocoder train`)."""

from __future__ import annotations

import argparse
import sys

from tacotron.commands import run_reporting_input_errors

HELP = "write teacher-forced (ground-truth aligned) mels of a dataset, for vocoder fine-tuning"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, help="checkpoint file, or run folder (best.pt, else latest)"
    )
    parser.add_argument("--data", required=True, help="prepared dataset folder (`tacotron prepare`)")
    parser.add_argument("--out", required=True, help="output folder (manifest.jsonl, mels/, dump.json)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--seed", type=int, default=0, help="seeds prenet dropout (batch i uses seed + i)")


def run(args: argparse.Namespace) -> int:
    return run_reporting_input_errors(_run, args)


def _run(args: argparse.Namespace) -> int:
    from tacotron.vocoder.dump import dump_mels

    report = dump_mels(
        args.checkpoint, args.data, args.out, batch_size=args.batch_size, device=args.device, seed=args.seed
    )
    print(f"wrote {report.items} mels ({report.frames} frames) to {report.out_dir}", file=sys.stderr)
    return 0
