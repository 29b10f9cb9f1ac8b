"""Text in, speech out: a model rebuilt from a self-describing checkpoint, batched inference, a vocoder.

Why everything comes from the checkpoint: the config and symbol table stored there are what the
model was trained with. The frontend is rebuilt from that config and its symbol table must equal the
stored one, otherwise ids would silently mean other characters (Cyrillic read as another alphabet).
Texts are sorted by length for batching (less padding, fewer wasted decoder steps) and the results
returned in the caller's order.

Decoding: on a CUDA device the decoder runs as CUDA graphs (`GraphedInference`, built once per
Synthesizer on first use, same steps, lengths and stop reasons as eager `Tacotron2.infer`), because
eager batch-1 decoding there is bound by kernel launches. Eager decoding is used on other devices, when
asked for (`fast=False`), and for calls with a `seed` while prenet dropout is on (the graphs draw from
the default CUDA generator, not a seeded one); each such fallback is logged once per reason.

Long text (`synthesize(split=True)`, what `tacotron synth` and the service do): a text whose symbols would
need more frames than `max_decoder_steps` allows is split at sentences, then clauses, then words
(`tacotron.text.pieces`) into pieces of at most `max_piece_symbols()`; the pieces are decoded in batches
and joined, with `pause_seconds` of silence between them, into one result per text. The budget assumes a
slow reading pace, `SLOW_SYMBOLS_PER_SECOND` (about half of LJSpeech's ~15 characters per second), so a
piece of that many symbols needs at most about as many frames as max_decoder_steps give. A piece that
still hits max_decoder_steps is not hidden: its result has `stop_reason == "max_steps"` and `truncated`.

Streaming (`stream(text, on_audio)`, what `POST /api/tts/stream` runs per piece): one text decoded on the
same path as `synthesize([text])`, its mel handed out in blocks while the decoder runs and vocoded as
overlapping chunks, each chunk passed to `on_audio` as soon as it is vocoded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tacotron.config import Config
from tacotron.frames import decoder_steps
from tacotron.infer.chunks import CHUNK_FRAMES, ChunkVocoder

if TYPE_CHECKING:
    from tacotron.model.fast_infer import GraphedInference
    from tacotron.model.streaming import MelBlock
    from tacotron.model.tacotron2 import InferenceOutput

logger = logging.getLogger(__name__)

DECODINGS = {"auto": None, "fast": True, "eager": False}  # --decoding choice -> Synthesizer's `fast`
SLOW_SYMBOLS_PER_SECOND = 8.0  # reading pace the long-text budget assumes (LJSpeech reads ~15 chars/s)
MIN_PIECE_SYMBOLS = 20  # never budget pieces smaller than this (only tiny test models would ask for it)
PAUSE_SECONDS = 0.15  # silence between the pieces of one text


class CheckpointMismatchError(ValueError):
    """The checkpoint cannot be used as asked: symbol table or language differ from what it was trained with."""


class EmptyInputError(ValueError):
    """A text or sentence file holds no lines to synthesise."""


class DecodingError(ValueError):
    """Fast (CUDA-graph) decoding was asked for on a device that cannot run it."""


class UnknownSpeakerError(ValueError):
    """The speaker asked for is not in the checkpoint's speaker table (the message lists the known ones)."""


