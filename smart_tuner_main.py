"""`python smart_tuner_main.py`: the old "Smart Tuner V2" entry point, now a thin front to `tacotron tune`.

For users of the original tool: the same flags, defaulting to the demo corpus.

    python smart_tuner_main.py --optimize --n_trials 20       # search (tacotron tune)
    python smart_tuner_main.py --train                         # one run with the live controller on
    python smart_tuner_main.py --optimize --config my.yaml --data my_dataset --study mine

Without --data the demo corpus (demo/<lang>/dataset) is used, generated and prepared first if missing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))  # run from a checkout without `pip install -e .`


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--optimize", action="store_true", help="run the hyperparameter search (default)")
    mode.add_argument("--train", action="store_true", help="one training run with the live controller")
    parser.add_argument("--n_trials", "--n-trials", dest="n_trials", type=int, default=20)
    parser.add_argument("--config", default=None, help="base config (default the shipped demo.yaml)")
    parser.add_argument("--data", default=None, help="prepared dataset (default: the demo corpus)")
    parser.add_argument("--lang", choices=["en", "ru"], default="en", help="demo corpus language")
    parser.add_argument("--space", default="space.yaml", help="search space (default the shipped one)")
    parser.add_argument("--study", default="smart_tuner")
    parser.add_argument("--storage", default="")
    parser.add_argument("--out", default=None, help="tuner output (default tune/STUDY) or run folder")
    parser.add_argument("--steps", type=int, default=0, help="training steps per trial")
    parser.add_argument("--budget-minutes", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    return parser.parse_args(argv)


def demo_dataset(lang: str, config: str) -> Path:
    """demo/<lang>/dataset, built with the same commands `tacotron demo` runs when it is missing."""
    from tacotron.cli import main

    corpus, dataset = ROOT / "demo" / lang / "corpus", ROOT / "demo" / lang / "dataset"
    if not (corpus / "metadata.csv").is_file():
        _check(main(["demo-data", "--lang", lang, "--out", str(corpus)]), "demo-data")
    if not (dataset / "manifest.jsonl").is_file():
        sets = ["--set", f"text.language={lang}"]
        _check(main(["prepare", str(corpus), "--out", str(dataset), "--config", config, *sets]), "prepare")
    return dataset


def _check(code: int, stage: str) -> None:
    if code != 0:
        raise SystemExit(f"{stage} failed with exit code {code}")


def to_tacotron_argv(args: argparse.Namespace, data: str, config: str) -> list[str]:
    """The equivalent `tacotron ...` command line."""
    sets = [x for item in args.overrides for x in ("--set", item)]
    if args.train:
        run_dir = args.out or str(ROOT / "demo" / args.lang / "run-controlled")
        return [
            "train",
            "--config",
            config,
            "--data",
            data,
            "--run",
            run_dir,
            "--device",
            args.device,
            "--set",
            "tune.controller=true",
            *sets,
        ]
    argv = [
        "tune",
        "--config",
        config,
        "--data",
        data,
        "--space",
        args.space,
        "--trials",
        str(args.n_trials),
        "--study",
        args.study,
        "--device",
        args.device,
        "--workers",
        str(args.workers),
        *sets,
    ]
    for flag, value in (("--storage", args.storage), ("--out", args.out)):
        if value:
            argv += [flag, value]
    if args.steps:
        argv += ["--steps", str(args.steps)]
    if args.budget_minutes:
        argv += ["--budget-minutes", str(args.budget_minutes)]
    return argv


def _shown(command: list[str]) -> list[str]:
    """The command as printed: a storage URL without its password."""
    from tacotron.tune.storage import describe_url

    return [describe_url(arg) if "://" in arg else arg for arg in command]


def main(argv: list[str] | None = None) -> int:
    from tacotron.cli import main as tacotron_main
    from tacotron.configs import shipped_config

    args = parse_args(argv)
    config = args.config or str(shipped_config("demo-ru.yaml" if args.lang == "ru" else "demo.yaml"))
    data = args.data or str(demo_dataset(args.lang, config))
    command = to_tacotron_argv(args, data, config)
    print("$ tacotron " + " ".join(_shown(command)), flush=True)
    return tacotron_main(command)


if __name__ == "__main__":
    sys.exit(main())
