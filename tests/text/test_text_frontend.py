"""TextFrontend: every letter survives, unknown characters are named, stress marks, decode."""

from __future__ import annotations

import unicodedata

import pytest
import torch

from tacotron.config import TextConfig
from tacotron.text import EmptyTextError, TextFrontend, UnknownCharactersError

RU_LOWER = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
EN_LOWER = "abcdefghijklmnopqrstuvwxyz"


@pytest.mark.parametrize(("language", "alphabet"), [("en", EN_LOWER), ("ru", RU_LOWER), ("ru", EN_LOWER)])
def test_every_letter_survives_both_cases(language, alphabet):
    frontend = TextFrontend(TextConfig(language=language))
    for text in (alphabet, alphabet.upper(), " ".join(alphabet.upper())):
        cleaned = frontend.clean(text)
        assert cleaned == text.lower()
        ids = frontend.encode(text)
        assert ids[-1] == frontend.symbols.eos_id
        assert frontend.symbols.pad_id not in ids
        assert frontend.decode(ids) == cleaned


@pytest.mark.parametrize("form", ["NFC", "NFD"])
def test_yo_and_short_i_survive_decomposed_input(form):
    """NFD splits й into и + U+0306 and ё into е + U+0308; cleaning must put them back, not drop marks."""
    frontend = TextFrontend(TextConfig(language="ru"))
    text = unicodedata.normalize(form, "Йод, ёлка, ЁЖ и ЙОГУРТ")
    assert frontend.clean(text) == "йод, ёлка, ёж и йогурт"
    assert frontend.decode(frontend.encode(text)) == "йод, ёлка, ёж и йогурт"


@pytest.mark.parametrize(
    ("language", "text", "char"), [("en", "Snow ☃ man", "☃"), ("ru", "Привет 你好", "你")]
)
def test_unknown_characters_raise_with_the_char_named(language, text, char):
    frontend = TextFrontend(TextConfig(language=language))
    with pytest.raises(UnknownCharactersError, match=char) as info:
        frontend.encode(text)
    assert isinstance(info.value, ValueError)
    assert info.value.chars[char] == 1
    assert frontend.unknown_characters(text)[char] == 1


def test_cyrillic_is_unknown_in_english_not_dropped():
    frontend = TextFrontend(TextConfig(language="en"))
    assert frontend.clean("hello мир") == "hello мир"
    assert frontend.unknown_characters("hello мир") == {"м": 1, "и": 1, "р": 1}


def test_latin_diacritics_fold_but_cyrillic_does_not():
    assert TextFrontend(TextConfig(language="en")).clean("Café naïve Straße") == "cafe naive strasse"
    assert TextFrontend(TextConfig(language="ru")).clean("кафе café й") == "кафе cafe й"


def test_stress_marks_keep_and_strip():
    keep = TextFrontend(TextConfig(language="ru", stress="keep"))
    strip = TextFrontend(TextConfig(language="ru", stress="strip"))
    assert keep.clean("Молок+о") == "молок+о"
    assert keep.decode(keep.encode("Молок+о")) == "молок+о"
    assert keep.clean("молоко\u0301") == "молок+о"  # combining acute -> '+'
    assert strip.clean("Молок+о и молоко\u0301") == "молоко и молоко"
    assert keep.symbols == strip.symbols  # the table does not depend on the stress policy


def test_encode_decode_accepts_tensors_and_rejects_bad_ids():
    frontend = TextFrontend(TextConfig(language="en"))
    ids = frontend.encode("Hello, world!")
    assert frontend.decode(torch.tensor(ids + [0, 0])) == "hello, world!"
    with pytest.raises(ValueError, match="outside"):
        frontend.decode([len(frontend.symbols)])


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_text_raises(text):
    with pytest.raises(EmptyTextError):
        TextFrontend(TextConfig(language="en")).encode(text)


def test_whitespace_and_punctuation_are_normalised():
    frontend = TextFrontend(TextConfig(language="en"))
    assert frontend.clean("  Hello ,\tworld\u00a0 !  It\u2019s  fine.\n") == "hello, world! it's fine."
