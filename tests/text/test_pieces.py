"""Long-text splitting: at sentences, then clauses, then words; every piece within the budget, nothing
dropped, order kept. A 5,000-character paragraph is the acceptance case (the splitting logic: an untrained
test model cannot show speech)."""

from __future__ import annotations

import random

import pytest

from tacotron.config import TextConfig
from tacotron.text import TextFrontend
from tacotron.text.pieces import split_text, symbols_within

EN = TextFrontend(TextConfig(language="en"))
WORDS = "the of and to in is was he for it with as his on be at by had are but from or have an they"
WORDS = WORDS.split(" ")


def paragraph(n_chars: int, seed: int = 0) -> str:
    """Random English-like prose with commas, semicolons, numbers and an over-long sentence."""
    rng = random.Random(seed)
    out: list[str] = []
    while sum(len(w) + 1 for w in out) < n_chars:
        sentence = [rng.choice(WORDS) for _ in range(rng.randint(3, 40 if rng.random() < 0.9 else 120))]
        for i in range(2, len(sentence) - 1, rng.randint(4, 9)):
            sentence[i] += rng.choice([",", ",", ";", ":"])
        if rng.random() < 0.3:
            sentence.insert(1, str(rng.randint(1, 10**6)))
        out.extend(sentence[:-1] + [sentence[-1] + rng.choice([".", ".", "!", "?", "..."])])
    return " ".join(out)[:n_chars].rstrip() + "."


def squash(text: str) -> str:
    return "".join(text.split())


def test_a_5000_character_paragraph_is_split_completely_within_the_budget():
    text = paragraph(5000)
    assert len(text) >= 4990
    limit = 93  # symbols: what the default config's 1000 decoder steps hold at 8 symbols/s
    fits = symbols_within(EN, limit)
    pieces = split_text(text, len(text), fits)
    assert all(EN.estimate_symbols(p) <= limit for p in pieces)
    assert squash(" ".join(pieces)) == squash(text)  # nothing dropped, order kept
    assert " ".join(pieces) == " ".join(text.split())  # no word was cut: they all fit
    assert len(pieces) >= len(text) // 93
    ends = sum(p.endswith((".", "!", "?")) for p in pieces)
    assert ends >= len(pieces) // 3  # most cuts are at sentence ends


def test_clauses_then_words():
    sentence = "one two three, four five six; seven eight nine ten eleven twelve thirteen fourteen."
    pieces = split_text(sentence, 30)
    assert pieces[0] == "one two three, four five six;"  # clauses packed while they fit
    assert all(len(p) <= 30 for p in pieces) and squash(" ".join(pieces)) == squash(sentence)


def test_a_number_that_expands_beyond_the_budget_is_cut_into_pieces_that_fit():
    text = "Account " + "7" * 60 + " closed."
    fits = symbols_within(EN, 40)
    pieces = split_text(text, len(text), fits)
    assert all(EN.estimate_symbols(p) <= 40 for p in pieces)
    assert squash(" ".join(pieces)) == squash(text)


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("Hello. ... World!", ["Hello. ...", "World!"]),
        ("... Hello there.", ["... Hello there."]),
        ("?! ...", ["?! ..."]),  # nothing to say at all: one piece, for the frontend to reject
        ("  \n ", []),
    ],
)
def test_unspeakable_pieces_join_a_neighbour(text, pieces):
    assert split_text(text, 100) == pieces
