"""`tacotron synth`: text (one --text or a file of lines) -> NNN.wav, NNN.mel.npy, NNN.align.png, synth.jsonl.

Texts longer than one decoder call can say are split at sentences, clauses, then words and joined
(`Synthesizer.synthesize(split=True)`). Exit codes: 0 every text spoken in full; 2 bad input (one
`error:` line: missing file, unknown characters, nothing to say, numbers beyond the expansion budget);
3 some text was cut at max_decoder_steps (files are still written, synth.jsonl marks them "truncated";
`--allow-truncated` accepts that with exit 0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tacotron.commands import (
    add_decoding_argument,
    add_hifigan_weights_argument,
    add_progress_argument,
    progress_bar,
    run_reporting_input_errors,
)

HELP = "synthesise speech from a checkpoint or run folder (wav, mel, alignment plot, synth.jsonl)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, help="checkpoint file, or run folder (best.pt, else latest)"
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="one sentence to synthesise")
    source.add_argument("--file", help="UTF-8 text file, one sentence per line (blank lines skipped)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--lang", default=None, help="must match the checkpoint's language (en, ru, de, ...)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--vocoder", choices=["griffin-lim", "hifigan"], default="griffin-lim")
    add_hifigan_weights_argument(parser)
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
    parser.add_argument(
        "--no-split",
        dest="split",
        action="store_false",
        help="decode each text in one call even when it is longer than max_decoder_steps can say",
    )
    parser.add_argument(
        "--allow-truncated",
        action="store_true",
        help="exit 0 even when a text was cut at max_decoder_steps (default: exit 3, files still written)",
    )
    parser.add_argument(
        "--speaker",
        default=None,
        help="multi-speaker models: a speaker name of the training corpus (default: the first)",
    )
    add_progress_argument(parser)
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
    with progress_bar(args, "synth", "piece" if args.split else "text") as progress:
        results = synth.synthesize(
            texts,
            batch_size=args.batch_size,
            seed=args.seed,
            max_decoder_steps=args.max_decoder_steps,
            split=args.split,
            speaker=args.speaker,
            progress=progress,
            **style,
        )
    jsonl = write_results(results, args.out)
    print(f"{'#':>4} {'frames':>6} {'sec':>6} {'pieces':>6} {'stop':<12} text")
    for i, r in enumerate(results, start=1):
        pieces = len(r.pieces) or 1
        print(f"{i:>4} {r.frames:>6} {r.audio_seconds:>6.2f} {pieces:>6} {r.stop_reason:<12} {r.text[:60]}")
    print(f"wrote {len(results)} items to {args.out} ({jsonl.name}) from {synth.checkpoint}", file=sys.stderr)
    cut = [f"{i:03d}" for i, r in enumerate(results, start=1) if r.truncated]
    if cut:
        steps = args.max_decoder_steps or synth.cfg.model.max_decoder_steps
        what = "warning" if args.allow_truncated else "error"
        print(
            f"{what}: {len(cut)} of {len(results)} texts were cut at max_decoder_steps={steps} (the model "
            f"never predicted their end), audio incomplete: {', '.join(cut[:10])}"
            + ("" if args.allow_truncated else "; pass --allow-truncated to accept cut audio"),
            file=sys.stderr,
        )
        return 0 if args.allow_truncated else 3
    return 0
