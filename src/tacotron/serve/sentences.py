"""Split long input into sentence-sized pieces.

Why: Tacotron attention degrades on inputs much longer than the training utterances (a few seconds), and
one long item in a batch makes every other item wait for its decoder steps. Pieces are synthesised as a
batch and their audio joined with a short pause.
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? … (possibly followed by one closing quote or bracket) and then whitespace.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"'»”)\]])\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:—–])\s+")


def split_sentences(text: str, max_chars: int) -> list[str]:
    """Sentences of `text`, each at most `max_chars` long (split further at clauses, then words).

    Whitespace-only pieces are dropped; a single word longer than `max_chars` is cut hard, since the
    alternative (rejecting the request) helps nobody.
    """
    if max_chars <= 0:
        raise ValueError(f"max_chars must be positive, got {max_chars}")
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        sentence = " ".join(sentence.split())
        if not sentence:
            continue
        if len(sentence) <= max_chars:
            pieces.append(sentence)
            continue
        clauses: list[str] = []
        for clause in _CLAUSE_END.split(sentence):
            clauses.extend(_pack(_hard_cut(clause.split(), max_chars), max_chars))
        pieces.extend(_pack(clauses, max_chars))
    return pieces


def _hard_cut(words: list[str], max_chars: int) -> list[str]:
    """Words, with any word longer than `max_chars` cut into pieces of that length."""
    return [word[i : i + max_chars] for word in words for i in range(0, len(word), max_chars)]


def _pack(units: list[str], max_chars: int) -> list[str]:
    """Greedily join consecutive units with spaces into chunks of at most `max_chars` characters."""
    chunks: list[str] = []
    current = ""
    for unit in units:
        candidate = f"{current} {unit}" if current else unit
        if len(candidate) <= max_chars or not current:
            current = candidate
        else:
            chunks.append(current)
            current = unit
    if current:
        chunks.append(current)
    return chunks
