"""One-file ONNX deployment: text ids -> waveform in a single `model.onnx`, plus `model.onnx.json`.

ONNX cannot hold the autoregressive loop of our decoding without a `Loop` over a scripted decoder,
which the TorchScript-based exporter handles poorly; so the file holds the four traced parts side by
side as disconnected subgraphs of one graph, and a minimal numpy loop (`export_onnx_runner.py`,
copied as runner.py) drives them. Each tensor name is prefixed by its part:
- `encoder.`      text [B, L] int64, lengths [B] -> memory, processed
- `decoder_step.` frame, in_<state> x7, memory, processed, mask -> frames [B, r * n_mels], gate [B, r], out_<state> x7
- `postnet.`      mel [B, n_mels, T], mask [B, T] -> mel_postnet
- `vocoder.`      mel [B, n_mels, T] (log mel, tail padded with log(log_clamp)) -> wav [B, T * hop_length]
Every input has a small placeholder default (an initializer of the same name), so a run feeds only
the inputs of the part it runs; it must ask for that part's outputs with
`RunOptions.only_execute_path_to_fetches = True` (else onnxruntime runs every part, on placeholders).

The JSON config is `model_metadata` (symbol table, text settings, audio settings, r, stop rule, max
decoder steps) plus "vocoder" and "onnx" (the file and each part's tensor names). What the runner does
NOT reproduce: text cleaning (number and abbreviation expansion, lowercasing, phonemisation); it takes
already-cleaned text (`tacotron text` prints it) or symbol ids.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from tacotron.export import (
    check_exportable,
    copy_runner,
    export_onnx_part,
    load_for_export,
    onnx_part_modules,
    onnx_parts,
)

logger = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
CONFIG_FILE = "model.onnx.json"
VOCODER_PART = (("mel",), ("wav",), {"mel": "B_T", "wav": "BT"})


class VocoderPart(nn.Module):
    """log mel [B, n_mels, T] -> waveform [B, T * hop]: the generator with its channel axis dropped."""

    def __init__(self, generator: nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, mel: Tensor) -> Tensor:
        return self.generator(mel).squeeze(1)


def load_hifigan(audio_cfg: Any, weights: str = "universal") -> nn.Module:
    """The generator `build_vocoder` would vocode with: pretrained `weights` ("universal", "LJSpeech") or a
    `tacotron vocoder train` checkpoint (file or run folder), refused unless it fits the model's audio."""
    from tacotron.infer.vocoders import build_vocoder

    return build_vocoder("hifigan", audio_cfg, hifigan_weights=weights).generator


def merge_parts(parts: dict[str, Any]) -> Any:
    """name -> onnx.ModelProto (same opset) into one model: names prefixed "<name>.", graphs side by side,
    every input given a placeholder default so that it may be left out of a run's feeds."""
    from onnx import compose, helper

    graphs = [compose.add_prefix(model, f"{name}.").graph for name, model in parts.items()]
    first = next(iter(parts.values()))
    graph = helper.make_graph(
        nodes=[n for g in graphs for n in g.node],
        name="tacotron2_tts",
        inputs=[i for g in graphs for i in g.input],
        outputs=[o for g in graphs for o in g.output],
        initializer=[t for g in graphs for t in g.initializer]
        + [_placeholder(i) for g in graphs for i in g.input],
        value_info=[v for g in graphs for v in g.value_info],
    )
    merged = helper.make_model(graph, opset_imports=first.opset_import, ir_version=first.ir_version)
    merged.producer_name = first.producer_name
    return merged


def _placeholder(value_info: Any) -> Any:
    """A zero tensor of the input's type: fixed axes kept, named (dynamic) axes of size 1."""
    import numpy as np
    from onnx import helper, numpy_helper

    tensor_type = value_info.type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else 1 for d in tensor_type.shape.dim]
    dtype = helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)
    return numpy_helper.from_array(np.zeros(shape, dtype=dtype), value_info.name)


def _part_to_onnx(module: nn.Module, example: tuple, spec: tuple) -> Any:
    import onnx

    buffer = io.BytesIO()
    export_onnx_part(module, example, spec, buffer)
    return onnx.load_from_string(buffer.getvalue())


