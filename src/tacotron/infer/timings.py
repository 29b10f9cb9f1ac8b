"""Word timings from the attention alignment: when each word of the cleaned text is spoken.

Why from attention: Tacotron has no duration model, but its location-sensitive attention walks over the
text symbols in order, so the symbol attended at a decoder step tells which word is being spoken then.

The mapping is exact only when alignment columns are the cleaned text's characters (`encode` maps
`cleaned[i]` to column i, then EOS): the caller passes the cleaned text and `word_timings` refuses
(returns None) when the column count says otherwise. With phonemes on, the cleaned text is espeak-ng IPA,
whose word breaks need not match the written words, so callers should not present those as the user's
words (the service reports no timings then).

Per decoder step the attended symbol is the argmax column, made non-decreasing (attention that jumps
back for a step does not make a word start twice). A word starts at the first step attending one of its
symbols (or a later one) and ends at the first step attending past it. Step t covers frames
[t * r, (t + 1) * r), so times are frames * hop / sample_rate, capped at the audio's end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_TOKEN = re.compile(r"\S+")
_STRESS = "+"  # Russian stress mark: part of a word, not punctuation


@dataclass(frozen=True)
class WordTime:
    """One word (as the model read it) and where it is spoken, in seconds from the audio's start."""

    word: str
    start: float
    end: float


def word_spans(cleaned: str) -> list[tuple[str, int, int]]:
    """(word, first column, column after it) per word of `cleaned`: space-separated tokens with their
    leading and trailing punctuation removed; tokens without a letter or digit are no words."""
    spans = []
    for match in _TOKEN.finditer(cleaned):
        token, start = match.group(), match.start()
        inner = [i for i, c in enumerate(token) if c.isalnum() or c == _STRESS]
        if not inner or not any(c.isalnum() for c in token):
            continue
        first, last = inner[0], inner[-1] + 1
        spans.append((token[first:last], start + first, start + last))
    return spans


def word_timings(
    cleaned: str, alignment: np.ndarray, frames: int, r: int, hop_length: int, sample_rate: int
) -> list[WordTime] | None:
    """Per-word start/end seconds of one decoded text (see the module docstring), or None when the
    alignment's columns are not `cleaned` + EOS (the symbols cannot be mapped to its characters)."""
    alignment = np.asarray(alignment)
    if alignment.ndim != 2 or alignment.shape[1] != len(cleaned) + 1:
        return None
    spans = word_spans(cleaned)
    if not spans or alignment.shape[0] == 0:
        return [WordTime(word, 0.0, 0.0) for word, _, _ in spans]
    position = np.maximum.accumulate(alignment.argmax(axis=1))
    step_seconds = r * hop_length / sample_rate
    total = frames * hop_length / sample_rate
    timings = []
    for word, first, after in spans:
        start_step = int(np.searchsorted(position, first, side="left"))
        end_step = int(np.searchsorted(position, after, side="left"))
        start = min(start_step * step_seconds, total)
        timings.append(WordTime(word, start, max(start, min(end_step * step_seconds, total))))
    return timings


def shifted(timings: list[WordTime], offset: float, speed: float = 1.0) -> list[WordTime]:
    """Timings of a piece placed at `offset` seconds of the joined audio, then time-stretched by `speed`
    (2.0 = twice as fast, so every time halves)."""
    return [WordTime(t.word, (t.start + offset) / speed, (t.end + offset) / speed) for t in timings]
