"""`tacotron report RUN_DIR`: the Debug Reporter's HTML report and Markdown summary of a (running) run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "write report.html (plots, events, verdicts) and report.md for a run folder, finished or running"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run folder (metrics.jsonl, events.jsonl, config.yaml, checkpoints/)")
    parser.add_argument("--out", default=None, help="output folder (default: the run folder)")
    parser.add_argument("--quiet", action="store_true", help="do not print the Markdown summary")


def run(args: argparse.Namespace) -> int:
    from tacotron.health.report import write_report

    try:
        html_path, md_path = write_report(Path(args.run_dir), args.out)
    except FileNotFoundError as err:
        print(f"report: {err}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(md_path.read_text(encoding="utf-8"))
    print(f"report: {html_path}")
    print(f"summary: {md_path}")
    return 0
