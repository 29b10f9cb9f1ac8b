"""`tacotron prepare DATA_DIR --out DATASET_DIR`: validate and featurise a corpus into a dataset folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tacotron.commands import add_config_arguments, config_from_args

if TYPE_CHECKING:
    from tacotron.data.report import PrepareReport

HELP = (
    "validate a corpus (LJSpeech layout, a filelist or a VCTK folder, --format) "
    "and write mels + manifest to a dataset folder"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tacotron.data.sources import FORMATS, LAYOUTS
    from tacotron.data.vctk import LAYOUT as VCTK_LAYOUT

    parser.add_argument(
        "data_dir",
        help="corpus folder: metadata.csv + wavs/, a VCTK folder (txt/ + wav48*/), or the root of --filelist paths",
    )
    parser.add_argument("--out", required=True, help="dataset folder to write (re-running resumes)")
    parser.add_argument(
        "--filelist",
        default=None,
        help="description file instead of DATA_DIR/metadata.csv (paths relative to DATA_DIR)",
    )
    layouts = "; ".join(f"{name}: {layout}" for name, layout in LAYOUTS.items())
    parser.add_argument(
        "--format",
        dest="corpus_format",
        choices=FORMATS,
        default="auto",
        help=f"line layout ({layouts}) or folder layout (vctk: {VCTK_LAYOUT}; vctk-mic2: the _mic2.flac "
        "recordings); auto (default) refuses an ambiguous 3-field file or folder",
    )
    parser.add_argument("--workers", type=int, default=None, help="processes (default: data.workers)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """0 when at least one item was kept; 1 when none was (the reasons in two lines); 2 for a missing input."""
    from tacotron.data.prepare import prepare_dataset
    from tacotron.data.sources import CorpusFormatError

    cfg = config_from_args(args)
    try:
        report = prepare_dataset(
            Path(args.data_dir),
            Path(args.out),
            cfg,
            workers=args.workers,
            progress=not args.no_progress,
            filelist=args.filelist,
            fmt=args.corpus_format,
        )
    except (FileNotFoundError, CorpusFormatError) as err:
        print(f"prepare: {err}", file=sys.stderr)
        return 2
    _print_summary(report)
    if report.kept == 0:
        first = (
            f"; first: {report.skipped[0]['id']}: {report.skipped[0]['detail'][:160]}"
            if report.skipped
            else ""
        )
        print(
            f"prepare: no items kept out of {len(report.skipped)}: {report.reasons_line()}", file=sys.stderr
        )
        print(f"  see {report.report_md}{first}", file=sys.stderr)
        return 1
    return 0


def _print_summary(report: PrepareReport) -> None:
    print(
        f"kept {report.kept} items ({report.seconds / 60:.1f} min; train {report.train}, val {report.val}), "
        f"skipped {len(report.skipped)}; computed {report.processed}, reused {report.reused}"
    )
    if report.recomputed:
        print(
            f"  recomputed {sum(report.recomputed.values())} items of an earlier run: {report.recomputed_line()}"
        )
    for reason, count in report.reasons.items():
        print(f"  skipped {count:5d} x {reason}")
    if report.unknown_characters:
        chars = " ".join(f"{c!r}x{n}" for c, n in list(report.unknown_characters.items())[:20])
        print(f"  unknown characters: {chars}")
    print(f"report: {report.report_md}")