@dataclass
class SynthesisResult:
    """One synthesised text. `mel` [n_mels, frames] natural-log; `alignment` [decoder steps, symbols]."""

    text: str
    wav: np.ndarray  # float32 [frames * hop_length]
    sample_rate: int
    mel: np.ndarray
    alignment: np.ndarray
    frames: int
    stop_reason: str  # "gate" | "end_of_text" | "max_steps"
    seconds: float  # wall-clock compute time attributed to this item (its share of its batch)
    cleaned: str = ""  # the text as the model saw it (after the frontend)
    pieces: list[str] = field(default_factory=list)  # split texts: the pieces decoded one by one
    stop_reasons: list[str] = field(default_factory=list)  # split texts: each piece's stop reason

    @property
    def audio_seconds(self) -> float:
        return len(self.wav) / self.sample_rate

    @property
    def truncated(self) -> bool:
        """Whether decoding (of any piece) was cut at max_decoder_steps: the audio is incomplete."""
        return "max_steps" in (self.stop_reasons or [self.stop_reason])


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file as given; a run folder (or its checkpoints/) -> best.pt, else the latest step."""
    from tacotron.model.checkpoint import STEP_PATTERN

    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"checkpoint or run folder not found: {path}")
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    if (folder / "best.pt").is_file():
        return folder / "best.pt"
    steps = sorted(p for p in folder.iterdir() if STEP_PATTERN.match(p.name))
    if not steps:
        raise FileNotFoundError(f"no best.pt or step_XXXXXXXX.pt checkpoint in {folder}")
    return steps[-1]


def pick_device(device: str) -> torch.device:
    """ "auto" -> cuda when available, else cpu; anything else as torch understands it."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def fast_for(decoding: str) -> bool | None:
    """A --decoding choice as the `fast` argument of `Synthesizer`: auto -> None, fast -> True, eager -> False."""
    if decoding not in DECODINGS:
        raise DecodingError(f"unknown decoding {decoding!r}; expected one of {list(DECODINGS)}")
    return DECODINGS[decoding]


def resolve_fast(fast: bool | None, device: torch.device) -> bool:
    """Whether to decode with CUDA graphs: None (auto) = on CUDA only; True off CUDA is a DecodingError."""
    if fast is None:
        return device.type == "cuda"
    if fast and device.type != "cuda":
        raise DecodingError(
            f"fast decoding (CUDA graphs) needs a CUDA device, got {device}; "
            "use decoding 'auto' (fast on CUDA, else eager) or 'eager'"
        )
    return bool(fast)


def piece_symbol_budget(cfg: Config, r: int, max_decoder_steps: int | None = None) -> int:
    """Symbols (EOS included) that max_decoder_steps * r frames hold at `SLOW_SYMBOLS_PER_SECOND`,
    at least `MIN_PIECE_SYMBOLS`: long text is split into pieces of at most this many."""
    frames = (max_decoder_steps or cfg.model.max_decoder_steps) * r
    frames_per_second = cfg.audio.sample_rate / cfg.audio.hop_length
    return max(MIN_PIECE_SYMBOLS, int(frames * SLOW_SYMBOLS_PER_SECOND / frames_per_second))


def _frontend_for(ckpt: dict[str, Any], cfg: Config, path: Path) -> Any:
    from tacotron.text import SymbolTable, TextFrontend

    frontend = TextFrontend(cfg.text)
    stored = SymbolTable.from_dict(ckpt["symbols"])
    if stored != frontend.symbols:
        only_stored = [s for s in stored.symbols if s not in frontend.symbols]
        only_rebuilt = [s for s in frontend.symbols.symbols if s not in stored]
        raise CheckpointMismatchError(
            f"{path}: the stored symbol table ({stored.language}, phonemes={stored.phonemes}, {len(stored)} symbols) "
            f"differs from the one this code builds for text config {cfg.text} ({len(frontend.symbols)} symbols); "
            f"only in checkpoint: {only_stored}, only in rebuilt: {only_rebuilt}, "
            f"same set but other order: {not only_stored and not only_rebuilt}"
        )
    return frontend


