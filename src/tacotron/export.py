"""Export a trained Tacotron 2 for inference without this package: TorchScript or ONNX.

What is exported (deterministic inference: prenet dropout off, so exported == eager up to float rounding):
- three tensor-only parts traced from the eager modules: the encoder (text ids, lengths -> memory and its
  attention projection), one decoder step (`tacotron.model.inference.DecoderStep`, i.e.
  `Decoder.infer_step`: prenet + attention LSTM + attention + decoder LSTM + projections; the recurrent
  state passed in and out as seven tensors) and the postnet;
- the decoding loop, stop rule and finishing of eager inference: `tacotron.model.inference.Decoding`
  and its stop functions, scripted as they are (not a copy), around the traced step and postnet.

`torchscript`: one file. `torch.jit.load(path)(text, lengths)` -> (mel_postnet [B, n_mels, T],
lengths [B], alignments [B, S, L], stop codes [B]: 1 gate, 2 end of text, 3 max steps). Needs only
torch. `metadata.json` (symbols, audio settings, speakers) is stored inside as an extra file.
Multi-speaker models (model.n_speakers > 0) take a third input in both formats, `speaker` ids [B] int64
(names in metadata "speakers", id order), joined to the encoder outputs as in `Tacotron2._condition_memory`.
`onnx`: a folder with encoder.onnx, decoder_step.onnx, postnet.onnx, metadata.json and runner.py (a numpy
mirror of the loop over onnxruntime, see its docstring; `python runner.py DIR "ids"` or
`OnnxTacotron(DIR).infer(ids, lengths)`). With a vocoder, the same parts plus HiFi-GAN go into one
model.onnx (`tacotron.export_onnx_bundle`).

Text cleaning (numbers, abbreviations, phonemes) stays outside: callers pass symbol ids, and
metadata.json lists the symbol table so ids can be made from cleaned text.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from tacotron.model.inference import STOP_REASONS, DecoderStep, Decoding, decoding_for

logger = logging.getLogger(__name__)

FORMATS = ("torchscript", "onnx")
ONNX_OPSET = 17
STOP_CODES = {code: name for code, name in enumerate(STOP_REASONS) if code}  # 0 = running
STATE_NAMES = (
    "attention_hidden",
    "attention_cell",
    "decoder_hidden",
    "decoder_cell",
    "weights",
    "weights_cum",
    "context",
)


class EncoderPart(nn.Module):
    """(text [B, L] long, lengths [B] long[, speaker [B] long]) -> (memory [B, L, E], processed [B, L, A]).

    The speaker input exists only for multi-speaker models (model.n_speakers > 0): the speaker vector joins
    the encoder outputs here, as in `Tacotron2._condition_memory`, so the decoder step is unchanged."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.encoder = model.encoder
        self.attention = model.decoder.attention
        self.speaker_embedding = model.speaker_embedding if model.n_speakers else None

    def forward(self, text: Tensor, lengths: Tensor, speaker: Tensor | None = None) -> tuple[Tensor, Tensor]:
        memory = self.encoder(text, lengths)
        if self.speaker_embedding is not None:
            memory = self.speaker_embedding.condition(memory, lengths, speaker)
        return memory, self.attention.process_memory(memory)


