"""Number expansion for the phoneme-mode languages other than English and Russian, with num2words.

Deliberately plain, because the conventions differ between languages and a wrong guess is spoken:
a digit run is a cardinal, a minus sign before it (at a word start) is negative, and two digit runs
joined by one "." or "," are a decimal ("3,5" -> "drei Komma fünf"). Thousands separators are
therefore not recognised ("1.000" reads as the decimal one point zero): write thousands without
them, or turn `text.expand_numbers` off and let espeak-ng, which knows each language's separators
and ordinals, read the digits. Digit runs longer than `MAX_NUMBER_DIGITS` are read digit by digit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from tacotron.text.languages import number_language
from tacotron.text.number_limits import MAX_NUMBER_DIGITS

_NUMBER_RE = re.compile(r"((?:(?<=\s)|^)-)?(\d+)(?:[.,](\d+))?")


def num2words_expander(language: str) -> Callable[[str], str]:
    """`text -> text` with digits spelled by num2words in `language`.

    Raises `UnknownLanguageError` now when num2words lacks the language; when num2words is not
    installed here, the language is resolved on first use (the GPU machine never expands text).
    """
    code = number_language(language)

    def expand(text: str) -> str:
        from num2words import num2words

        lang = code or number_language(language)

        def spell(number: Decimal | int) -> str:
            return num2words(number, lang=lang).replace(",", "")  # a comma inside words reads as a pause

        def number(match: re.Match) -> str:
            sign, whole, frac = match.groups()
            if len(whole) > MAX_NUMBER_DIGITS or (frac and len(frac) > MAX_NUMBER_DIGITS):
                return " " + " ".join(spell(int(d)) for d in match.group(0) if d.isdigit()) + " "
            value = Decimal(f"{whole}.{frac}") if frac else int(whole)
            return " " + spell(-value if sign else value) + " "

        return _NUMBER_RE.sub(number, text)

    return expand
