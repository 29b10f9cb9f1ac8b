"""`tacotron text [--lang ru] TEXT...`: show what the frontend makes of a text: cleaned form and ids.

For checking a corpus's language settings before a long preparation run: digits must come out
as words in the right language and no character may be unknown. Exit code 1 if any text has
unknown characters (they are listed), so the command also works as a check in scripts.
"""

from __future__ import annotations

import argparse
import sys

from tacotron.commands import add_config_arguments, config_from_args

HELP = "print the cleaned text and symbol ids the text frontend produces"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="+", help="one or more texts (quote each)")
    parser.add_argument(
        "--lang",
        default=None,
        help="overrides text.language: en, ru, or with text.phonemes=true any espeak-ng voice code",
    )
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tacotron.text import TextFrontend

    cfg = config_from_args(args)
    if args.lang is not None:
        cfg.text.language = args.lang
    frontend = TextFrontend(cfg.text)
    status = 0
    for text in args.text:
        cleaned = frontend.clean(text)
        print(f"text:    {text}")
        print(f"cleaned: {cleaned}")
        unknown = frontend.unknown_in_cleaned(cleaned)
        if unknown:
            listed = ", ".join(f"{c!r} (U+{ord(c):04X}) x{n}" for c, n in unknown.most_common())
            print(f"unknown: {listed}", file=sys.stderr)
            status = 1
            continue
        if not cleaned.strip():
            print("error: text is empty after cleaning", file=sys.stderr)
            status = 1
            continue
        print(f"ids:     {frontend.encode_cleaned(cleaned, original=text)}")
    return status