class PostnetPart(nn.Module):
    """(mel [B, n_mels, T], mask [B, T] bool) -> mel + postnet residual (the ONNX postnet)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.postnet = model.postnet

    def forward(self, mel: Tensor, mask: Tensor) -> Tensor:
        return mel + self.postnet(mel, mask)


def model_metadata(
    model: nn.Module, cfg: Any, symbols: Any, *, r: int, speakers: list[str] | tuple[str, ...] = ()
) -> dict[str, Any]:
    """Everything a runner needs besides the weights: sizes, r (the checkpoint's), stop rule, audio
    settings, symbol table, speaker table (names in id order; [] for a single-speaker model). The
    exported decoder step is traced for this r."""
    if bool(model.n_speakers) != bool(speakers):
        raise ValueError(f"model.n_speakers is {model.n_speakers} but the speaker table is {list(speakers)}")
    d = model.decoder
    return {
        "format": "tacotron2-export-1",
        "n_mels": int(model.n_mels),
        "r": model.check_r(r),
        "encoder_dim": int(d.attention_rnn.input_size - d.prenet.layers[-1].out_features),
        "attention_rnn_dim": int(d.attention_rnn.hidden_size),
        "decoder_rnn_dim": int(d.decoder_rnn.hidden_size),
        "gate_threshold": float(model.gate_threshold),
        "min_text_fraction": float(model.min_text_fraction),
        "stop_at_end_of_text": bool(model.stop_at_end_of_text),
        "eos_steps": int(model.eos_stop_steps),
        "max_decoder_steps": int(model.max_decoder_steps),
        "audio": dataclasses.asdict(cfg.audio),
        "language": cfg.text.language,
        "text": dataclasses.asdict(
            cfg.text
        ),  # the frontend settings that made the ids (cleaning is not exported)
        "symbols": symbols.to_dict(),
        "pad_id": int(symbols.pad_id),
        "eos_id": int(symbols.eos_id),
        "speakers": list(speakers),
    }


def example_inputs(n_symbols: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A padded batch of two (lengths 13 and 7) for tracing: padding present, so masks are exercised."""
    gen = torch.Generator().manual_seed(seed)
    text = torch.randint(2, n_symbols, (2, 13), generator=gen)
    lengths = torch.tensor([13, 7])
    text[1, 7:] = 0
    return text, lengths


def _encoder_inputs(model: nn.Module, text: Tensor, lengths: Tensor) -> tuple[Tensor, ...]:
    """(text, lengths), plus distinct speaker ids (first and last) for a multi-speaker model."""
    if not model.n_speakers:
        return text, lengths
    ids = torch.arange(text.size(0)) * (model.n_speakers - 1) // max(1, text.size(0) - 1)
    return text, lengths, ids


def _trace_inputs(model: nn.Module, r: int, text: Tensor, lengths: Tensor) -> dict[str, tuple]:
    """Example inputs of each part, taken from a real first decoder step."""
    with torch.no_grad():
        memory, processed = EncoderPart(model)(*_encoder_inputs(model, text, lengths))
        mask = torch.arange(text.size(1)).unsqueeze(0) < lengths.unsqueeze(1)
        b, length, e = memory.shape
        d = model.decoder
        z = memory.new_zeros
        state = (z(b, d.attention_rnn.hidden_size), z(b, d.attention_rnn.hidden_size),
                 z(b, d.decoder_rnn.hidden_size), z(b, d.decoder_rnn.hidden_size),
                 z(b, length), z(b, length), z(b, e))  # fmt: skip
        step = (z(b, model.n_mels), *state, memory, processed, mask)
        t = 3 * r
        mel_mask = torch.arange(t).unsqueeze(0) < torch.tensor([t, r]).unsqueeze(1)
        post = (torch.randn(b, model.n_mels, t), mel_mask)
    return {"encoder": _encoder_inputs(model, text, lengths), "step": step, "postnet": post}


def _quiet_trace(module: nn.Module, inputs: tuple) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():  # deprecation + "converting tensor to bool" notes of tracing masks
        warnings.simplefilter("ignore")
        return torch.jit.trace(module, inputs, check_trace=False)


class ScriptedTacotron(nn.Module):
    """The traced encoder + `Decoding` around the traced step and postnet: the whole deterministic
    `Tacotron2.infer` in one module, which `export_torchscript` scripts."""

    def __init__(self, encoder: nn.Module, decoding: Decoding, max_decoder_steps: int):
        super().__init__()
        self.encoder, self.decoding = encoder, decoding
        self.max_decoder_steps = int(max_decoder_steps)

    def forward(
        self, text: Tensor, lengths: Tensor, max_decoder_steps: int = 0
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """text [B, L] long (0 = pad), lengths [B] -> mel_postnet, lengths, alignments, stop codes."""
        with torch.no_grad():
            memory, processed = self.encoder(text, lengths)
            return self.decode(memory, processed, lengths, max_decoder_steps)

    def decode(
        self, memory: Tensor, processed: Tensor, lengths: Tensor, max_decoder_steps: int
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        mask = torch.arange(memory.size(1), device=memory.device).unsqueeze(0) < lengths.unsqueeze(1)
        max_steps = max_decoder_steps if max_decoder_steps > 0 else self.max_decoder_steps
        _, mel_postnet, _, align, out_lengths, codes = self.decoding(
            memory, processed, mask, lengths, max_steps
        )
        return mel_postnet, out_lengths, align, codes


class ScriptedSpeakerTacotron(ScriptedTacotron):
    """`ScriptedTacotron` of a multi-speaker model: a third input, speaker ids [B] long (the speaker table
    is metadata.json's "speakers"). A separate class because TorchScript fixes the arity of the traced
    encoder it calls."""

    def forward(
        self, text: Tensor, lengths: Tensor, speaker: Tensor, max_decoder_steps: int = 0
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """text [B, L] long (0 = pad), lengths [B], speaker [B] -> mel_postnet, lengths, alignments, codes."""
        with torch.no_grad():
            memory, processed = self.encoder(text, lengths, speaker)
            return self.decode(memory, processed, lengths, max_decoder_steps)


def scripted_tacotron(model: nn.Module, *, r: int, n_symbols: int) -> torch.jit.ScriptModule:
    """`model` (eval mode, stop settings and max_decoder_steps its own) as one scripted module: the
    parts traced at reduction factor r, `Decoding` scripted around them."""
    inputs = _trace_inputs(model, r, *example_inputs(n_symbols))
    with torch.no_grad():
        encoder = _quiet_trace(EncoderPart(model), inputs["encoder"])
        step = _quiet_trace(DecoderStep(model.decoder, model.check_r(r)), inputs["step"])
        postnet = _quiet_trace(model.postnet, inputs["postnet"])
    decoding = decoding_for(model, r, step=step, postnet=postnet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = ScriptedSpeakerTacotron if model.n_speakers else ScriptedTacotron
        return torch.jit.script(scripted(encoder, decoding, model.max_decoder_steps))


def check_exportable(model: nn.Module) -> None:
    """Refuse models whose inference path the exported parts would not reproduce.

    The exported encoder part has no style input, so a Global Style Token model would silently lose
    its style at inference (a feature present in training and missing at inference): refused instead.
    (The DDC coarse decoder is training-only, so DDC models export unchanged.)
    """
    if getattr(model, "has_gst", False):
        raise ValueError(
            "export of models with Global Style Tokens (model.gst: true) is not supported: "
            "the exported encoder has no style input; synthesise with `tacotron synth` instead"
        )


def export_torchscript(model: nn.Module, meta: dict[str, Any], path: str | Path) -> Path:
    """Trace the parts, script the loop, save one file (metadata.json inside as an extra file)."""
    check_exportable(model)
    scripted = scripted_tacotron(model.eval(), r=meta["r"], n_symbols=len(meta["symbols"]["symbols"]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", DeprecationWarning
        )  # TorchScript is deprecated upstream but still loads
        torch.jit.save(
            scripted, str(path), _extra_files={"metadata.json": json.dumps(meta, ensure_ascii=False)}
        )
    logger.info("TorchScript model written to %s", path)
    return path


ONNX_PARTS = {
    "encoder": (("text", "lengths"), ("memory", "processed"), {"text": "BL", "lengths": "B", "memory": "BL", "processed": "BL"}),
    "decoder_step": (
        ("frame", *(f"in_{n}" for n in STATE_NAMES), "memory", "processed", "mask"),
        ("frames", "gate", *(f"out_{n}" for n in STATE_NAMES)),
        {"frame": "B", "memory": "BL", "processed": "BL", "mask": "BL", "frames": "B", "gate": "B",
         **{f"{io}_{n}": ("BL" if n.startswith("weights") else "B") for io in ("in", "out") for n in STATE_NAMES}},
    ),
    "postnet": (("mel", "mask"), ("mel_postnet",), {"mel": "B_T", "mask": "BT", "mel_postnet": "B_T"}),
}  # fmt: skip


SPEAKER_ENCODER_PART = (
    ("text", "lengths", "speaker"),
    ("memory", "processed"),
    {**ONNX_PARTS["encoder"][2], "speaker": "B"},
)


def onnx_parts(model: nn.Module) -> dict[str, tuple]:
    """`ONNX_PARTS`, with the encoder's `speaker` input for a multi-speaker model."""
    return {**ONNX_PARTS, "encoder": SPEAKER_ENCODER_PART} if model.n_speakers else dict(ONNX_PARTS)


def _dynamic_axes(spec: dict[str, str]) -> dict[str, dict[int, str]]:
    """ "BL" -> {0: "B", 1: "L"}; "_" marks a fixed axis (n_mels)."""
    return {name: {i: axis for i, axis in enumerate(axes) if axis != "_"} for name, axes in spec.items()}


def onnx_part_modules(model: nn.Module, r: int, n_symbols: int) -> dict[str, tuple[nn.Module, tuple]]:
    """name -> (module, example inputs) of the three traced parts (`ONNX_PARTS` names their tensors)."""
    inputs = _trace_inputs(model, r, *example_inputs(n_symbols))
    return {
        "encoder": (EncoderPart(model), inputs["encoder"]),
        "decoder_step": (DecoderStep(model.decoder, r), inputs["step"]),
        "postnet": (PostnetPart(model), inputs["postnet"]),
    }


def export_onnx_part(module: nn.Module, example: tuple, spec: tuple, f: Any) -> None:
    """Trace `module` on `example` into ONNX file or buffer `f`; `spec` = (input names, output names, axes)."""
    input_names, output_names, axes = spec
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notes
        # dynamo=False: torch.export cannot trace the encoder's packed (variable-length) LSTM.
        torch.onnx.export(module, example, f, dynamo=False,
                          input_names=list(input_names), output_names=list(output_names),
                          dynamic_axes=_dynamic_axes(axes), opset_version=ONNX_OPSET)  # fmt: skip


def export_onnx(model: nn.Module, meta: dict[str, Any], out_dir: str | Path) -> Path:
    """encoder.onnx, decoder_step.onnx, postnet.onnx (dynamic batch and lengths), metadata.json, runner.py."""
    from tacotron.extras import require

    require("onnx", "export", "tacotron export --format onnx")  # torch's ONNX exporter writes with it
    check_exportable(model)
    model = model.eval()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    parts = onnx_part_modules(model, meta["r"], len(meta["symbols"]["symbols"]))
    specs = onnx_parts(model)
    for name, (module, example) in parts.items():
        export_onnx_part(module, example, specs[name], str(out / f"{name}.onnx"))
    (out / "metadata.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    copy_runner(out)
    logger.info("ONNX model written to %s", out)
    return out


def copy_runner(out: Path) -> None:
    """The numpy runner next to the exported files, as runner.py (it imports neither torch nor this package)."""
    shutil.copyfile(Path(__file__).with_name("export_onnx_runner.py"), out / "runner.py")


def load_for_export(checkpoint: str | Path) -> tuple[nn.Module, dict[str, Any], Any]:
    """(model on the CPU, its `model_metadata`, its config) from a checkpoint file or run folder."""
    from tacotron.infer.synthesizer import Synthesizer

    synth = Synthesizer.from_checkpoint(checkpoint, device="cpu")
    meta = model_metadata(synth.model, synth.cfg, synth.frontend.symbols, r=synth.r, speakers=synth.speakers)
    return synth.model, meta, synth.cfg


def export_checkpoint(checkpoint: str | Path, fmt: str, out: str | Path) -> Path:
    """Rebuild the model from a checkpoint (file or run folder) and export it as `fmt`."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of {list(FORMATS)}")
    if fmt == "onnx":
        from tacotron.extras import require

        require("onnx", "export", "tacotron export --format onnx")  # before loading anything
    model, meta, _ = load_for_export(checkpoint)
    if fmt == "torchscript":
        return export_torchscript(model, meta, out)
    return export_onnx(model, meta, out)
