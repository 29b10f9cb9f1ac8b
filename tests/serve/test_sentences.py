"""Sentence splitting for long requests."""

from __future__ import annotations

import pytest

from tacotron.serve.sentences import split_sentences


def test_splits_at_sentence_ends_keeping_punctuation_and_quotes():
    text = 'Hello there. How are you?  I am "fine." Yes! Привет, мир. (Ok.) End'
    assert split_sentences(text, 100) == [
        "Hello there.",
        "How are you?",
        'I am "fine."',
        "Yes!",
        "Привет, мир.",
        "(Ok.)",
        "End",
    ]


def test_long_sentences_split_at_clauses_then_words_within_the_limit():
    text = "one, two, three four five six seven, eight nine ten eleven twelve thirteen."
    pieces = split_sentences(text, 20)
    assert all(len(p) <= 20 for p in pieces)
    assert " ".join(pieces).split() == text.split()  # nothing lost, order kept


def test_a_word_longer_than_the_limit_is_cut_not_dropped():
    assert split_sentences("a" * 45, 20) == ["a" * 20, "a" * 20, "a" * 5]


def test_whitespace_only_gives_no_pieces_and_bad_limit_raises():
    assert split_sentences("  \n\t ", 10) == []
    with pytest.raises(ValueError, match="max_chars"):
        split_sentences("hi", 0)
