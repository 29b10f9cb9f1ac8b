"""`tacotron <subcommand>`: one CLI whose subcommands live in `tacotron.commands`, one module each.

A command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Modules are discovered, so adding a command never means editing this file. Command modules must
import heavy or optional packages (librosa, optuna, fastapi, ...) inside `run`, so that `--help`
stays fast and a GPU machine without those packages can still run `train` and `bench`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from tacotron import __version__, commands
from tacotron.config import ConfigError
from tacotron.extras import MissingExtraError


def _command_modules() -> dict[str, object]:
    found = {}
    for info in pkgutil.iter_modules(commands.__path__):
        if info.name.startswith("_"):
            continue
        found[info.name.replace("_", "-")] = importlib.import_module(f"tacotron.commands.{info.name}")
    return dict(sorted(found.items()))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tacotron", description="Tacotron 2 TTS training system")
    parser.add_argument("--version", action="version", version=f"tacotron {__version__}")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in _command_modules().items():
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        # also after the subcommand (`tacotron train --log-level DEBUG ...`); SUPPRESS keeps the top-level value
        cmd.add_argument("--log-level", default=argparse.SUPPRESS, help="DEBUG, INFO, WARNING, ERROR")
        cmd.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        return int(args.run(args) or 0)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        return 2
    except MissingExtraError as err:
        print(err, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
