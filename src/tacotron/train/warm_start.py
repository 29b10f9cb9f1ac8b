"""Warm start (`--init-from`): copy matching weights from another checkpoint into a fresh model.

Weights only: optimizer, step and data position start anew. The source is this project's checkpoint or
a foreign Tacotron 2 (NVIDIA/tacotron2, DeepLearningExamples, torchaudio: renamed by
`tacotron.model.convert`). Two differences are bridged instead of refused:

- Symbol tables. Embedding rows are matched by symbol (`transfer_embedding`), so an English model can
  start a Russian voice, or NVIDIA's 148-symbol model ours. Our letter tables are lowercase (the
  frontend lowercases, as NVIDIA's english_cleaners do), so exact matches carry the trained rows; a
  symbol missing from the source starts from its other case, else (Cyrillic) from the Latin letter of a
  near sound (from an English phoneme model: the IPA symbol of a near sound that English uses), else
  from the mean of the matched rows: a neutral "some letter" the trained encoder
  has seen the like of, which fine-tuning then separates. Source symbols no row uses are listed.
- r. Weights trained with r = 1 fill every frame group of a model with max_frames_per_step > 1
  (`tacotron.model.convert.fit_frames_per_step`, which says why that is only a starting point).

Parts the source lacks (GST, DDC's coarse decoder) stay freshly initialised, as do parameters named in
`skip` (prefixes); anything else that does not fit is a `WarmStartError` naming the parameter and the
`--init-skip` that would leave it initialised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from tacotron.model.checkpoint import CheckpointError
from tacotron.model.convert import ConversionError, SourceWeights, fit_frames_per_step, read_source
from tacotron.text.symbols import PAD, SymbolTable

if TYPE_CHECKING:
    from tacotron.model.tacotron2 import Tacotron2

log = logging.getLogger(__name__)

EMBEDDING = "encoder.embedding.weight"
# Cyrillic letter -> the Latin letter of a near sound, one each (ъ and ь have none): a starting row only.
_TRANSLITERATION = dict(
    zip("абвгдеёжзийклмнопрстуфхцчшщыэюя", "abvgdeezziiklmnoprstufhccssyeua", strict=True)
)
# The same for a phoneme (espeak-ng IPA) source: the symbol of a near sound that English IPA uses. An English
# phoneme model's table holds every IPA symbol, but rows English never produces (r, x, c, y, ɕ, ɨ, ɵ) were never
# trained; so р starts from ɹ, х from h, ы from ɪ, and г from ɡ (the IPA letter: Latin g is not in English IPA).
_CYRILLIC_TO_ENGLISH_IPA = dict(
    zip("абвгдеёжзийклмнопрстуфхцчшщыэюя", "abvɡdeoʒzijklmnopɹstufhsʃʃʃɪɛua", strict=True)
)
# Latin letters of a target table (Russian keeps a-z for foreign words) whose IPA namesake English never
# writes (c, r, y: measured on 300 fortunes through espeak-ng en-us) or that IPA lacks (g, q): from a
# phoneme source (taken to be English, as above) they start from the English IPA symbol of a near sound,
# not from an untrained row.
_LATIN_TO_ENGLISH_IPA = {"c": "k", "g": "ɡ", "q": "k", "r": "ɹ", "y": "j"}
_TO_ENGLISH_IPA = {**_CYRILLIC_TO_ENGLISH_IPA, **_LATIN_TO_ENGLISH_IPA}  # a phoneme source's stand-ins
_IPA_MARK = "ə"  # in every IPA table, in no letters table: tells a phoneme source from a letter one


class WarmStartError(ValueError):
    """The checkpoint cannot initialise this model; one line naming the file and the tensor."""


@dataclass
class SymbolTransfer:
    """How each embedding row of the target table was filled.

    copied: symbols found in the source; borrowed: new symbol -> the source symbol whose row it starts
    from; initialised: new symbols starting from the mean of the copied rows; dropped: source symbols
    that no row uses."""

    copied: list[str] = field(default_factory=list)
    borrowed: dict[str, str] = field(default_factory=dict)
    initialised: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "copied": len(self.copied),
            "borrowed": dict(self.borrowed),
            "initialised": list(self.initialised),
            "dropped": list(self.dropped),
        }

    def describe(self) -> str:
        borrowed = ", ".join(f"{new}<-{old}" for new, old in self.borrowed.items())
        return (
            f"{len(self.copied)} symbols copied; {len(self.borrowed)} borrowed [{borrowed}]; "
            f"{len(self.initialised)} initialised to the mean {self.initialised}; "
            f"{len(self.dropped)} dropped {self.dropped}"
        )


def transfer_embedding(
    weight: torch.Tensor, source: Sequence[str], target: Sequence[str]
) -> tuple[torch.Tensor, SymbolTransfer]:
    """Embedding rows of `weight` [len(source), D] (in `source`'s order) -> [len(target), D] by symbol."""
    if weight.shape[0] != len(source):
        raise WarmStartError(
            f"embedding has {weight.shape[0]} rows but the source table {len(source)} symbols"
        )
    index = {s: i for i, s in enumerate(source)}
    transfer = SymbolTransfer()
    picks: list[int | None] = []
    for symbol in target:
        if symbol in index and not _untrained_in(symbol, index):
            transfer.copied.append(symbol)
            picks.append(index[symbol])
        elif (stand_in := _stand_in(symbol, index)) is not None:
            transfer.borrowed[symbol] = stand_in
            picks.append(index[stand_in])
        else:
            transfer.initialised.append(symbol)
            picks.append(None)
    matched = [index[s] for s in transfer.copied if s != PAD] or list(range(len(source)))
    mean = weight[matched].mean(dim=0)
    rows = [weight[i] if i is not None else mean for i in picks]
    used = set(transfer.copied) | set(transfer.borrowed.values())
    transfer.dropped = [s for s in source if s not in used]
    return torch.stack(rows).clone(), transfer


def _stand_in(symbol: str, index: dict[str, int]) -> str | None:
    """The source symbol whose row a new `symbol` starts from: its other case, else a near sound (IPA
    from a phoneme source, a Latin letter from a letter source)."""
    near = (_TO_ENGLISH_IPA if _IPA_MARK in index else _TRANSLITERATION).get(symbol.lower())
    candidates = [symbol.swapcase()] + ([near, near.upper()] if near else [])
    return next((c for c in candidates if c != symbol and c in index and not _untrained_in(c, index)), None)


def _untrained_in(symbol: str, index: dict[str, int]) -> bool:
    """A Latin letter whose row a phoneme source has but never trained (`_LATIN_TO_ENGLISH_IPA`)."""
    return _IPA_MARK in index and symbol.lower() in _LATIN_TO_ENGLISH_IPA


def warm_start(
    model: Tacotron2,
    path: Path,
    skip: tuple[str, ...],
    log_event: Callable[..., Any],
    symbols: SymbolTable | None = None,
) -> None:
    """Load the tensors of `path` that fit `model` (whose text uses `symbols`); log an "init_from" event.

    symbols None: the embedding is copied as it is (same table assumed, shapes checked)."""
    source = _read(path)
    state, groups_copied = fit_frames_per_step(source.state, model.max_frames_per_step, model.n_mels)
    transfer = None
    if symbols is not None and EMBEDDING in state and not EMBEDDING.startswith(skip):
        transfer = _map_symbols(source, state, symbols, path)
    own = model.state_dict()
    loaded, skipped = {}, []
    for name, value in state.items():
        if name.startswith(skip):
            skipped.append(name)
        else:
            _check_fits(source, name, value, own, path)
            loaded[name] = value
    with torch.no_grad():
        model.load_state_dict(loaded, strict=False)
    if transfer is not None:
        log.info("--init-from %s: %s", path, transfer.describe())
    foreign = "" if source.layout == "tacotron" else f" from {source.layout} weights"
    log_event(
        0,
        "init_from",
        reason=str(path),
        action=f"loaded {len(loaded)} tensors{foreign}",
        skipped=skipped,
        initialised=[n for n in own if n not in loaded],
        symbols=transfer.summary() if transfer is not None else None,
        frame_groups_copied=groups_copied,
    )


def _read(path: Path) -> SourceWeights:
    try:
        return read_source(path)
    except (CheckpointError, ConversionError) as err:
        raise WarmStartError(f"--init-from {path}: {err}") from err


def _map_symbols(
    source: SourceWeights, state: dict[str, torch.Tensor], symbols: SymbolTable, path: Path
) -> SymbolTransfer | None:
    """Re-order the embedding in `state` to `symbols` (in place); None when the tables are the same."""
    if source.symbols is None:
        raise WarmStartError(
            f"--init-from {path}: the symbol table of its embedding ({state[EMBEDDING].shape[0]} rows) is "
            f"unknown; name it with `tacotron convert --source-symbols`, or pass --init-skip encoder.embedding"
        )
    if tuple(source.symbols) == tuple(symbols.symbols):
        return None
    state[EMBEDDING], transfer = transfer_embedding(state[EMBEDDING], source.symbols, symbols.symbols)
    return transfer


def _check_fits(
    source: SourceWeights, name: str, value: torch.Tensor, own: dict[str, torch.Tensor], path: Path
) -> None:
    layer = name.rsplit(".", 1)[0]
    if name not in own:
        raise WarmStartError(
            f"--init-from {path}: parameter {source.describe(name)} does not exist in this model "
            f"(skip it with --init-skip {layer})"
        )
    if own[name].shape != value.shape:
        raise WarmStartError(
            f"--init-from {path}: {source.describe(name)} has shape {tuple(value.shape)} in the checkpoint "
            f"but {tuple(own[name].shape)} here; set the model sizes to the checkpoint's (`tacotron convert` "
            f"derives them) or pass --init-skip {layer} to re-initialise it"
        )
