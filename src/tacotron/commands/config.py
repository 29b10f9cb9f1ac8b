"""`tacotron config`: print the effective configuration (defaults + file + overrides) as YAML."""

from __future__ import annotations

import argparse

from tacotron.commands import add_config_arguments, config_from_args

HELP = "print the effective config (defaults, file, overrides) as YAML"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)


def run(args: argparse.Namespace) -> int:
    print(config_from_args(args).to_yaml(), end="")
    return 0
