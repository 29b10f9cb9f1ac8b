"""`tacotron demo-data --lang en --n 1200 --out DIR`: synthesise an LJSpeech-format corpus with espeak-ng."""

from __future__ import annotations

import argparse

HELP = "write a reproducible espeak-ng demo corpus (metadata.csv + wavs/) in English or Russian"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", choices=["en", "ru"], default="en")
    parser.add_argument("--n", type=int, default=1200, help="number of utterances")
    parser.add_argument("--out", required=True, help="corpus folder to write")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--voices", nargs="+", default=None, help="espeak-ng voices, e.g. en-us en-us+f3")
    parser.add_argument(
        "--heldout", type=int, default=0, help="also write N held-out sentences to heldout.txt"
    )


def run(args: argparse.Namespace) -> int:
    from tacotron.data.demo_corpus import heldout_sentences, write_demo_corpus

    out = write_demo_corpus(args.out, lang=args.lang, n=args.n, seed=args.seed, voices=args.voices)
    print(f"wrote {args.n} {args.lang} utterances to {out} (metadata.csv, wavs/)")
    if args.heldout:
        path = out / "heldout.txt"
        path.write_text(
            "\n".join(heldout_sentences(args.lang, args.heldout, args.seed)) + "\n", encoding="utf-8"
        )
        print(f"wrote {args.heldout} held-out sentences (never in any demo corpus) to {path}")
    return 0
