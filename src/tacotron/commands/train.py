"""`tacotron train --config cfg.yaml --data DATASET_DIR --run runs/NAME`: train (or continue) a run.

Re-running the same command in the same run folder continues from its newest checkpoint. Multi-GPU:
`tacotron train --gpus N ...` (starts torchrun for you) or `torchrun --nproc_per_node=N -m tacotron -- train ...`
(the `--` matters: without it torchrun takes `--run` for its own `--run-path`; `--run-dir` avoids it too);
several machines: torchrun with `--nnodes`, `--node-rank` and `--rdzv-endpoint` (README.md). Imports only
torch/numpy/PyYAML on the way to training (GPU machine).
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

from tacotron.commands import add_config_arguments
from tacotron.config import Config, load_config

HELP = "train a Tacotron 2 on a prepared dataset folder (resumes automatically)"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--data", required=True, help="prepared dataset folder (from `tacotron prepare`)")
    parser.add_argument(
        "--run",
        "--run-dir",
        dest="run_dir",
        required=True,
        help="run folder for checkpoints and logs, e.g. runs/ljspeech",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument("--resume", action="store_true", help="require a checkpoint in --run and continue it")
    resume.add_argument("--no-resume", action="store_true", help="refuse to start if --run has checkpoints")
    parser.add_argument(
        "--init-from",
        default=None,
        help="warm-start weights from this checkpoint, or an NVIDIA/DeepLearningExamples/torchaudio Tacotron 2 "
        "(embedding rows matched by symbol)",
    )
    parser.add_argument(
        "--init-skip",
        action="append",
        default=[],
        metavar="PREFIX",
        help="with --init-from: parameters whose names start with PREFIX stay freshly initialised (repeatable)",
    )
    parser.add_argument(
        "--gpus", type=int, default=1, help="train on N GPUs of this machine (starts torchrun)"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers (data.loader_workers)")


def run(args: argparse.Namespace) -> int:
    if args.gpus > 1 and "WORLD_SIZE" not in os.environ:
        return _launch_torchrun(args.gpus)
    import torch

    from tacotron.train import Trainer

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    cfg = _config(args)
    run_dir = Path(args.run_dir)
    has_checkpoints = any((run_dir / "checkpoints").glob("step_*.pt"))
    if args.resume and not has_checkpoints:
        print(f"--resume: no checkpoint in {run_dir / 'checkpoints'}", file=sys.stderr)
        return 2
    if args.no_resume and has_checkpoints:
        print(f"--no-resume: {run_dir} already has checkpoints; choose a new --run folder", file=sys.stderr)
        return 2
    from tacotron.data.dataset import DamagedManifestError, NotADatasetError
    from tacotron.train.warm_start import WarmStartError

    try:
        trainer = _build_trainer(cfg, args, run_dir, Trainer)
    except (NotADatasetError, DamagedManifestError, WarmStartError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return _fit(trainer, cfg)


def _build_trainer(cfg: Config, args: argparse.Namespace, run_dir: Path, trainer_cls: type) -> object:
    return trainer_cls(
        cfg,
        args.data,
        run_dir,
        device=args.device,
        callbacks=_default_callbacks(cfg, run_dir),
        resume=not args.no_resume,
        init_from=args.init_from,
        init_skip=tuple(args.init_skip),
    )


def _fit(trainer, cfg: Config) -> int:  # noqa: ANN001 (a Trainer; imported lazily)
    result = trainer.fit()
    if trainer.is_main:
        best = (
            f", best {cfg.train.best_metric} {result.best_metric:.4g}"
            if result.best_metric is not None
            else ""
        )
        print(
            f"stopped at step {result.step} ({result.stop_reason}); checkpoint {result.last_checkpoint}{best}"
        )
    return 0


def _config(args: argparse.Namespace) -> Config:
    """--config, else the run folder's own config.yaml when continuing a run, else defaults; then --set."""
    path = args.config
    saved = Path(args.run_dir) / "config.yaml"
    if path is None and saved.is_file():
        path = saved
    cfg = load_config(path, args.overrides)
    if args.workers is not None:
        cfg.data.loader_workers = args.workers
    return cfg


def _default_callbacks(cfg: Config, run_dir: Path) -> list:
    """What the config asks for: Debug Reporter, live controller, tracking (`tune.callbacks.run_callbacks`)."""
    from tacotron.tune.callbacks import run_callbacks

    return run_callbacks(cfg, run_dir)


def _launch_torchrun(gpus: int) -> int:
    """Re-run this command under torchrun with one process per GPU (arguments minus --gpus)."""
    argv = _strip_gpus(sys.argv[1:])
    if argv and argv[0] != "train":  # called through `python -m tacotron` or the console script
        argv = argv[argv.index("train") :]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={gpus}"]
    cmd += ["-m", "tacotron", "--", *argv]  # "--": torchrun would read "--run" as its own "--run-path"
    log.info("starting %s", " ".join(cmd))
    return subprocess.call(cmd)


def _strip_gpus(argv: list[str]) -> list[str]:
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
            continue
        if item == "--gpus":
            skip = True
            continue
        if item.startswith("--gpus="):
            continue
        out.append(item)
    return out
