"""Words of a sentence and pronunciation dictionaries: what the ASR judge and the held-out sentence
selection both count in (a word is a run of letters of any script, inner apostrophes kept)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")  # letters (any script), inner apostrophes kept


def words_of(text: str, normalize: Callable[[str], str] | None = None) -> list[str]:
    """Lowercase words of `text` after `normalize` (the frontend's: numbers and abbreviations expanded)."""
    if normalize is not None:
        text = normalize(text)
    return _WORD.findall(text.lower())


def read_dictionary(path: str | Path) -> dict[str, list[str]]:
    """A CMUdict-style pronunciation file: word -> its lines (alternates "word(2) ..." kept)."""
    entries: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split(maxsplit=1)
            if len(parts) != 2:
                continue
            word = re.sub(r"\(\d+\)$", "", parts[0]).lower()
            entries.setdefault(word, []).append(line.rstrip("\n"))
    return entries
