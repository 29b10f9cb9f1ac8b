"""`tacotron tune`: Optuna search over a YAML search space, each trial a short real training run.

    tacotron tune --config base.yaml --data DATASET --space space.yaml --trials 20 --study demo
    tacotron tune ... --storage postgresql://user@host/db     # same command on every machine
    tacotron tune ... --workers 3                              # 3 local processes, one SQLite file
    TACOTRON_TUNE_STORAGE=postgresql://user:pw@host/db tacotron tune ...  # no password on the command line
    tacotron tune --config base.yaml --data DATASET --compare OUT/best.yaml --compare-steps 2000

Writes OUT/study.db (default storage), OUT/trials/trial_NNNN/ (run folders), OUT/best.yaml,
OUT/best.pt, OUT/report.html and OUT/report.md; OUT defaults to tune/<study>.

SIGTERM or Ctrl+C stops the study (all local workers) after the running trials' current step: those
trials are recorded as interrupted (FAILED, never COMPLETE) and re-queued, nothing new starts, and
the exit code is 128 + the signal number; run the same command again to resume.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tacotron.commands import add_config_arguments, add_progress_argument, config_from_args, progress_bar

HELP = "search hyperparameters with Optuna (short real training runs, pruning, report, best.yaml)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--data", required=True, help="prepared dataset folder (tacotron prepare)")
    parser.add_argument(
        "--space",
        default="space.yaml",
        help="search space YAML (a bare name: that file, else the shipped one)",
    )
    parser.add_argument(
        "--trials", type=int, default=0, help="finished trials wanted in the study (default tune.trials)"
    )
    parser.add_argument("--study", default="tacotron", help="study name (resumes if it exists)")
    parser.add_argument(
        "--storage",
        default=os.environ.get("TACOTRON_TUNE_STORAGE", ""),
        help="SQLAlchemy URL (default $TACOTRON_TUNE_STORAGE, else sqlite:///OUT/study.db)",
    )
    parser.add_argument("--out", default=None, help="output folder (default tune/STUDY)")
    parser.add_argument("--budget-minutes", type=float, default=0.0, help="wall-clock budget of this process")
    parser.add_argument("--workers", type=int, default=1, help="local worker processes sharing the study")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--steps", type=int, default=0, help="override tune.steps_per_trial")
    parser.add_argument(
        "--report-only", action="store_true", help="only export best.yaml and write the report"
    )
    parser.add_argument("--no-export", action="store_true", help="skip best.yaml/report (extra workers)")
    parser.add_argument("--worker-id", type=int, default=0, help="offsets the sampler seed per worker")
    add_progress_argument(parser)  # finished trials of the study, drawn by the first process only
    parser.add_argument(
        "--parallel", action="store_true", help="other workers share this study (constant liar)"
    )
    parser.add_argument(
        "--compare",
        default=None,
        metavar="TUNED_YAML",
        help="instead of searching: steps to alignment of --config vs this config",
    )
    parser.add_argument("--compare-steps", type=int, default=2000, help="training steps per compared config")
    parser.add_argument("--compare-every", type=int, default=100, help="evaluation interval when comparing")


def _child_argv(args: argparse.Namespace, out: Path) -> list[str]:
    """The arguments an extra local worker gets: the same study, data and config (storage: environment)."""
    argv = [
        "--data",
        args.data,
        "--space",
        args.space,
        "--trials",
        str(args.trials),
        "--study",
        args.study,
        "--out",
        str(out),
        "--device",
        args.device,
    ]
    if args.config:
        argv += ["--config", args.config]
    for item in args.overrides:
        argv += ["--set", item]
    if args.steps:
        argv += ["--steps", str(args.steps)]
    if args.budget_minutes:
        argv += ["--budget-minutes", str(args.budget_minutes)]
    return argv


def _compare(args: argparse.Namespace, cfg, out: Path) -> int:
    from tacotron.config import load_config
    from tacotron.tune.compare import compare_configs

    tuned = load_config(args.compare, args.overrides)
    compare_configs(
        {"base": cfg, "tuned": tuned},
        Path(args.data),
        out / "compare",
        args.compare_steps,
        args.compare_every,
        args.device,
    )
    print((out / "compare" / "compare.md").read_text(encoding="utf-8"), end="")
    return 0


def run(args: argparse.Namespace) -> int:
    from tacotron.extras import require

    require("optuna", "tune", "tacotron tune")
    from tacotron.infer.trial_proxy import judge_available, judge_proxy
    from tacotron.tune.runner import TuneJob, finish, run_study
    from tacotron.tune.space import SearchSpace

    cfg = config_from_args(args)
    if args.steps:
        cfg.tune.steps_per_trial = args.steps
    out = Path(args.out or f"tune/{args.study}")
    if args.compare:
        return _compare(args, cfg, out)
    if cfg.tune.proxy_sentences and not args.worker_id:
        heard = judge_available(cfg)
        print(
            f"intelligibility proxy: {'held-out WER (pocketsphinx)' if heard else 'validation mel loss'} on "
            f"{cfg.tune.proxy_sentences} held-out sentences"
            + ("" if heard else " (no ASR judge: pocketsphinx missing or the language is not English)"),
            file=sys.stderr,
        )
    job = TuneJob(
        cfg=cfg,
        dataset_dir=Path(args.data),
        space=SearchSpace.load(_space_path(args.space)),
        study_name=args.study,
        out_dir=out,
        storage_url=args.storage,
        trials=args.trials,
        budget_minutes=args.budget_minutes,
        device=args.device,
        worker_id=args.worker_id,
        parallel=args.parallel or args.workers > 1,
        proxy=judge_proxy,  # held-out WER where pocketsphinx is installed, else validation mel loss
    )
    if not args.report_only:
        with progress_bar(args, "trials", "trial") as progress:
            job.progress = None if args.worker_id else progress  # one bar: the first process's
            stop = run_study(job, _child_argv(args, out), args.workers)
        if stop.requested:
            who = f"worker {args.worker_id}: " if args.worker_id else ""
            print(
                f"{who}study '{args.study}' stopped ({stop.reason}): running trials were recorded as interrupted "
                "and re-queued; no export or report. Run the same command to resume.",
                file=sys.stderr,
            )
            return stop.exit_code
    if args.no_export:
        return 0
    paths = finish(job)
    for name, path in paths.items():
        print(f"{name}: {path if path else '(none: no completed trial)'}")
    return 0


def _space_path(name: str):
    """The search-space file, or the shipped one of that name; a config error (exit 2) when neither exists."""
    from tacotron.config import ConfigError
    from tacotron.configs import find_config

    try:
        return find_config(name)
    except FileNotFoundError as err:
        raise ConfigError(str(err)) from err
