"""Standalone runner of an ONNX-exported Tacotron 2 (numpy + onnxruntime only; copied as runner.py).

`tacotron export --format onnx` writes encoder.onnx, decoder_step.onnx, postnet.onnx and metadata.json
next to this file; with `--vocoder hifigan`, one model.onnx (the same parts plus the HiFi-GAN generator,
names prefixed "<part>.", see `tacotron/export_onnx_bundle.py`) and model.onnx.json instead. This file
must not import torch or the package, so it cannot call the one decoding code of
`tacotron.model.inference`; it is a numpy mirror of it (deterministic mode: no prenet dropout):
- `_StopRule.__init__` / `update` / `finish` mirror `stop_start` / `stop_update` (one step at a time,
  i.e. blocks of K = 1) / `stop_finish`, with the gate threshold as a logit like `gate_logit`;
- `OnnxTacotron.infer` mirrors `Decoding.forward` (the loop), checking "all stopped?" after every
  step rather than every `check_every` steps: the same lengths and stop reasons, fewer extra steps;
- `OnnxTacotron._finish` mirrors `Decoding.finish`; `decoder_steps` mirrors `tacotron.frames.decoder_steps`;
- decoder_step.onnx is the trace of `DecoderStep` (`Decoder.infer_step`), the step every path runs;
- `OnnxTacotron.vocode` mirrors `HifiGanVocoder.__call__` (tail past each length set to log(log_clamp),
  one generator run over the batch, each waveform cut to frames * hop_length samples).
The minimal loop, exactly: encoder once; then per step feed the previous frame (zeros first; the last
n_mels values of the step's frames), the seven state tensors (zeros first) and memory/processed/mask,
update the stop rule, stop when every item has stopped or at max_decoder_steps; postnet on the masked
frames; vocoder on the postnet mel. Text: `encode` maps already-cleaned text (no number expansion,
lowercasing or phonemes; `tacotron text` shows the cleaned form) to ids + EOS.
`tests/test_export.py` and `tests/test_export_bundle.py` guard the mirror: the exported model gives the
eager lengths, stop reasons and (close) mels on the same inputs, `_StopRule` gives `stop_update`'s stops
on random inputs, `decoder_steps` equals frames.py's; the one-file export also gives the PyTorch waveforms.

Multi-speaker exports (metadata "speakers" not empty) have a `speaker` encoder input: `infer(...,
speaker=ids [B])` (default: id 0, the first speaker, as `Synthesizer`), `speaker_ids(names, B)` maps names.

    python runner.py EXPORT_DIR "hello world." [out.wav] [--speaker NAME]   # cleaned text -> mel (+ wav)
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

STATE_NAMES = (
    "attention_hidden",
    "attention_cell",
    "decoder_hidden",
    "decoder_cell",
    "weights",
    "weights_cum",
    "context",
)
STOP_REASONS = {1: "gate", 2: "end_of_text", 3: "max_steps"}


PARTS = ("encoder", "decoder_step", "postnet")
BUNDLE_CONFIG = "model.onnx.json"


class _PartFiles:
    """One onnxruntime session per part file (encoder.onnx, ...): `run(part, feeds)` -> its outputs."""

    def __init__(self, folder: Path, providers: list[str]):
        import onnxruntime as ort

        self.sessions = {
            p: ort.InferenceSession(str(folder / f"{p}.onnx"), providers=providers) for p in PARTS
        }

    def run(self, part: str, feeds: dict) -> list:
        return self.sessions[part].run(None, feeds)


class _Bundle:
    """One session over model.onnx: a part runs by feeding and fetching its prefixed names only."""

    def __init__(self, path: Path, parts: dict, providers: list[str]):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3  # placeholder defaults of inputs make onnxruntime warn at load
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.parts = parts
        self.run_options = ort.RunOptions()
        self.run_options.only_execute_path_to_fetches = True  # the other parts stay idle

    def run(self, part: str, feeds: dict) -> list:
        fetch = self.parts[part]["outputs"]
        return self.session.run(fetch, {f"{part}.{k}": v for k, v in feeds.items()}, self.run_options)


class OnnxTacotron:
    """`infer(text [B, L] int64, lengths [B])` -> (mel_postnet [B, n_mels, T], lengths, alignments, stop codes);
    `synthesize` also vocodes (one-file export only)."""

    def __init__(self, export_dir: str | Path, providers: list[str] | None = None):
        folder = Path(export_dir)
        providers = providers or ["CPUExecutionProvider"]
        if (folder / BUNDLE_CONFIG).is_file():
            self.meta = json.loads((folder / BUNDLE_CONFIG).read_text(encoding="utf-8"))
            self.parts = _Bundle(folder / self.meta["onnx"]["file"], self.meta["onnx"]["parts"], providers)
        else:
            self.meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
            self.parts = _PartFiles(folder, providers)
        self.symbols = self.meta["symbols"]["symbols"]
        self.vocoder = self.meta.get("vocoder")

    def encode(self, cleaned: str) -> list[int]:
        """Already-cleaned text -> ids + EOS (no number expansion or phonemisation here)."""
        unknown = sorted({c for c in cleaned if c not in self.symbols})
        if unknown:
            raise ValueError(f"characters not in the symbol table: {unknown}")
        return [self.symbols.index(c) for c in cleaned] + [self.meta["eos_id"]]

    def speaker_ids(self, names, batch_size: int) -> np.ndarray:
        """Speaker name (one for all) or names (one per item) -> ids [B] int64; None = the first speaker."""
        table = self.meta.get("speakers") or []
        if not table:
            if names is not None:
                raise ValueError("this export has one speaker: leave out the speaker")
            return np.zeros(0, np.int64)
        names = [table[0]] * batch_size if names is None else names
        names = [names] * batch_size if isinstance(names, str) else list(names)
        unknown = sorted({n for n in names if n not in table})
        if unknown:
            raise ValueError(f"unknown speaker(s) {unknown}; this export knows: {', '.join(table)}")
        return np.array([table.index(n) for n in names], dtype=np.int64)

    def infer(self, text: np.ndarray, lengths: np.ndarray, max_decoder_steps: int = 0, speaker=None):
        """`speaker`: ids [B] int64, or name(s) (see `speaker_ids`); multi-speaker exports only."""
        m = self.meta
        text, lengths = np.asarray(text, dtype=np.int64), np.asarray(lengths, dtype=np.int64)
        feeds = {"text": text, "lengths": lengths}
        if m.get("speakers"):
            ids = np.asarray(speaker, dtype=np.int64) if _are_ids(speaker) else None
            feeds["speaker"] = ids if ids is not None else self.speaker_ids(speaker, len(lengths))
        elif speaker is not None:
            raise ValueError("this export has one speaker: leave out the speaker")
        memory, processed = self.parts.run("encoder", feeds)
        b, length, e = memory.shape
        mask = np.arange(length)[None, :] < lengths[:, None]
        state = [
            np.zeros((b, n), np.float32) for n in (m["attention_rnn_dim"],) * 2 + (m["decoder_rnn_dim"],) * 2
        ]
        state += [np.zeros((b, length), np.float32)] * 2 + [np.zeros((b, e), np.float32)]
        frame = np.zeros((b, m["n_mels"]), np.float32)
        stop = _StopRule(lengths, m)
        frames, alignments = [], []
        max_steps = max_decoder_steps or m["max_decoder_steps"]
        for step in range(max_steps):
            feeds = {"frame": frame, "memory": memory, "processed": processed, "mask": mask}
            feeds |= {f"in_{n}": s for n, s in zip(STATE_NAMES, state, strict=True)}
            out, gate, *state = self.parts.run("decoder_step", feeds)
            frames.append(out)
            alignments.append(state[4])
            stop.update(step, gate, state[4])
            frame = out[:, -m["n_mels"] :]
            if stop.stopped.all():
                break
        out_lengths, reasons = stop.finish(len(frames))
        return self._finish(frames, alignments, out_lengths, reasons)

    def _finish(self, frames, alignments, lengths, reasons):
        n_mels, r = self.meta["n_mels"], self.meta["r"]
        stacked = np.stack(frames, axis=1)  # (B, S, r * n_mels)
        mel = stacked.reshape(stacked.shape[0], -1, n_mels).transpose(0, 2, 1)  # (B, n_mels, S * r)
        steps = decoder_steps(lengths, r)
        s_max = int(steps.max())
        t_max = s_max * r
        mask = np.arange(t_max)[None, :] < lengths[:, None]
        mel = np.ascontiguousarray(mel[:, :, :t_max] * mask[:, None, :])
        (mel_postnet,) = self.parts.run("postnet", {"mel": mel.astype(np.float32), "mask": mask})
        step_mask = np.arange(s_max)[None, :] < steps[:, None]
        align = np.stack(alignments, axis=1)[:, :s_max] * step_mask[:, :, None]
        return mel_postnet, lengths, align, reasons

    def vocode(self, mel: np.ndarray, lengths: np.ndarray) -> list[np.ndarray]:
        """mel_postnet [B, n_mels, T] + frames [B] -> B float32 waveforms of frames * hop_length samples."""
        if self.vocoder is None:
            raise ValueError("this export has no vocoder: export with --vocoder hifigan")
        beyond = np.arange(mel.shape[2])[None, :] >= np.asarray(lengths)[:, None]
        silence = np.float32(math.log(self.meta["audio"]["log_clamp"]))
        padded = np.where(beyond[:, None, :], silence, mel).astype(np.float32)
        (wav,) = self.parts.run("vocoder", {"mel": padded})
        hop = self.vocoder["hop_length"]
        return [wav[i, : int(n) * hop].astype(np.float32) for i, n in enumerate(lengths)]

    def synthesize(self, text: np.ndarray, lengths: np.ndarray, max_decoder_steps: int = 0, speaker=None):
        """-> (waveforms, frames [B], stop codes [B], mel_postnet): `infer` then `vocode`."""
        mel, out_lengths, _, reasons = self.infer(text, lengths, max_decoder_steps, speaker)
        return self.vocode(mel, out_lengths), out_lengths, reasons, mel


def _are_ids(speaker) -> bool:
    """Whether `speaker` is already integer ids (an int array), not None or names."""
    return speaker is not None and not isinstance(speaker, str) and np.asarray(speaker).dtype.kind in "iu"


def write_wav(path: str | Path, wav: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM mono through the standard library (no soundfile here)."""
    import wave

    pcm = (np.clip(wav, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(pcm.tobytes())


def decoder_steps(frames: np.ndarray, r: int) -> np.ndarray:
    """ceil(frames / r): a numpy mirror of `tacotron.frames.decoder_steps` (this runner must not import
    torch or the package); tests/test_export.py checks that both agree."""
    return (frames + (r - 1)) // r


class _StopRule:
    """Per-item stop: gate (after attention passed min_text_fraction) or attention resting on EOS.

    A mirror of `tacotron.model.inference.stop_start` / `stop_update` / `stop_finish` (see the module
    docstring); stop codes 1 gate, 2 end of text, 3 max steps as there."""

    def __init__(self, lengths: np.ndarray, meta: dict):
        self.r = meta["r"]
        t = meta["gate_threshold"]
        self.gate_logit = math.log(t / (1.0 - t))
        self.eos_steps = meta["eos_steps"]
        self.use_eos = meta["stop_at_end_of_text"]
        self.needed = np.maximum(
            np.ceil(meta["min_text_fraction"] * lengths.astype(np.float64)).astype(np.int64), 1
        )
        self.last_symbol = lengths - 1
        self.max_peak = np.full_like(lengths, -1)
        self.eos_run = np.zeros_like(lengths)
        self.stopped = np.zeros(lengths.shape, dtype=bool)
        self.lengths = np.zeros_like(lengths)
        self.reasons = np.zeros_like(lengths)

    def update(self, step: int, gate: np.ndarray, weights: np.ndarray) -> None:
        peak = weights.argmax(axis=1)
        self.max_peak = np.maximum(self.max_peak, peak)
        fires = gate > self.gate_logit
        gate_stop = fires.any(axis=1) & (self.max_peak + 1 >= self.needed) & ~self.stopped
        first_fire = fires.argmax(axis=1)
        self.eos_run = np.where(peak == self.last_symbol, self.eos_run + 1, 0)
        eos_stop = (self.eos_run >= self.eos_steps) & ~self.stopped & ~gate_stop & self.use_eos
        self.lengths = np.where(gate_stop, step * self.r + first_fire + 1, self.lengths)
        self.lengths = np.where(eos_stop, (step + 1) * self.r, self.lengths)
        self.reasons = np.where(gate_stop, 1, np.where(eos_stop, 2, self.reasons))
        self.stopped |= gate_stop | eos_stop

    def finish(self, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.where(self.stopped, self.lengths, n_steps * self.r)
        return lengths, np.where(self.stopped, self.reasons, 3)


def main(argv: list[str]) -> int:
    speaker = None
    if "--speaker" in argv:
        at = argv.index("--speaker")
        speaker, argv = (argv[at + 1] if at + 1 < len(argv) else ""), argv[:at] + argv[at + 2 :]
    if len(argv) not in (2, 3) or speaker == "":
        print(__doc__)
        return 2
    model = OnnxTacotron(argv[0])
    try:
        ids = model.encode(argv[1])
        mel, lengths, _, reasons = model.infer(np.array([ids]), np.array([len(ids)]), speaker=speaker)
    except ValueError as err:  # unknown characters or speaker: one line, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"mel {mel.shape}, {int(lengths[0])} frames, stop: {STOP_REASONS[int(reasons[0])]}")
    if len(argv) == 3:
        (wav,) = model.vocode(mel, lengths)
        write_wav(argv[2], wav, model.vocoder["sample_rate"])
        print(f"wrote {argv[2]}: {len(wav)} samples at {model.vocoder['sample_rate']} Hz")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