class Synthesizer:
    """Model + frontend + vocoder on one device. Build it with `from_checkpoint`.

    fast: CUDA-graph decoding; None = on CUDA devices (see the module docstring), True off CUDA is a
    `DecodingError`. graphed: a prebuilt fast path to route through (it implies fast; the CPU tests pass
    `GraphedInference(model, capture=False)`); else one is built on first use with `max_graphs` shapes.
    One synthesis at a time per Synthesizer (the graphs reuse static buffers).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        cfg: Config,
        frontend: Any,
        vocoder: Any,
        device: torch.device,
        checkpoint: Path | None = None,
        step: int | None = None,
        *,
        r: int,
        fast: bool | None = None,
        max_graphs: int = 32,
        graphed: GraphedInference | None = None,
        speakers: list[str] | tuple[str, ...] = (),
    ):
        self.model = model.eval().to(device)
        self.r = model.check_r(r)  # frames per decoder step: the checkpoint's "r"
        self.cfg = cfg
        self.frontend = frontend
        self.vocoder = vocoder
        self.device = device
        self.checkpoint = checkpoint
        self.step = step
        self.speakers = list(speakers)  # names in id order (the checkpoint's "speakers"); [] = one speaker
        self.fast = graphed is not None or resolve_fast(fast, device)
        self.max_graphs = max_graphs
        self.graphed = graphed
        self._logged: set[str] = set()  # fallback reasons already logged
        if self.fast:
            logger.info("decoding: fast (CUDA graphs, up to %d shapes) on %s", max_graphs, device)
        else:
            why = "asked for" if fast is False else f"no CUDA graphs on {device}"
            logger.info("decoding: eager (%s)", why)

    @classmethod
    def from_checkpoint(
        cls,
        path: str | Path,
        device: str = "cpu",
        vocoder: str = "griffin-lim",
        *,
        language: str | None = None,
        hifigan_weights: str = "universal",
        fast: bool | None = None,
    ) -> Synthesizer:
        """Rebuild model, frontend and vocoder from a checkpoint file or run folder (best, else latest).

        `language`, when given, must be the checkpoint's: a model trained on English letters cannot read Russian.
        `fast`: CUDA-graph decoding (None = on CUDA; True elsewhere raises `DecodingError` before loading).
        """
        from tacotron.audio import mel_basis
        from tacotron.infer.vocoders import build_vocoder
        from tacotron.model import build_model
        from tacotron.model.checkpoint import checkpoint_r, load_checkpoint

        torch_device = pick_device(device)
        resolve_fast(fast, torch_device)  # a DecodingError before anything is loaded
        path = resolve_checkpoint(path)
        ckpt = load_checkpoint(path)
        cfg = Config.from_dict(ckpt["config"])
        if language is not None and language != cfg.text.language:
            raise CheckpointMismatchError(
                f"{path} was trained for language {cfg.text.language!r}, not {language!r}"
            )
        frontend = _frontend_for(ckpt, cfg, path)
        model = build_model(cfg.model, len(frontend.symbols), cfg.audio.n_mels)
        model.load_state_dict(ckpt["model"])
        r = checkpoint_r(ckpt)
        voc = build_vocoder(vocoder, cfg.audio, mel_basis(cfg.audio), torch_device, hifigan_weights)
        logger.info(
            "loaded %s (step %s, r=%s) on %s with %s",
            path,
            ckpt.get("step"),
            r,
            torch_device,
            vocoder,
        )
        return cls(
            model, cfg, frontend, voc, torch_device, checkpoint=path, step=ckpt.get("step"), r=r, fast=fast,
            speakers=ckpt.get("speakers", []),
        )  # fmt: skip

    def max_piece_symbols(self, max_decoder_steps: int | None = None) -> int:
        """The most symbols (EOS included) one decoder call is given (`piece_symbol_budget`)."""
        return piece_symbol_budget(self.cfg, self.r, max_decoder_steps)

    def fits(self, max_decoder_steps: int | None = None):
        """A `fits(piece)` predicate for `tacotron.text.pieces.split_text`: within `max_piece_symbols`."""
        from tacotron.text.pieces import symbols_within

        return symbols_within(self.frontend, self.max_piece_symbols(max_decoder_steps))

    def split(self, text: str, max_decoder_steps: int | None = None) -> list[str]:
        """`text` as pieces that each fit `max_piece_symbols` (one piece when it fits as it is).

        Raises `NumberExpansionError` first when the whole text's numbers exceed the expansion budget.
        """
        from tacotron.text.pieces import split_text

        self.frontend.expand(text)  # the budget holds for the whole text, not per piece
        pieces = split_text(text, max(len(text), 1), self.fits(max_decoder_steps))
        if not pieces:
            self.frontend.encode(text)  # raises EmptyTextError, naming the text
        return pieces

    def synthesize(
        self,
        texts: list[str],
        batch_size: int = 8,
        *,
        seed: int | None = None,
        deterministic: bool = False,
        max_decoder_steps: int | None = None,
        style_mel: torch.Tensor | None = None,
        style_weights: torch.Tensor | None = None,
        split: bool = False,
        pause_seconds: float = PAUSE_SECONDS,
        speaker: str | Sequence[str | None] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[SynthesisResult]:
        """One result per text, in the order given. Raises on empty or unknown-character text, naming it.

        split: texts longer than one decoder call can say are split (`split`) and their pieces' audio
        joined with `pause_seconds` of silence; such a result lists `pieces` and `stop_reasons`.
        GST models: one style for every text, from a reference mel [n_mels, T] or token weights
        [n_tokens] (see `tacotron.infer.style`); neither = uniform token weights.
        speaker: a name of `speakers` (multi-speaker models; None = the first); UnknownSpeakerError otherwise.
        A list gives one name (or None) per text: the service batches requests for several speakers at once.
        progress: called as (done, total) after each batch, counting decoded texts (pieces when split),
        so a command can draw a progress bar without this module printing anything.
        """
        speaker_ids = self.text_speaker_ids(speaker, len(texts))
        if split:
            groups = [self.split(text, max_decoder_steps) for text in texts]
            if isinstance(speaker, Sequence) and not isinstance(speaker, str):
                speaker = [name for name, group in zip(speaker, groups, strict=True) for _ in group]
            flat = self.synthesize(
                [piece for group in groups for piece in group],
                batch_size,
                seed=seed,
                deterministic=deterministic,
                max_decoder_steps=max_decoder_steps,
                style_mel=style_mel,
                style_weights=style_weights,
                speaker=speaker,
                progress=progress,
            )
            joined, start = [], 0
            for text, group in zip(texts, groups, strict=True):
                joined.append(self._join(text, flat[start : start + len(group)], pause_seconds))
                start += len(group)
            return joined
        style = {"style_mel": style_mel, "style_weights": style_weights}
        style = {k: v.to(self.device) for k, v in style.items() if v is not None}
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        encoded = [self.frontend.encode(text) for text in texts]
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]), reverse=True)
        results: list[SynthesisResult | None] = [None] * len(texts)
        if progress is not None:
            progress(0, len(texts))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch_seed = None if seed is None else seed + start
            if speaker_ids is not None:
                style["speakers"] = speaker_ids[chunk].to(self.device)
            for index, result in zip(
                chunk,
                self._synthesize_batch(
                    [texts[i] for i in chunk],
                    [encoded[i] for i in chunk],
                    batch_seed,
                    deterministic,
                    max_decoder_steps,
                    style,
                ),
                strict=True,
            ):
                results[index] = result
            if progress is not None:
                progress(start + len(chunk), len(texts))
        return [r for r in results if r is not None]

    def speaker_ids(self, speaker: str | None) -> torch.Tensor | None:
        """The model's speaker input for `speaker` ([1] id), None for a single-speaker model.

        Why the first speaker by default: callers that know nothing of speakers (eval, the service)
        still get speech from a multi-speaker model, in one consistent voice.
        """
        if not self.speakers:
            if speaker is not None:
                raise UnknownSpeakerError(f"speaker {speaker!r} given but this model has a single speaker")
            return None
        if speaker is None:
            speaker = self.speakers[0]
        if speaker not in self.speakers:
            raise UnknownSpeakerError(
                f"unknown speaker {speaker!r}; this model knows: {', '.join(self.speakers)}"
            )
        return torch.tensor([self.speakers.index(speaker)], dtype=torch.long)

    def text_speaker_ids(self, speaker: str | Sequence[str | None] | None, n: int) -> torch.Tensor | None:
        """One speaker id per text (LongTensor [n]), None for a single-speaker model; `speaker` is one
        name for all texts or a list of one per text (ValueError when its length is not `n`)."""
        if speaker is None or isinstance(speaker, str):
            ids = self.speaker_ids(speaker)
            return None if ids is None else ids.expand(n)
        if len(speaker) != n:
            raise ValueError(f"{len(speaker)} speakers given for {n} texts; give one per text or one for all")
        ids = [self.speaker_ids(name) for name in speaker]
        return None if not self.speakers else torch.cat(ids) if ids else torch.zeros(0, dtype=torch.long)

    def _join(self, text: str, parts: list[SynthesisResult], pause_seconds: float) -> SynthesisResult:
        """The pieces of one text as one result: audio and mel with a pause between pieces (silent mel
        frames, so wav length stays frames * hop), alignments on a block diagonal."""
        if len(parts) == 1:
            part = parts[0]
            part.text, part.pieces, part.stop_reasons = text, [part.text], [part.stop_reason]
            return part
        hop = self.cfg.audio.hop_length
        gap = int(round(pause_seconds * parts[0].sample_rate / hop))
        floor = float(np.log(self.cfg.audio.log_clamp))
        wavs, mels = [], []
        for i, part in enumerate(parts):
            if i and gap:
                wavs.append(np.zeros(gap * hop, dtype=np.float32))
                mels.append(np.full((part.mel.shape[0], gap), floor, dtype=np.float32))
            wavs.append(np.asarray(part.wav, dtype=np.float32))
            mels.append(np.asarray(part.mel, dtype=np.float32))
        rows = sum(p.alignment.shape[0] for p in parts)
        alignment = np.zeros((rows, sum(p.alignment.shape[1] for p in parts)), dtype=np.float32)
        r = c = 0
        for part in parts:
            alignment[r : r + part.alignment.shape[0], c : c + part.alignment.shape[1]] = part.alignment
            r, c = r + part.alignment.shape[0], c + part.alignment.shape[1]
        reasons = [p.stop_reason for p in parts]
        mel = np.concatenate(mels, axis=1)
        return SynthesisResult(
            text=text,
            wav=np.concatenate(wavs),
            sample_rate=parts[0].sample_rate,
            mel=mel,
            alignment=alignment,
            frames=int(mel.shape[1]),
            stop_reason="max_steps" if "max_steps" in reasons else reasons[-1],
            seconds=sum(p.seconds for p in parts),
            cleaned=" ".join(p.cleaned for p in parts),
            pieces=[p.text for p in parts],
            stop_reasons=reasons,
        )

    @torch.no_grad()
    def _synthesize_batch(
        self,
        texts: list[str],
        ids: list[list[int]],
        seed: int | None,
        deterministic: bool,
        max_decoder_steps: int | None,
        style: dict[str, torch.Tensor] | None = None,
    ) -> list[SynthesisResult]:
        started = time.perf_counter()
        text, lengths = self._padded(ids)
        out = self._decode(text, lengths, seed, deterministic, max_decoder_steps, style or {})
        wavs = self.vocoder(out.mel_postnet, out.lengths.tolist())
        return self._results(texts, ids, out, wavs, time.perf_counter() - started)

    @torch.no_grad()
    def stream(
        self,
        text: str,
        on_audio: Callable[[np.ndarray], None],
        *,
        seed: int | None = None,
        deterministic: bool = False,
        max_decoder_steps: int | None = None,
        speaker: str | None = None,
        chunk_frames: int = CHUNK_FRAMES,
    ) -> SynthesisResult:
        """`synthesize([text], ...)` (same decoding, same mel), its audio handed to `on_audio` in chunks
        while decoding runs: mel blocks from incremental decoding (`tacotron.model.streaming`), vocoded
        as overlapping chunks of at least `chunk_frames` new frames (`tacotron.infer.chunks`).

        The result's `wav` is the streamed audio joined: HiFi-GAN's equals the batched path's up to
        rounding; Griffin-Lim's differs in phase (see `tacotron.infer.chunks`). `on_audio` runs in this
        thread and may raise to abandon the synthesis (a client that left).
        """
        started = time.perf_counter()
        ids = [self.frontend.encode(text)]
        speaker_ids = self.text_speaker_ids(speaker, 1)
        style = {} if speaker_ids is None else {"speakers": speaker_ids.to(self.device)}
        chunker = ChunkVocoder(self.vocoder, chunk_frames)
        wavs, out = [], None
        blocks = self._decode(*self._padded(ids), seed, deterministic, max_decoder_steps, style, stream=True)
        for block in blocks:
            for wav in chunker.push(block.mel):
                on_audio(wav)
                wavs.append(wav)
            out = block.output
        assert out is not None, "the last mel block carries the output"
        wavs.append(chunker.finish(padding=out.mel_postnet.size(2) - int(out.lengths[0])))
        on_audio(wavs[-1])
        return self._results([text], ids, out, [np.concatenate(wavs)], time.perf_counter() - started)[0]

    def _padded(self, ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Symbol ids as a padded batch [B, L] and their lengths [B]."""
        lengths = torch.tensor([len(x) for x in ids], dtype=torch.long)
        text = torch.full((len(ids), int(lengths.max())), self.frontend.symbols.pad_id, dtype=torch.long)
        for row, seq in enumerate(ids):
            text[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        return text, lengths

    def _results(
        self,
        texts: list[str],
        ids: list[list[int]],
        out: InferenceOutput,
        wavs: list[np.ndarray],
        seconds: float,
    ) -> list[SynthesisResult]:
        """One result per item of a decoded batch, the compute time shared equally."""
        share = seconds / len(ids)
        results = []
        for i, n in enumerate(int(n) for n in out.lengths.tolist()):
            steps = decoder_steps(n, out.r)
            results.append(
                SynthesisResult(
                    text=texts[i],
                    wav=wavs[i],
                    sample_rate=self.vocoder.sample_rate,
                    mel=out.mel_postnet[i, :, :n].float().cpu().numpy(),
                    alignment=out.alignments[i, :steps, : len(ids[i])].float().cpu().numpy(),
                    frames=n,
                    stop_reason=out.stop_reasons[i],
                    seconds=share,
                    cleaned=self.frontend.clean(texts[i]),
                )
            )
        return results

    def _decode(
        self,
        text: torch.Tensor,
        lengths: torch.Tensor,
        seed: int | None,
        deterministic: bool,
        max_decoder_steps: int | None,
        style: dict[str, torch.Tensor],
        *,
        stream: bool = False,
    ) -> InferenceOutput | Iterator[MelBlock]:
        """One padded batch through the fast path when it gives what eager would, else eager; with
        `stream`, one text as mel blocks handed out while decoding runs, on the same path."""
        settings = self._decode_settings(deterministic, max_decoder_steps, style)
        text, lengths = text.to(self.device), lengths.to(self.device)
        graphed = self._fast_path(seed, deterministic)
        if graphed is not None:
            return (graphed.stream if stream else graphed.infer)(text, lengths, **settings)
        decode = self.model.infer_stream if stream else self.model.infer
        return decode(text, lengths, seed=seed, **settings)

    def _decode_settings(
        self, deterministic: bool, max_decoder_steps: int | None, style: dict[str, torch.Tensor]
    ) -> dict[str, Any]:
        """The keyword arguments every decoding path gets: r, step limit, gate threshold, dropout, style."""
        return {
            "r": self.r,
            "max_decoder_steps": max_decoder_steps or self.cfg.model.max_decoder_steps,
            "gate_threshold": self.cfg.model.gate_threshold,
            "deterministic": deterministic,
            **style,
        }

    def _fast_path(self, seed: int | None, deterministic: bool) -> GraphedInference | None:
        """The graphed decoder for this call (built on first use), or None for eager, logged once per reason."""
        if not self.fast:
            return None
        if seed is not None and self.model.dropout_at_inference(deterministic):
            self._log_once(
                "seed",
                "decoding eagerly: a seed with prenet dropout on needs a seeded generator, and the CUDA "
                "graphs draw from the default one (pass no seed, or deterministic, for the fast path)",
            )
            return None
        if self.graphed is None:
            from tacotron.model.fast_infer import GraphedInference

            self.graphed = GraphedInference(self.model, max_graphs=self.max_graphs)
        return self.graphed

    def _log_once(self, reason: str, message: str) -> None:
        if reason not in self._logged:
            self._logged.add(reason)
            logger.warning(message)


def input_errors() -> tuple[type[Exception], ...]:
    """Errors caused by what the user passed (files, text, checkpoint, settings), which the CLI reports
    as one line and exit code 2 instead of a traceback; anything else is a bug and keeps its traceback."""
    from tacotron.audio import AudioError
    from tacotron.infer.hifigan import HifiGanConfigError
    from tacotron.infer.style import StyleError
    from tacotron.model.checkpoint import CheckpointError
    from tacotron.text import EmptyTextError, NumberExpansionError, UnknownCharactersError

    return (
        FileNotFoundError,
        EmptyInputError,
        CheckpointError,
        CheckpointMismatchError,
        DecodingError,
        UnknownSpeakerError,
        HifiGanConfigError,
        UnknownCharactersError,
        EmptyTextError,
        NumberExpansionError,
        AudioError,
        StyleError,
    )
