"""`tacotron synth`: text (one --text or a file of lines) -> NNN.wav, NNN.mel.npy, NNN.align.png, synth.jsonl."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tacotron.commands import add_decoding_argument, run_reporting_input_errors

HELP = "synthesise speech from a checkpoint or run folder (wav, mel, alignment plot, synth.jsonl)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, help="checkpoint file, or run folder (best.pt, else latest)"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="one sentence to synthesise")
    source.add_argument("--file", help="UTF-8 text file, one sentence per line (blank lines skipped)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--lang", choices=["en", "ru"], default=None, help="must match the checkpoint's language"
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--vocoder", choices=["griffin-lim", "hifigan"], default="griffin-lim")
    parser.add_argument("--hifigan-weights", choices=["universal", "LJSpeech"], default="universal")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    add_decoding_argument(parser)
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seeds prenet dropout at inference (reproducible output); on CUDA a seed decodes eagerly "
        "(the CUDA graphs cannot take a seeded generator); default: unseeded",
    )
    parser.add_argument(
        "--max-decoder-steps", type=int, default=None, help="default: the checkpoint's config"
    )
    style = parser.add_mutually_exclusive_group()
    style.add_argument(
        "--style-wav", default=None, help="GST models: reference audio whose speaking style to imitate"
    )
    style.add_argument(
        "--style-token",
        default=None,
        help='GST models: token weights "ID:WEIGHT,..." e.g. "3:0.5,5:0.5" (others 0); default: uniform',
    )


def read_lines(path: str | Path) -> list[str]:
    """Non-blank lines of a UTF-8 file, stripped; a clear error when the file is missing or has none."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"text file not found: {path}")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        from tacotron.infer.synthesizer import EmptyInputError

        raise EmptyInputError(f"{path} contains no text lines")
    return lines


def run(args: argparse.Namespace) -> int:
    return run_reporting_input_errors(_run, args)


def _run(args: argparse.Namespace) -> int:
    from tacotron.infer.outputs import write_results
    from tacotron.infer.style import resolve_style
    from tacotron.infer.synthesizer import Synthesizer, fast_for

    texts = [args.text] if args.text is not None else read_lines(args.file)
    synth = Synthesizer.from_checkpoint(
        args.checkpoint,
        device=args.device,
        vocoder=args.vocoder,
        language=args.lang,
        hifigan_weights=args.hifigan_weights,
        fast=fast_for(args.decoding),
    )
    style = resolve_style(synth.model, synth.cfg, style_wav=args.style_wav, style_token=args.style_token)
    results = synth.synthesize(
        texts, batch_size=args.batch_size, seed=args.seed, max_decoder_steps=args.max_decoder_steps, **style
    )
    jsonl = write_results(results, args.out)
    print(f"{'#':>4} {'frames':>6} {'sec':>6} {'stop':<12} text")
    for i, r in enumerate(results, start=1):
        print(f"{i:>4} {r.frames:>6} {r.audio_seconds:>6.2f} {r.stop_reason:<12} {r.text[:60]}")
    print(f"wrote {len(results)} items to {args.out} ({jsonl.name}) from {synth.checkpoint}", file=sys.stderr)
    return 0