def bundle_config(
    meta: dict[str, Any],
    specs: dict[str, tuple],
    *,
    hop_length: int,
    weights: str,
    generator_shape: dict[str, Any] | None = None,
) -> dict:
    """`model_metadata` + the vocoder and the prefixed tensor names of each part (what the runner feeds).
    `generator_shape`: {"generator_config": HifiGanConfig dict}, so the bundle says which generator it holds
    (a fine-tuned one may differ from V1); the runner itself needs only the hop."""
    generator_shape = generator_shape or {}
    parts = {
        name: {"inputs": [f"{name}.{n}" for n in spec[0]], "outputs": [f"{name}.{n}" for n in spec[1]]}
        for name, spec in specs.items()
    }
    return {
        **meta,
        "vocoder": {"name": "hifigan", "weights": weights, "hop_length": int(hop_length),
                    "sample_rate": int(meta["audio"]["sample_rate"]), **generator_shape},
        "onnx": {"file": MODEL_FILE, "parts": parts},
    }  # fmt: skip


def export_onnx_bundle(
    model: nn.Module, meta: dict[str, Any], generator: nn.Module, out_dir: str | Path, *, weights: str
) -> Path:
    """model.onnx (encoder, decoder step, postnet, HiFi-GAN `generator`), model.onnx.json, runner.py."""
    from tacotron.extras import require

    onnx = require("onnx", "export", "tacotron export --format onnx")
    check_exportable(model)
    model, generator = model.eval(), generator.eval()
    hop = int(generator.hop_length)
    if hop != int(meta["audio"]["hop_length"]):
        raise ValueError(
            f"the vocoder's hop {hop} differs from audio.hop_length {meta['audio']['hop_length']}"
        )
    parts = onnx_part_modules(model, meta["r"], len(meta["symbols"]["symbols"]))
    parts["vocoder"] = (VocoderPart(generator), (torch.randn(2, meta["n_mels"], 8),))
    specs = {**onnx_parts(model), "vocoder": VOCODER_PART}
    protos = {name: _part_to_onnx(module, example, specs[name]) for name, (module, example) in parts.items()}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(merge_parts(protos), str(out / MODEL_FILE))
    shape = {"generator_config": generator.config.to_dict()} if hasattr(generator, "config") else {}
    config = bundle_config(meta, specs, hop_length=hop, weights=weights, generator_shape=shape)
    (out / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    copy_runner(out)
    logger.info("one-file ONNX model (text ids -> waveform) written to %s", out / MODEL_FILE)
    return out


class UnsupportedExportError(ValueError):
    """An export this project cannot write (the CLI prints it as one line, exit 2)."""


def check_vocoder(fmt: str, vocoder: str | None) -> None:
    """Only HiFi-GAN goes into an export: Griffin-Lim's iterative phase search needs an inverse STFT,
    which ONNX has no operator for, and a hand-built one would be a second copy of `audio/vocoder.py`."""
    if vocoder is None:
        return
    if fmt != "onnx":
        raise UnsupportedExportError(f"--vocoder works with --format onnx only, not {fmt!r}")
    if vocoder == "griffin-lim":
        raise UnsupportedExportError(
            "--vocoder griffin-lim cannot be exported (ONNX has no inverse STFT for its phase iterations): "
            "use --vocoder hifigan, or export mels only (no --vocoder) and vocode them yourself"
        )
    if vocoder != "hifigan":
        raise UnsupportedExportError(f"unknown vocoder {vocoder!r}; expected 'hifigan' or 'griffin-lim'")


def export_checkpoint_bundle(checkpoint: str | Path, out: str | Path, *, weights: str = "universal") -> Path:
    """A checkpoint (file or run folder) + HiFi-GAN `weights` (pretrained name or vocoder checkpoint path,
    as `--hifigan-weights`) as one model.onnx."""
    from tacotron.extras import require

    require("onnx", "export", "tacotron export --format onnx")  # before loading anything
    model, meta, cfg = load_for_export(checkpoint)
    return export_onnx_bundle(model, meta, load_hifigan(cfg.audio, weights), out, weights=weights)
