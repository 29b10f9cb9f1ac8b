"""Tacotron 2 weights trained elsewhere, renamed to this project's model: NVIDIA/tacotron2,
NVIDIA DeepLearningExamples (DLE) and torchaudio.

Why: the usual way to a new voice is to fine-tune a trained model on an hour of it, which aligns in far
fewer steps than training from scratch (issue 23). The three are the network ours follows (NVIDIA's
model.py; torchaudio's is a copy of DLE's), so conversion is renaming plus a few decisions, taken here:

- Layouts. NVIDIA/tacotron2 and DLE wrap their layers (`ConvNorm.conv`, `LinearNorm.linear_layer`);
  torchaudio uses the same names without the wrappers. Both reduce to that plain form, which one table
  (`_RENAMES`) maps to ours. DDP's "module." and torch.compile's "_orig_mod." prefixes are removed.
- Sizes come from the tensors (`derived_sizes`), never from a config, and `apply_sizes` writes them
  into one, naming each value it changed and the tensor it came from.
- r. Their projection emits n_mels * n_frames_per_step values and their prenet reads that many; all
  published weights have r = 1 (NVIDIA: "currently only 1 is supported"). A source with r > 1 is refused,
  since our prenet reads only the last frame of a group. Ours projects `max_frames_per_step` groups of
  n_mels (frame-major); `fit_frames_per_step` copies the r = 1 weights into every group: exact at r = 1
  (only the first group is used) and, at r > 1, a starting point for fine-tuning, not a working model
  (each step repeats one frame r times while attention moves at its per-frame pace).
- Symbols. The embedding keeps the source's row order; `SourceWeights.symbols` names that table (NVIDIA's
  148 symbols, torchaudio's 38 characters, or one the caller gives) and the warm start maps rows by
  symbol (`tacotron.train.warm_start.transfer_embedding`).

The networks differ only in masking: ours zeroes padded text positions and frames before each conv,
theirs do not, so outputs are equal for batches without padding (tests/model/test_convert.py).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tacotron.config import Config
from tacotron.model.checkpoint import checked_checkpoint, is_tacotron_checkpoint, read_weights_file

# NVIDIA/tacotron2 text/symbols.py (DLE's "english_basic" is the same list): pad, special, punctuation,
# letters, then ARPAbet (text/cmudict.py valid_symbols) prefixed with "@".
# fmt: off
_ARPABET = [
    "AA", "AA0", "AA1", "AA2", "AE", "AE0", "AE1", "AE2", "AH", "AH0", "AH1", "AH2", "AO", "AO0", "AO1",
    "AO2", "AW", "AW0", "AW1", "AW2", "AY", "AY0", "AY1", "AY2", "B", "CH", "D", "DH", "EH", "EH0", "EH1",
    "EH2", "ER", "ER0", "ER1", "ER2", "EY", "EY0", "EY1", "EY2", "F", "G", "HH", "IH", "IH0", "IH1", "IH2",
    "IY", "IY0", "IY1", "IY2", "JH", "K", "L", "M", "N", "NG", "OW", "OW0", "OW1", "OW2", "OY", "OY0", "OY1",
    "OY2", "P", "R", "S", "SH", "T", "TH", "UH", "UH0", "UH1", "UH2", "UW", "UW0", "UW1", "UW2", "V", "W",
    "Y", "Z", "ZH",
]
# fmt: on
NVIDIA_SYMBOLS: tuple[str, ...] = (
    "_",
    "-",
    *"!'(),.:;? ",
    *string.ascii_uppercase,
    *string.ascii_lowercase,
    *("@" + s for s in _ARPABET),
)
# torchaudio's TACOTRON2_*_CHAR_LJSPEECH pipelines.
TORCHAUDIO_CHAR_SYMBOLS: tuple[str, ...] = tuple("_-!'(),.:;? abcdefghijklmnopqrstuvwxyz")
_TABLES_BY_ROWS = {len(NVIDIA_SYMBOLS): NVIDIA_SYMBOLS, len(TORCHAUDIO_CHAR_SYMBOLS): TORCHAUDIO_CHAR_SYMBOLS}

_PREFIXES = ("module.", "_orig_mod.")
_WRAPPERS = {"conv", "linear_layer"}  # ConvNorm.conv, LinearNorm.linear_layer (NVIDIA, DLE)
# plain (torchaudio-style) name -> ours; full matches, tried in order
_RENAMES = [
    (r"embedding\.weight", r"encoder.embedding.weight"),
    (r"encoder\.convolutions\.(\d+)\.0\.(weight|bias)", r"encoder.convs.\1.\2"),
    (r"encoder\.convolutions\.(\d+)\.1\.(\w+)", r"encoder.norms.\1.\2"),
    (r"encoder\.lstm\.(\w+)", r"encoder.lstm.\1"),
    (r"decoder\.prenet\.layers\.(\d+)\.weight", r"decoder.prenet.layers.\1.weight"),
    (r"decoder\.(attention_rnn|decoder_rnn)\.(\w+)", r"decoder.\1.\2"),
    (r"decoder\.attention_layer\.(query_layer|memory_layer|v)\.weight", r"decoder.attention.\1.weight"),
    (
        r"decoder\.attention_layer\.location_layer\.(location_conv|location_dense)\.weight",
        r"decoder.attention.\1.weight",
    ),
    (r"decoder\.linear_projection\.(weight|bias)", r"decoder.frame_projection.\1"),
    (r"decoder\.gate_layer\.(weight|bias)", r"decoder.gate_projection.\1"),
    (r"postnet\.convolutions\.(\d+)\.0\.(weight|bias)", r"postnet.convs.\1.\2"),
    (r"postnet\.convolutions\.(\d+)\.1\.(\w+)", r"postnet.norms.\1.\2"),
]
# ModelConfig field -> (our parameter, dimension) that fixes it
_SIZE_SOURCES = {
    "symbols_embedding_dim": ("encoder.embedding.weight", 1),
    "encoder_embedding_dim": ("encoder.convs.0.weight", 0),
    "encoder_kernel_size": ("encoder.convs.0.weight", 2),
    "attention_rnn_dim": ("decoder.attention_rnn.weight_hh", 1),
    "attention_dim": ("decoder.attention.query_layer.weight", 0),
    "attention_location_n_filters": ("decoder.attention.location_conv.weight", 0),
    "attention_location_kernel_size": ("decoder.attention.location_conv.weight", 2),
    "decoder_rnn_dim": ("decoder.decoder_rnn.weight_hh", 1),
    "prenet_dim": ("decoder.prenet.layers.0.weight", 0),
    "postnet_embedding_dim": ("postnet.convs.0.weight", 0),
    "postnet_kernel_size": ("postnet.convs.0.weight", 2),
}
# ModelConfig field -> the numbered layers it counts
_COUNT_SOURCES = {
    "encoder_n_convolutions": "encoder.convs",
    "prenet_n_layers": "decoder.prenet.layers",
    "postnet_n_convolutions": "postnet.convs",
}
_N_MELS_SOURCE = ("postnet.convs.0.weight", 1)
_PROJECTIONS = ("decoder.frame_projection", "decoder.gate_projection")


class ConversionError(ValueError):
    """Foreign weights that cannot become this model's; the message is one line naming the tensor."""


