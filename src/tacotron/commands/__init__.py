"""Subcommands of the `tacotron` CLI, one module each (see `tacotron.cli`).

Shared argument helpers live here so every command reads configs the same way.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator

from tacotron.config import Config, load_config


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """`--config file.yaml` and repeatable `--set section.key=value` overrides."""
    parser.add_argument("--config", default=None, help="YAML config (defaults when omitted)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.lr=5e-4 (repeatable)",
    )


def add_decoding_argument(parser: argparse.ArgumentParser) -> None:
    """--decoding for the commands that synthesise (`synth`, `serve`); `synthesizer.fast_for` reads it.

    The choices are `tacotron.infer.synthesizer.DECODINGS` (a test checks), written out so that building
    the parser does not import torch.
    """
    parser.add_argument(
        "--decoding",
        choices=["auto", "fast", "eager"],
        default="auto",
        help="fast: CUDA graphs (CUDA devices only); eager: plain PyTorch; auto (default): fast on CUDA, "
        "else eager (fallbacks to eager are logged)",
    )


def add_hifigan_weights_argument(parser: argparse.ArgumentParser) -> None:
    """--hifigan-weights for every command that vocodes with HiFi-GAN (`synth`, `eval`, `serve`, `export`);
    `tacotron.infer.vocoders.build_vocoder` reads the value, so all of them accept the same three kinds."""
    parser.add_argument(
        "--hifigan-weights",
        default="universal",
        metavar="universal|LJSpeech|PATH",
        help="with --vocoder hifigan: shipped weights, or a checkpoint (file or run folder) of `tacotron "
        "vocoder train` (refused unless trained on the model's sample rate, n_mels and hop)",
    )


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    """`--no-progress` for commands that draw a progress bar (`progress_bar` reads it)."""
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="hide the progress bar (it is drawn on stderr only when stderr is a terminal)",
    )


@contextlib.contextmanager
def progress_bar(args: argparse.Namespace, desc: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A `(done, total)` callback drawing a tqdm bar on stderr; silent with --no-progress or when stderr
    is not a terminal (tqdm's disable=None), so logs, pipes and CI output stay clean. The bar starts at
    the first call, when the total is known, and is cleared at the end (the command prints its summary)."""
    from tqdm import tqdm

    bars: list[tqdm] = []

    def update(done: int, total: int) -> None:
        if not bars:
            disable = True if getattr(args, "no_progress", False) else None
            bars.append(
                tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, disable=disable, leave=False)
            )
        bars[0].update(done - bars[0].n)

    try:
        yield update
    finally:
        for bar in bars:
            bar.close()


def config_from_args(args: argparse.Namespace) -> Config:
    return load_config(args.config, args.overrides)


def run_reporting_input_errors(body: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a synthesis command; bad user input (missing file, empty text, unknown characters, a checkpoint
    that does not match) becomes one `error: ...` line and exit 2, anything else keeps its traceback."""
    from tacotron.infer.synthesizer import input_errors

    try:
        return body(args)
    except input_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def run_command(argv: list[str]) -> int:
    """Run `tacotron ARGV` in this process (argv[0] is the command name, e.g. "prepare"); returns its code.

    For commands that chain others (`demo`): the same parser and `run` as the CLI, without going back
    up through `tacotron.cli`.
    """
    import importlib

    name, rest = argv[0], argv[1:]
    module = importlib.import_module(f"tacotron.commands.{name.replace('-', '_')}")
    parser = argparse.ArgumentParser(prog=f"tacotron {name}", description=module.HELP)
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(rest)) or 0)
