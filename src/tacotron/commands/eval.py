"""`tacotron eval`: alignment health, stopping, length and intelligibility (WER) of a checkpoint -> eval.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from tacotron.commands import (
    add_hifigan_weights_argument,
    add_progress_argument,
    progress_bar,
    run_reporting_input_errors,
)

HELP = (
    "evaluate a checkpoint on sentences: alignment health, gate stops, length ratio, WER/CER "
    "(closed or open vocabulary) and, with references, MCD and the vocoder ceiling"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", required=True, help="checkpoint file, or run folder (best.pt, else latest)"
    )
    parser.add_argument("--file", required=True, help="sentences, one per line ('text' or 'id|text')")
    parser.add_argument(
        "--reference-dir", default=None, help="ground-truth wavs <id>.wav (ids 001.. by line)"
    )
    parser.add_argument(
        "--corpus-text",
        default=None,
        help="training text for the judge's LM: metadata.csv or a prepared dataset folder",
    )
    parser.add_argument(
        "--judge",
        choices=["closed", "open"],
        default="closed",
        help="closed: LM from --corpus-text (template corpora); open: pocketsphinx's general English LM and "
        "dictionary, nothing from the training text (natural corpora with unseen words)",
    )
    parser.add_argument("--asr-workers", type=int, default=1, help="recogniser processes (open judge)")
    parser.add_argument("--vocoder", choices=["griffin-lim", "hifigan"], default="griffin-lim")
    add_hifigan_weights_argument(parser)
    parser.add_argument("--out", default=None, help="folder for eval.json and the wavs (default: print only)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-asr", action="store_true", help="skip the speech-recognition judge (WER)")
    parser.add_argument(
        "--speaker",
        default=None,
        help="multi-speaker checkpoints: read every sentence with this speaker (default: the speakers in "
        "turn, sentence i by speaker i mod n; eval.json breaks the summary down per speaker)",
    )
    add_progress_argument(parser)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def print_table(report: dict[str, Any]) -> None:
    """Per-sentence rows and the summary, for a person reading the terminal."""
    columns = (
        "id",
        "frames",
        "stop_reason",
        "attn/diagonality",
        "length_ratio",
        "mcd_db",
        "wer",
        "wer_ceiling",
        "cer",
        "cer_ceiling",
    )
    print("  ".join(f"{c.split('/')[-1]:>12}" for c in columns) + "  text")
    for record in report["sentences"]:
        cells = "  ".join(f"{_fmt(record.get(c)):>12}" for c in columns)
        print(f"{cells}  {record['text'][:50]}")
    print("summary:")
    for key, value in report["summary"].items():
        print(f"  {key:<24} {_fmt(value)}")
    for name, summary in report.get("per_speaker", {}).items():
        numbers = ("n", "wer", "cer", "attn/diagonality", "share_stop_gate", "mcd_db")
        print(f"speaker {name}: " + "  ".join(f"{key}={_fmt(summary.get(key))}" for key in numbers))


def run(args: argparse.Namespace) -> int:
    return run_reporting_input_errors(_run, args)


def _run(args: argparse.Namespace) -> int:
    from tacotron.infer.evaluate import evaluate, read_sentences
    from tacotron.infer.outputs import write_results
    from tacotron.infer.synthesizer import Synthesizer

    sentences = read_sentences(args.file)
    synth = Synthesizer.from_checkpoint(
        args.checkpoint, device=args.device, vocoder=args.vocoder, hifigan_weights=args.hifigan_weights
    )
    with progress_bar(args, "eval synth", "sentence") as progress:
        report, results = evaluate(
            synth,
            sentences,
            reference_dir=args.reference_dir,
            corpus_text=args.corpus_text,
            asr=not args.no_asr,
            batch_size=args.batch_size,
            seed=args.seed,
            judge=args.judge,
            asr_workers=args.asr_workers,
            speaker=args.speaker,
            progress=progress,
        )
    print_table(report)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        write_results(results, out / "wavs")
        (out / "eval.json").write_text(
            json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        print(f"wrote {out / 'eval.json'}")
    return 0