@dataclass
class SourceWeights:
    """Weights to start from, under our names. layout: "tacotron" (this project's checkpoint), "nvidia"
    (NVIDIA/tacotron2, DLE) or "torchaudio"; state: the tensors (foreign ones as float32, the projection
    as the source had it); symbols: the embedding's rows in order, None when unknown; origin: our name ->
    the source's name, for messages."""

    layout: str
    state: dict[str, torch.Tensor]
    symbols: tuple[str, ...] | None
    origin: dict[str, str] = field(default_factory=dict)

    @property
    def n_symbols(self) -> int:
        return int(self.state["encoder.embedding.weight"].shape[0])

    @property
    def n_mels(self) -> int:
        name, dim = _N_MELS_SOURCE
        return int(_require(self.state, name).shape[dim])

    def describe(self, name: str) -> str:
        """`name` as the source calls it, for messages: 'ours' (source 'theirs')."""
        theirs = self.origin.get(name, name)
        return repr(name) if theirs == name else f"{name!r} ({self.layout} {theirs!r})"


def read_source(
    path: str | Path, *, symbols: Sequence[str] | None = None, trust_pickle: bool = False
) -> SourceWeights:
    """This project's checkpoint or a foreign one (`read_foreign`), from a file; CheckpointError if unreadable."""
    obj = read_weights_file(path, trust_pickle=trust_pickle)
    if not is_tacotron_checkpoint(obj):
        return read_foreign(obj, symbols)
    ckpt = checked_checkpoint(obj, path)
    table = ckpt.get("symbols")
    return SourceWeights("tacotron", dict(ckpt["model"]), tuple(table["symbols"]) if table else None)


def read_foreign(obj: Any, symbols: Sequence[str] | None = None) -> SourceWeights:
    """A loaded NVIDIA/DLE/torchaudio file (a dict with "state_dict", or a bare state dict) -> our names.

    symbols: the source's symbol table, in embedding-row order; None = the known table for its row
    count (148: NVIDIA/DLE, 38: torchaudio characters), else unknown.
    """
    raw = _state_dict_of(obj)
    stripped = _without_prefixes(list(raw))
    layout = "nvidia" if any(_WRAPPERS & set(name.split(".")) for name in stripped) else "torchaudio"
    state: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    for name, plain in zip(raw, stripped, strict=True):
        ours = _our_name(".".join(p for p in plain.split(".") if p not in _WRAPPERS), name)
        value = raw[name]
        state[ours] = value.float() if value.is_floating_point() else value
        origin[ours] = name
    weights = SourceWeights(layout, state, None, origin)
    weights.symbols = _source_symbols(weights, symbols)
    _check_source_r(weights)
    return weights


