"""`tacotron export`: a checkpoint as TorchScript (one file) or ONNX (a folder with a numpy runner)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "export a checkpoint for inference without this package: --format torchscript|onnx"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, help="checkpoint file or run folder (best, else latest)"
    )
    parser.add_argument("--format", required=True, choices=["torchscript", "onnx"])
    parser.add_argument(
        "--out",
        default=None,
        help="output file (torchscript) or folder (onnx); default next to the checkpoint",
    )


def default_output(checkpoint: str, fmt: str) -> Path:
    from tacotron.infer.synthesizer import resolve_checkpoint

    ckpt = resolve_checkpoint(checkpoint)
    return ckpt.with_name(f"{ckpt.stem}.torchscript.pt" if fmt == "torchscript" else f"{ckpt.stem}_onnx")


def run(args: argparse.Namespace) -> int:
    from tacotron.export import export_checkpoint

    out = Path(args.out) if args.out else default_output(args.checkpoint, args.format)
    written = export_checkpoint(args.checkpoint, args.format, out)
    if args.format == "torchscript":
        print(
            f"wrote {written}: torch.jit.load(path)(text_ids [B, L], lengths [B]) -> mel, lengths, alignments, stop codes"
        )
    else:
        print(f"wrote {written}/: encoder.onnx, decoder_step.onnx, postnet.onnx, metadata.json, runner.py")
    return 0
