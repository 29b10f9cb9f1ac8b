"""`tacotron convert SRC --out OUT.pt`: a Tacotron 2 trained elsewhere (NVIDIA/tacotron2, DeepLearningExamples,
torchaudio) as this project's checkpoint, to fine-tune from (`tacotron train --config OUT.yaml --init-from OUT.pt`)
or synthesise with (`tacotron synth --checkpoint OUT.pt`).

The model sizes come from SRC's tensors; `--config`/`--set` give the rest (the text and audio settings of
the voice to fine-tune, dropout, r). The embedding is re-ordered to this config's symbol table by symbol
(`tacotron.train.warm_start`); `tacotron.model.convert` documents the renaming and the r decision.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tacotron.commands import add_config_arguments, config_from_args
from tacotron.config import AudioConfig, Config

if TYPE_CHECKING:
    from tacotron.model.convert import SourceWeights

HELP = "convert an NVIDIA/DeepLearningExamples/torchaudio Tacotron 2 checkpoint to this project's format"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="SRC", help="foreign checkpoint, e.g. tacotron2_statedict.pt")
    parser.add_argument("--out", required=True, help="checkpoint to write (OUT.yaml gets its config)")
    add_config_arguments(parser)
    parser.add_argument(
        "--source-symbols",
        default=None,
        help="SRC's symbol table when it is neither NVIDIA's 148 symbols nor torchaudio's 38 characters: "
        "a JSON file (a list, or a symbols.json) or the symbols as one string of characters",
    )
    parser.add_argument(
        "--trust-pickle",
        action="store_true",
        help="load SRC even if it pickles Python objects besides tensors (only for files you trust)",
    )


@dataclass
class Conversion:
    """A converted checkpoint (this project's format) and what changed on the way, for the summary."""

    checkpoint: dict[str, Any]
    config_changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run(args: argparse.Namespace) -> int:
    from tacotron.model.checkpoint import CheckpointError
    from tacotron.model.convert import ConversionError, read_source
    from tacotron.train.warm_start import WarmStartError

    cfg = config_from_args(args)
    try:
        symbols = read_symbols_argument(args.source_symbols)
        source = read_source(args.source, symbols=symbols, trust_pickle=args.trust_pickle)
        result = convert_checkpoint(source, cfg, origin=args.source)
    except (CheckpointError, ConversionError, WarmStartError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    _write(result, Path(args.out), cfg)
    _print_summary(result, Path(args.out))
    return 0


def read_symbols_argument(value: str | None) -> list[str] | None:
    """--source-symbols: a JSON list or symbols.json file, else the symbols as a string of characters."""
    if value is None:
        return None
    path = Path(value)
    if not path.is_file():
        return list(value)
    data = json.loads(path.read_text(encoding="utf-8"))
    return list(data["symbols"] if isinstance(data, dict) else data)


def convert_checkpoint(source: SourceWeights, cfg: Config, *, origin: str = "") -> Conversion:
    """Foreign `SourceWeights` -> a checkpoint of this project for `cfg` (its model sizes set from the
    weights, in place). Raises ConversionError (one line) when the weights cannot become this model."""
    from tacotron.model import build_model
    from tacotron.model.checkpoint import FORMAT_VERSION
    from tacotron.model.convert import ConversionError, apply_sizes, check_against, fit_frames_per_step
    from tacotron.text import TextFrontend
    from tacotron.train.warm_start import EMBEDDING, transfer_embedding

    if source.layout == "tacotron":
        raise ConversionError(
            f"{origin} is already this project's checkpoint: pass it to `tacotron train --init-from` "
            "(which matches embedding rows by symbol)"
        )
    if cfg.model.gst or cfg.model.ddc:
        raise ConversionError(
            "the converted model has no GST or DDC parts: convert without them, then enable them for "
            "fine-tuning (--init-from leaves parts the checkpoint lacks initialised)"
        )
    if source.symbols is None:
        raise ConversionError(
            f"the symbol table of {source.describe(EMBEDDING)} ({source.n_symbols} rows) is unknown: "
            "name it with --source-symbols"
        )
    changes = apply_sizes(cfg, source)
    cfg.validate()
    table = TextFrontend(cfg.text).symbols
    max_r = cfg.model.max_frames_per_step or cfg.model.n_frames_per_step
    state, copied = fit_frames_per_step(source.state, max_r, source.n_mels)
    state[EMBEDDING], transfer = transfer_embedding(state[EMBEDDING], source.symbols, table.symbols)
    model = build_model(cfg.model, len(table), cfg.audio.n_mels)
    check_against(dataclasses.replace(source, state=state), model.state_dict())
    model.load_state_dict(state, strict=True)
    notes = [f"symbols: {transfer.describe()}"] + _audio_notes(cfg.audio)
    if copied:
        notes.append(f"r: the r=1 projection is copied into all {max_r} frame groups (exact at r=1 only)")
    checkpoint = {
        "format_version": FORMAT_VERSION,
        "model": model.state_dict(),
        "config": cfg.to_dict(),
        "symbols": table.to_dict(),
        "r": 1,
        "step": 0,
        "converted_from": {
            "path": str(origin),
            "layout": source.layout,
            "symbols": transfer.summary(),
            "config_changes": changes,
        },
    }
    return Conversion(checkpoint, changes, notes)


def _audio_notes(audio: AudioConfig) -> list[str]:
    """Audio settings that differ from the NVIDIA recipe the published weights were trained on
    (AudioConfig's defaults): allowed, but the model then has to relearn its output."""
    recipe = AudioConfig(n_mels=audio.n_mels)
    names = [f.name for f in dataclasses.fields(recipe)]
    differ = [
        f"{k} {getattr(audio, k)} (recipe {getattr(recipe, k)})"
        for k in names
        if getattr(audio, k) != getattr(recipe, k)
    ]
    return [f"audio differs from the NVIDIA recipe: {', '.join(differ)}"] if differ else []


def _write(result: Conversion, out: Path, cfg: Config) -> None:
    from tacotron.train.checkpoint import atomic_save

    atomic_save(result.checkpoint, out)
    cfg.save(out.with_suffix(".yaml"))


def _print_summary(result: Conversion, out: Path) -> None:
    source = result.checkpoint["converted_from"]
    print(f"wrote {out} and {out.with_suffix('.yaml')} from {source['path']} ({source['layout']} layout)")
    for line in result.config_changes:
        print(f"  config {line}")
    for line in result.notes:
        print(f"  {line}")
    print(
        f"fine-tune: tacotron train --config {out.with_suffix('.yaml')} --data DATA --run RUN --init-from {out}"
    )
