"""Split long text into pieces a Tacotron decoder can finish: at sentences, then clauses, then words.

Why: decoding stops at `max_decoder_steps`, so a text that needs more frames is cut off, and attention
degrades on inputs much longer than the training utterances. `Synthesizer.synthesize(split=True)` and
the service synthesise the pieces (batched) and join their audio with a short pause.

Rules: every sentence (ending in . ! ? ..., optionally followed by a closing quote or bracket) starts a
new piece. A sentence that does not fit is split at clause marks (, ; : and dashes, followed by whitespace)
and its clauses packed greedily into pieces that fit; a clause that does not fit is packed word by word;
a single word that does not fit is cut into chunks that do. A piece with nothing speakable (only
punctuation) is joined to its neighbour. Nothing is dropped and the order is kept: the pieces joined with
spaces are the input with runs of whitespace collapsed (plus spaces where a word had to be cut).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# A sentence ends at . ! ? ... (possibly followed by one closing quote or bracket) and then whitespace.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"'»”)\]])\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:—–])\s+")

Fits = Callable[[str], bool]


def split_text(text: str, max_chars: int, fits: Fits | None = None) -> list[str]:
    """Pieces of `text`, each at most `max_chars` long and accepted by `fits` (when given).

    `fits(piece)` is the caller's budget, e.g. "the frontend's symbol count is within what the decoder
    can say in max_decoder_steps". Whitespace-only input gives no pieces.
    """
    if max_chars <= 0:
        raise ValueError(f"max_chars must be positive, got {max_chars}")

    def ok(piece: str) -> bool:
        return len(piece) <= max_chars and (fits is None or fits(piece))

    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        sentence = " ".join(sentence.split())
        if not sentence:
            continue
        if ok(sentence):
            pieces.append(sentence)
            continue
        units: list[str] = []
        for clause in _CLAUSE_END.split(sentence):
            if ok(clause):
                units.append(clause)
            else:
                units.extend(_pack(_cut_words(clause.split(), ok), ok))
        pieces.extend(_pack(units, ok))
    return _merge_unspeakable(pieces)


def symbols_within(frontend, limit: int) -> Fits:
    """`fits(piece)`: the frontend's symbol estimate (`TextFrontend.estimate_symbols`) is at most `limit`.

    A piece whose numbers exceed the expansion budget does not fit (it is cut smaller); callers check the
    budget on the whole text first, where exceeding it is an error.
    """
    from tacotron.text.number_limits import NumberExpansionError

    def fits(piece: str) -> bool:
        try:
            return frontend.estimate_symbols(piece) <= limit
        except NumberExpansionError:
            return False

    return fits


def speakable(piece: str) -> bool:
    """Whether a piece has anything to say: a letter or a digit (punctuation alone is silence)."""
    return any(c.isalnum() for c in piece)


def _cut_words(words: list[str], ok: Fits) -> list[str]:
    """Words, with any word that does not fit cut into the longest chunks that do."""
    out: list[str] = []
    for word in words:
        while len(word) > 1 and not ok(word):
            low, high = 1, len(word) - 1  # the longest prefix that fits (binary search)
            while low < high:
                mid = (low + high + 1) // 2
                low, high = (mid, high) if ok(word[:mid]) else (low, mid - 1)
            out.append(word[:low])  # a single character is taken even if it does not fit: never loop
            word = word[low:]
        if word:
            out.append(word)
    return out


def _pack(units: list[str], ok: Fits) -> list[str]:
    """Greedily join consecutive units with spaces into chunks that fit."""
    chunks: list[str] = []
    current = ""
    for unit in units:
        candidate = f"{current} {unit}" if current else unit
        if not current or ok(candidate):
            current = candidate
        else:
            chunks.append(current)
            current = unit
    if current:
        chunks.append(current)
    return chunks


def _merge_unspeakable(pieces: list[str]) -> list[str]:
    """Pieces with nothing to say ("...", "—") joined to the previous piece, or to the next one."""
    out: list[str] = []
    pending = ""  # unspeakable pieces before the first speakable one
    for piece in pieces:
        if speakable(piece):
            out.append(f"{pending} {piece}" if pending else piece)
            pending = ""
        elif out:
            out[-1] = f"{out[-1]} {piece}"
        else:
            pending = f"{pending} {piece}" if pending else piece
    if pending:  # nothing speakable at all: one piece, for the frontend to reject with its reason
        out.append(pending)
    return out
