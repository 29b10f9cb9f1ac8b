"""A voice = one loaded `Synthesizer` plus what the service needs around it: an id, a validator, a batcher.

Validation runs in the request handler with the voice's own `TextFrontend` (built from the same
checkpoint config), so a request with unknown characters gets a 422 before it is queued and can never
fail a batch shared with other requests. The same holds for speakers: `check_speaker` refuses a name
outside the voice's speaker table in the handler, and each queued text carries its own speaker, so
requests for different speakers of one voice share batches (the model takes one speaker id per text).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tacotron.serve.batcher import Batcher

DEFAULT_SPEAKER_NAMES = ("", "default")  # speaker values that mean "the voice's default speaker"


@dataclass
class Voice:
    """`synthesizer` must offer `synthesize(texts, batch_size, *, seed)` and `.cfg` (a `Config`); a
    multi-speaker one also `.speakers` (names in id order) and `synthesize(..., speaker=[name per text])`."""

    id: str
    synthesizer: Any
    vocoder: str = "griffin-lim"
    frontend: Any = None  # TextFrontend for validation; default: rebuilt from synthesizer.cfg.text
    batcher: Batcher | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.frontend is None:
            from tacotron.text import TextFrontend

            self.frontend = TextFrontend(self.synthesizer.cfg.text)

    @property
    def language(self) -> str:
        return self.synthesizer.cfg.text.language

    @property
    def sample_rate(self) -> int:
        return int(self.synthesizer.cfg.audio.sample_rate)

    @property
    def speakers(self) -> list[str]:
        """The checkpoint's speaker names in id order; [] for a single-speaker voice."""
        return list(getattr(self.synthesizer, "speakers", None) or [])

    def check_speaker(self, speaker: str | None) -> str | None:
        """The speaker to synthesise with: a name of `speakers`, or None for the voice's default (the
        first speaker) when `speaker` is None, empty or "default" and no speaker has that name.

        Why "default" and empty pass on a single-speaker voice: clients (Coqui's page, generic forms)
        send them to mean "no choice"; any other name there is a mistake the caller should hear about.
        Raises `UnknownSpeakerError` listing the known speakers.
        """
        from tacotron.infer.synthesizer import UnknownSpeakerError

        names = self.speakers
        if speaker is None or speaker in names:
            return speaker
        if speaker.strip() in DEFAULT_SPEAKER_NAMES:
            return None
        if not names:
            raise UnknownSpeakerError(
                f"voice {self.id!r} has a single speaker: leave speaker out (or empty), not {speaker!r}"
            )
        raise UnknownSpeakerError(
            f"unknown speaker {speaker!r} for voice {self.id!r}; known speakers: {', '.join(names)}"
        )

    @property
    def step(self) -> int | None:
        return getattr(self.synthesizer, "step", None)

    @property
    def frames_per_step(self) -> int:
        """r: the synthesizer's (the checkpoint's), else the config's."""
        return int(getattr(self.synthesizer, "r", self.synthesizer.cfg.model.n_frames_per_step))

    def max_piece_symbols(self) -> int:
        """Symbols one decoder call is given (`Synthesizer.max_piece_symbols`): pieces are split below it."""
        from tacotron.infer.synthesizer import piece_symbol_budget

        return piece_symbol_budget(self.synthesizer.cfg, self.frames_per_step)

    def word_timings(
        self, results: Sequence[Any], starts: Sequence[int], speed: float = 1.0
    ) -> tuple[list[Any] | None, str]:
        """Word timings (`tacotron.infer.timings.WordTime`) of one request's pieces, which start at sample
        `starts[i]` of the joined audio, after the `speed` stretch; or (None, why) when they are not exact."""
        from tacotron.infer.timings import shifted, word_timings

        if self.frontend.cfg.phonemes:
            return (
                None,
                "no word timings: this voice reads IPA phonemes, whose words need not be the written ones",
            )
        audio = self.synthesizer.cfg.audio
        words: list[Any] = []
        for result, start in zip(results, starts, strict=True):
            cleaned = getattr(result, "cleaned", "")
            piece = word_timings(
                cleaned,
                result.alignment,
                result.frames,
                self.frames_per_step,
                audio.hop_length,
                self.sample_rate,
            )
            if piece is None:
                return None, "no word timings: the alignment's symbols are not the cleaned text's characters"
            words.extend(shifted(piece, start / self.sample_rate, speed))
        return words, "from the attention alignment (approximate: attention is not a forced alignment)"

    def fits(self):
        """`fits(piece)` for sentence splitting: the frontend's symbol estimate within `max_piece_symbols`."""
        from tacotron.text.pieces import symbols_within

        return symbols_within(self.frontend, self.max_piece_symbols())

    def validate(self, sentences: Sequence[str]) -> None:
        """Raise the frontend's UnknownCharactersError / EmptyTextError / NumberExpansionError for the first
        bad sentence."""
        for sentence in sentences:
            self.frontend.encode(sentence)

    def batch_fn(self, batch_size: int):
        """The synchronous (texts, seed, speakers) -> results function the batcher runs in its worker
        thread; `speakers` (one name or None per text) reaches only a multi-speaker synthesizer."""

        def run(texts: list[str], seed: int | None, speakers: Sequence[str | None]) -> list[Any]:
            if not self.speakers:
                return self.synthesizer.synthesize(texts, batch_size=batch_size, seed=seed)
            return self.synthesizer.synthesize(
                texts, batch_size=batch_size, seed=seed, speaker=list(speakers)
            )

        return run

    def stream_piece(
        self,
        text: str,
        seed: int | None,
        speaker: str | None,
        on_audio: Callable[[np.ndarray], None],
        chunked: bool,
    ) -> Any:
        """One piece of `/api/tts/stream`, run in the batcher's worker thread: with `chunked` and a
        synthesizer that streams (`Synthesizer.stream`), its audio goes to `on_audio` in chunks while it
        decodes; otherwise it is synthesised whole and handed over at once. -> the piece's result."""
        stream = getattr(self.synthesizer, "stream", None)
        if chunked and stream is not None:
            return stream(text, on_audio, seed=seed, **({"speaker": speaker} if self.speakers else {}))
        [result] = self.batch_fn(1)([text], seed, [speaker])
        on_audio(np.asarray(result.wav, dtype=np.float32))
        return result


def voice_id_for(language: str, taken: set[str]) -> str:
    """A readable, unique id: the language, then language-2, language-3 ... for more checkpoints."""
    candidate, n = language, 1
    while candidate in taken:
        n += 1
        candidate = f"{language}-{n}"
    return candidate


def voice_with_speaker(voices: Iterable[Voice], name: str) -> Voice | None:
    """The first voice whose speaker table holds `name` (compat APIs name a speaker where a voice goes)."""
    return next((voice for voice in voices if name in voice.speakers), None)
