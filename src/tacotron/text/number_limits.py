"""Bounds on number expansion, shared by the English and Russian expanders and `TextFrontend`.

Why: num2words fails on very long numbers with errors that are not `ValueError` (`OverflowError` in
English above ~300 digits, `KeyError` in Russian from 36 digits), and a short text of digits can expand
into minutes of speech. So:
- a digit run longer than `MAX_NUMBER_DIGITS` is read digit by digit ("one two three ..."), as people
  read account numbers and other long digit strings; num2words never sees it;
- the words that numbers add to one text are bounded by `number_budget(text)`; beyond it `TextFrontend`
  raises `NumberExpansionError` (a `ValueError`), which the service turns into a 422 and `synth`,
  `prepare` into one line naming the text;
- any other failure inside an expander is re-raised as `NumberExpansionError`, never as a bare
  `OverflowError` / `KeyError`.
"""

from __future__ import annotations

import re

MAX_NUMBER_DIGITS = 15  # up to 999 trillion as a number; longer digit runs are read digit by digit
NUMBER_EXPANSION_BUDGET = 2000  # characters numbers may add to a text (or twice its length, if more)

DIGIT_NAMES = {
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "ru": ("ноль", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять"),
}
# A digit run too long for num2words, unless it is the fraction of a decimal (read digit by digit anyway).
_LONG_DIGITS_RE = re.compile(rf"(?<![\d.,])\d{{{MAX_NUMBER_DIGITS + 1},}}")


class NumberExpansionError(ValueError):
    """Numbers in a text cannot be read, or would expand beyond the budget; the message names the text."""


def read_digits(digits: str, language: str) -> str:
    """ "2024" -> "two zero two four": every digit as its own word (separators are skipped)."""
    names = DIGIT_NAMES[language]
    return " ".join(names[int(d)] for d in digits if d.isdigit())


def spell_long_numbers(text: str, language: str) -> str:
    """Digit runs longer than `MAX_NUMBER_DIGITS` -> their digits as words (spaces around them)."""
    return _LONG_DIGITS_RE.sub(lambda m: f" {read_digits(m.group(0), language)} ", text)


def too_long(digits: str | int) -> bool:
    """Whether a number (as written, separators allowed) has more than `MAX_NUMBER_DIGITS` digits."""
    return sum(c.isdigit() for c in str(digits)) > MAX_NUMBER_DIGITS


def number_budget(text: str) -> int:
    """How many characters number expansion may add to `text`: about two minutes of speech, or twice the
    text's own length when that is more (a digit read as a word adds ~5 characters, so a long run of
    digits exceeds it, while prose with numbers in it does not)."""
    return max(NUMBER_EXPANSION_BUDGET, 2 * len(text))


def preview(text: str, limit: int = 60) -> str:
    """The start of a (possibly huge) text for an error message."""
    return repr(text if len(text) <= limit else text[:limit] + "...") + (
        f" ({len(text)} characters)" if len(text) > limit else ""
    )
