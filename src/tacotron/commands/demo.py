"""`tacotron demo`: the README's first command, end to end on a built-in espeak-ng corpus.

Each stage is the same CLI command a user would run by hand (demo-data, prepare, train, synth, eval,
report), so the demo exercises exactly the public code paths. Every stage is resumable: re-running
`make demo` reuses the corpus and the prepared folder and continues training where it stopped.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

HELP = "build the demo corpus, prepare it, train, synthesise held-out sentences, evaluate, report"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lang", choices=["en", "ru"], default="en")
    parser.add_argument("--out", default=None, help="demo folder (default demo/LANG)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--n", type=int, default=1200, help="corpus size in utterances")
    parser.add_argument("--minutes", type=float, default=None, help="training budget (default: config's)")
    parser.add_argument("--config", default=None, help="training config (default the shipped demo*.yaml)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--heldout", type=int, default=8, help="held-out sentences to synthesise")
    parser.add_argument("--seed", type=int, default=0)


def _default_config(lang: str, device: str) -> Path:
    from tacotron.configs import shipped_config

    name = "demo-cuda.yaml" if device.startswith("cuda") else "demo.yaml"
    if lang == "ru":
        name = name.replace(".yaml", "-ru.yaml")
    return shipped_config(name)


def _run(argv: list[str]) -> None:
    from tacotron.commands import run_command

    print(f"\n$ tacotron {' '.join(argv)}", flush=True)
    code = run_command(argv)
    if code != 0:
        raise SystemExit(f"demo stage failed (exit {code}): tacotron {' '.join(argv)}")


def run(args: argparse.Namespace) -> int:
    from tacotron.data.demo_corpus import heldout_sentences, write_reference_wavs

    out = Path(args.out or f"demo/{args.lang}")
    corpus, dataset, run_dir = out / "corpus", out / "dataset", out / "run"
    config = args.config or str(_default_config(args.lang, args.device))
    overrides = [f"text.language={args.lang}", *args.overrides]
    if args.minutes is not None:
        overrides.append(f"train.max_minutes={args.minutes}")
    sets = [item for o in overrides for item in ("--set", o)]

    if not (corpus / "metadata.csv").is_file():
        _run(
            [
                "demo-data",
                "--lang",
                args.lang,
                "--n",
                str(args.n),
                "--seed",
                str(args.seed),
                "--out",
                str(corpus),
            ]
        )
    _run(["prepare", str(corpus), "--out", str(dataset), "--config", config, *sets])
    device = ["--device", args.device]
    _run(["train", "--config", config, *sets, "--data", str(dataset), "--run", str(run_dir), *device])

    heldout = out / "heldout.txt"
    sentences = heldout_sentences(args.lang, args.heldout, args.seed)
    heldout.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    references = write_reference_wavs(sentences, out / "heldout-wavs", args.lang)
    # a 30-minute model may not stop on every held-out sentence: keep its audio (synth.jsonl marks it)
    synth = ["synth", "--checkpoint", str(run_dir), "--file", str(heldout), "--allow-truncated", *device]
    for vocoder in ("griffin-lim", "hifigan"):
        _run([*synth, "--out", str(out / f"synth-{vocoder}"), "--vocoder", vocoder])
    judge = ["--corpus-text", str(corpus / "metadata.csv"), "--reference-dir", str(references)]
    if args.lang == "ru":
        judge = ["--no-asr", "--reference-dir", str(references)]  # no offline Russian recogniser
    _run(
        [
            "eval",
            "--checkpoint",
            str(run_dir),
            "--file",
            str(heldout),
            "--out",
            str(out / "eval"),
            *judge,
            *device,
        ]
    )
    _run(["report", str(run_dir)])

    print("\nDemo finished:")
    print(f"  wavs:       {out / 'synth-griffin-lim'}  and  {out / 'synth-hifigan'}")
    print(f"  evaluation: {out / 'eval' / 'eval.json'}")
    print(f"  report:     {run_dir / 'report.html'}")
    print(f"  checkpoint: {run_dir / 'checkpoints' / 'best.pt'}")
    return 0
