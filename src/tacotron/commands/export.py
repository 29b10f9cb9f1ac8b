"""`tacotron export`: a checkpoint as TorchScript (one file) or ONNX (a folder with a numpy runner);
`--format onnx --vocoder hifigan` puts text ids -> waveform in one model.onnx + model.onnx.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tacotron.commands import add_hifigan_weights_argument

HELP = "export a checkpoint for inference without this package: --format torchscript|onnx [--vocoder hifigan]"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, help="checkpoint file or run folder (best, else latest)"
    )
    parser.add_argument("--format", required=True, choices=["torchscript", "onnx"])
    parser.add_argument(
        "--vocoder",
        default=None,
        help="onnx only: 'hifigan' adds the vocoder (one model.onnx, text ids -> waveform); "
        "'griffin-lim' is refused (not exportable). Default: mels only",
    )
    add_hifigan_weights_argument(parser)
    parser.add_argument(
        "--out",
        default=None,
        help="output file (torchscript) or folder (onnx); default next to the checkpoint",
    )


def default_output(checkpoint: str, fmt: str, vocoder: str | None = None) -> Path:
    from tacotron.infer.synthesizer import resolve_checkpoint

    ckpt = resolve_checkpoint(checkpoint)
    if fmt == "torchscript":
        return ckpt.with_name(f"{ckpt.stem}.torchscript.pt")
    return ckpt.with_name(f"{ckpt.stem}_{vocoder}_onnx" if vocoder else f"{ckpt.stem}_onnx")


def run(args: argparse.Namespace) -> int:
    from tacotron.export import export_checkpoint
    from tacotron.export_onnx_bundle import UnsupportedExportError, check_vocoder, export_checkpoint_bundle
    from tacotron.infer.hifigan import HifiGanConfigError

    try:
        check_vocoder(args.format, args.vocoder)
        out = Path(args.out) if args.out else default_output(args.checkpoint, args.format, args.vocoder)
        if args.vocoder:
            written = export_checkpoint_bundle(args.checkpoint, out, weights=args.hifigan_weights)
        else:
            written = export_checkpoint(args.checkpoint, args.format, out)
    except (
        UnsupportedExportError,
        HifiGanConfigError,
        FileNotFoundError,
    ) as err:  # what to change, in one line
        print(f"export: {err}", file=sys.stderr)
        return 2
    if args.format == "torchscript":
        print(
            f"wrote {written}: torch.jit.load(path)(text_ids [B, L], lengths [B]) -> mel, lengths, alignments, stop codes"
        )
    elif args.vocoder:
        print(
            f'wrote {written}/: model.onnx, model.onnx.json, runner.py (python runner.py DIR "text." out.wav)'
        )
    else:
        print(f"wrote {written}/: encoder.onnx, decoder_step.onnx, postnet.onnx, metadata.json, runner.py")
    return 0
