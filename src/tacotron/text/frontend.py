"""`TextFrontend`: text -> cleaned text -> symbol ids, per language, letters or espeak-ng phonemes.

The one rule: no character is silently lost. Cleaners may rewrite characters into known
spellings (digits into words, typographic quotes into ASCII); whatever is still not in the symbol
table afterwards is reported by `unknown_characters` and makes `encode` raise
`UnknownCharactersError` naming it, so data preparation can list the skipped item.

Every way a text can be unusable is a `ValueError` subclass naming the text: `UnknownCharactersError`,
`EmptyTextError` (nothing left, or only punctuation: nothing to say) and `NumberExpansionError`
(numbers that cannot be read or would expand beyond `number_limits.number_budget`).

English and Russian have letters tables, number and abbreviation expanders of their own; any other
espeak-ng language is read in phoneme mode only, with num2words numbers (`numbers_num2words`), no
abbreviation list, and its letters' diacritics kept (ü, é, ñ are different sounds to espeak-ng).
A language that cannot be read as configured fails at construction (`languages.check_language`).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import tacotron.text.cleaners as cleaners
from tacotron.config import TextConfig
from tacotron.text.abbreviations import expand_abbreviations_en, expand_abbreviations_ru
from tacotron.text.languages import LETTER_LANGUAGES, check_language
from tacotron.text.number_limits import NumberExpansionError, number_budget, preview
from tacotron.text.numbers_en import expand_numbers_en
from tacotron.text.numbers_num2words import num2words_expander
from tacotron.text.numbers_ru import expand_numbers_ru
from tacotron.text.symbols import STRESS, SymbolTable, build_symbol_table

log = logging.getLogger(__name__)

_NUMBER_EXPANDERS = {"en": expand_numbers_en, "ru": expand_numbers_ru}
_ABBREVIATION_EXPANDERS = {"en": expand_abbreviations_en, "ru": expand_abbreviations_ru}


class UnknownCharactersError(ValueError):
    """Cleaned text holds characters outside the symbol table; `.chars` counts each of them."""

    def __init__(self, chars: Counter, text: str = "", language: str = "") -> None:
        self.chars = Counter(chars)
        self.text = text
        listed = ", ".join(f"{c!r} (U+{ord(c):04X}) x{n}" for c, n in self.chars.most_common())
        super().__init__(f"characters not in the {language!r} symbol table: {listed}; in text {text!r}")


class EmptyTextError(ValueError):
    """The text is empty after cleaning, or holds no letters (punctuation only): there is nothing to say."""


def _expand_numbers(expand: Callable[[str], str], text: str) -> str:
    """`expand(text)` within the number budget; every failure is a `NumberExpansionError` naming the text."""
    try:
        expanded = expand(text)
    except (ArithmeticError, LookupError, ValueError, TypeError, NotImplementedError) as err:
        # num2words: OverflowError (en), KeyError (ru), ValueError (int() of > 4300 digits) and the like
        raise NumberExpansionError(
            f"cannot read the numbers in {preview(text)}: {type(err).__name__}: {err}"
        ) from err
    added, budget = len(expanded) - len(text), number_budget(text)
    if added > budget:
        raise NumberExpansionError(
            f"numbers in {preview(text)} expand to {len(expanded)} characters of words ({added} more than "
            f"written, limit {budget}): write fewer or shorter numbers"
        )
    return expanded


def _number_expander(cfg: TextConfig) -> Callable[[str], str] | None:
    """The language's own expander (en, ru), num2words' for the others, None when expansion is off.
    Raises `UnknownLanguageError` when num2words cannot spell the language (see `languages`)."""
    if not cfg.expand_numbers:
        return None
    return _NUMBER_EXPANDERS.get(cfg.language) or num2words_expander(cfg.language)


class TextFrontend:
    """Cleaning, symbol mapping and (optionally) phonemisation for one `TextConfig`.

    `clean` returns exactly what gets mapped to ids: normalised letters, or espeak-ng IPA when
    `cfg.phonemes` is on. `normalize` always returns the orthographic (letter) form.
    Heavy helpers (phonemizer, silero-stress) are created on first use and kept on the instance.
    The letter tables are lowercase only: with `cfg.lowercase` off, capitals are reported as unknown.
    """

    def __init__(self, cfg: TextConfig) -> None:
        check_language(cfg.language, cfg.phonemes)
        self.cfg = cfg
        self._expand_numbers = _number_expander(cfg)
        self.symbols: SymbolTable = build_symbol_table(cfg.language, cfg.phonemes)
        self._phonemizer: Callable[[str], str] | None = None
        self._stresser: Callable[[str], str] | None = None

    # ----------------------------------------------------------------- cleaning
    def normalize(self, text: str) -> str:
        """Orthographic cleaning: Unicode, punctuation, case, numbers, abbreviations, stress marks."""
        text = self.expand(text)
        if self.cfg.language == "ru":
            text = self._apply_stress_policy(text)
        return text

    def expand(self, text: str) -> str:
        """`normalize` without the (Russian) stress policy: cheap, so long-text splitting can measure pieces.

        Raises `NumberExpansionError` when numbers cannot be read or expand beyond the budget.
        """
        lang = self.cfg.language
        text = cleaners.normalize_unicode(text)
        if lang == "ru":
            text = cleaners.acute_to_stress_mark(text)
        if lang in LETTER_LANGUAGES:
            text = cleaners.fold_latin_diacritics(text)
        text = cleaners.normalize_punctuation(text)
        text = cleaners.collapse_whitespace(text)
        if self.cfg.lowercase:
            text = cleaners.lowercase(text)
        if self._expand_numbers is not None:
            text = _expand_numbers(self._expand_numbers, text)
        if self.cfg.expand_abbreviations and lang in _ABBREVIATION_EXPANDERS:
            text = _ABBREVIATION_EXPANDERS[lang](text)
        return cleaners.collapse_whitespace(text)

    def estimate_symbols(self, text: str) -> int:
        """Symbols (with EOS) that `encode(text)` is expected to give, from the orthographic form: what
        long-text splitting budgets decoder steps by (espeak IPA is about as long as the letters)."""
        return len(self.expand(text)) + 1

    def _apply_stress_policy(self, text: str) -> str:
        if self.cfg.stress == "strip" or self.cfg.phonemes:
            return cleaners.strip_stress_marks(text)  # espeak-ng has its own stress dictionary
        if self.cfg.stress == "auto":
            if self._stresser is None:
                from tacotron.text.stress import SileroStresser

                self._stresser = SileroStresser()
            return self._stresser(text)
        return text

    def clean(self, text: str) -> str:
        """What gets mapped to ids: `normalize(text)`, phonemised when `cfg.phonemes` is on."""
        text = self.normalize(text)
        if not self.cfg.phonemes:
            return text
        if self._phonemizer is None:
            from tacotron.text.phonemes import EspeakPhonemizer

            self._phonemizer = EspeakPhonemizer(self.cfg.language)
        return self._phonemizer(text)

    # ----------------------------------------------------------------- mapping
    def unknown_characters(self, text: str) -> Counter:
        """Characters of `clean(text)` that have no id, with counts (empty when all are known)."""
        return self.unknown_in_cleaned(self.clean(text))

    def unknown_in_cleaned(self, cleaned: str) -> Counter:
        """Like `unknown_characters` for text that is already cleaned (avoids cleaning twice)."""
        return Counter(c for c in cleaned if c not in self.symbols)

    def encode(self, text: str) -> list[int]:
        """clean + map + EOS. Raises `UnknownCharactersError` or `EmptyTextError`, never drops a char."""
        cleaned = self.clean(text)
        return self.encode_cleaned(cleaned, original=text)

    def encode_cleaned(self, cleaned: str, original: str | None = None) -> list[int]:
        """Map already-cleaned text (e.g. a manifest's "cleaned" field) to ids + EOS."""
        unknown = self.unknown_in_cleaned(cleaned)
        if unknown:
            raise UnknownCharactersError(
                unknown, text=original if original is not None else cleaned, language=self.symbols.language
            )
        shown = original if original is not None else cleaned
        if not cleaned.replace(" ", "").replace(STRESS, ""):
            raise EmptyTextError(f"text is empty after cleaning: {preview(shown)}")
        if not any(c.isalpha() for c in cleaned):
            raise EmptyTextError(f"nothing to say: {preview(shown)} has no letters, only punctuation")
        return [self.symbols.id_of(c) for c in cleaned] + [self.symbols.eos_id]

    def decode(self, ids: Iterable[Any]) -> str:
        """Ids (ints or a tensor) -> text, without pad and EOS; the inverse of `encode` on clean text."""
        skip = (self.symbols.pad_id, self.symbols.eos_id)
        out = []
        for i in ids:
            index = int(i)
            if not 0 <= index < len(self.symbols):
                raise ValueError(f"id {index} is outside the symbol table (size {len(self.symbols)})")
            if index not in skip:
                out.append(self.symbols.symbols[index])
        return "".join(out)