def derived_sizes(weights: SourceWeights) -> dict[str, tuple[int, str]]:
    """ModelConfig sizes (and "n_mels") the tensors imply: field -> (value, the evidence, for messages)."""
    state = weights.state
    sizes = {}
    for key, (name, dim) in {**_SIZE_SOURCES, "n_mels": _N_MELS_SOURCE}.items():
        shape = tuple(_require(state, name).shape)
        sizes[key] = (shape[dim], f"{weights.describe(name)} {shape}")
    for key, family in _COUNT_SOURCES.items():
        count = len([n for n in state if re.fullmatch(re.escape(family) + r"\.\d+\.weight", n)])
        sizes[key] = (count, f"{count} layers {family}.N")
    return sizes


def apply_sizes(cfg: Config, weights: SourceWeights) -> list[str]:
    """Set cfg.model's sizes and cfg.audio.n_mels to the weights'; one line per value changed."""
    changes = []
    for key, (value, evidence) in derived_sizes(weights).items():
        where = "audio" if key == "n_mels" else "model"
        section = getattr(cfg, where)
        if getattr(section, key) != value:
            changes.append(f"{where}.{key}: {getattr(section, key)} -> {value} (from {evidence})")
            setattr(section, key, value)
    return changes


def fit_frames_per_step(
    state: dict[str, torch.Tensor], max_frames_per_step: int, n_mels: int
) -> tuple[dict[str, torch.Tensor], bool]:
    """Projections of r = 1 weights copied into each of `max_frames_per_step` frame groups (see the module
    docstring); -> (state, whether anything was copied). Other shapes are left for the shape check."""
    weight = state.get("decoder.frame_projection.weight")
    if max_frames_per_step == 1 or weight is None or weight.shape[0] != n_mels:
        return state, False
    fitted = dict(state)
    for prefix in _PROJECTIONS:
        for kind in ("weight", "bias"):
            name = f"{prefix}.{kind}"
            if name in fitted:
                value = fitted[name]
                fitted[name] = value.repeat(max_frames_per_step, *([1] * (value.dim() - 1)))
    return fitted, True


def check_against(weights: SourceWeights, own: Mapping[str, torch.Tensor]) -> None:
    """ConversionError (one line) unless `weights` has exactly the tensors and shapes of `own`."""
    missing = [n for n in own if n not in weights.state]
    extra = [weights.describe(n) for n in weights.state if n not in own]
    if missing or extra:
        raise ConversionError(
            f"the {weights.layout} weights do not fit this model: missing {missing}, unexpected {extra}"
        )
    for name, value in weights.state.items():
        if value.shape != own[name].shape:
            raise ConversionError(
                f"{weights.describe(name)} has shape {tuple(value.shape)} in the source but "
                f"{tuple(own[name].shape)} in the model built from its sizes (the source is inconsistent)"
            )


def _state_dict_of(obj: Any) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and all(torch.is_tensor(v) for v in inner.values()):
                return dict(inner)
        if obj and all(isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items()):
            return dict(obj)
    keys = sorted(obj)[:8] if isinstance(obj, Mapping) else type(obj).__name__
    raise ConversionError(f"not a Tacotron 2 checkpoint: no 'state_dict' of tensors (found {keys})")


def _without_prefixes(names: list[str]) -> list[str]:
    """`names` without a prefix every one of them has (DDP's "module.", torch.compile's "_orig_mod.")."""
    for prefix in _PREFIXES:
        if all(name.startswith(prefix) for name in names):
            names = [name[len(prefix) :] for name in names]
    return names


def _our_name(plain: str, source: str) -> str:
    for pattern, template in _RENAMES:
        if re.fullmatch(pattern, plain):
            return re.sub(pattern, template, plain)
    raise ConversionError(f"parameter {source!r} is not part of a Tacotron 2 (NVIDIA/DLE/torchaudio) model")


def _require(state: Mapping[str, torch.Tensor], name: str) -> torch.Tensor:
    if name not in state:
        raise ConversionError(f"the source has no {name!r}: not a complete Tacotron 2 model")
    return state[name]


def _source_symbols(weights: SourceWeights, given: Sequence[str] | None) -> tuple[str, ...] | None:
    rows = weights.n_symbols if "encoder.embedding.weight" in weights.state else 0
    if given is None:
        return _TABLES_BY_ROWS.get(rows)
    if len(given) != rows:
        raise ConversionError(
            f"the source symbol table has {len(given)} symbols but the embedding "
            f"{weights.describe('encoder.embedding.weight')} has {rows} rows"
        )
    return tuple(given)


def _check_source_r(weights: SourceWeights) -> None:
    name = "decoder.frame_projection.weight"
    outputs = int(_require(weights.state, name).shape[0])
    n_mels = weights.n_mels
    if outputs != n_mels:
        r = f"n_frames_per_step={outputs // n_mels}" if outputs % n_mels == 0 else "an unknown layout"
        raise ConversionError(
            f"{weights.describe(name)} has {outputs} outputs for {n_mels} mels: the source was trained with "
            f"{r}, whose prenet reads every frame of a step; ours reads the last one, so only r=1 sources convert"
        )
