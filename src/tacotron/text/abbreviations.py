"""Abbreviation expansion per language (runs after lowercasing and after number expansion).

Only unambiguous, common abbreviations: a wrong expansion is worse than none, because an
unexpanded abbreviation is still spelled with known letters and the data shows what it sounds like.
English follows the keithito/LJSpeech list ("st." is "saint", as in LJSpeech).
"""

from __future__ import annotations

import re

_EN = {
    "mrs": "misess",
    "mr": "mister",
    "dr": "doctor",
    "st": "saint",
    "co": "company",
    "jr": "junior",
    "maj": "major",
    "gen": "general",
    "drs": "doctors",
    "rev": "reverend",
    "lt": "lieutenant",
    "hon": "honorable",
    "sgt": "sergeant",
    "capt": "captain",
    "esq": "esquire",
    "ltd": "limited",
    "col": "colonel",
    "ft": "fort",
    "prof": "professor",
    "vs": "versus",
    "etc": "et cetera",
}
_EN_DOTTED = {"e.g.": "for example", "i.e.": "that is"}

# Multi-part Russian abbreviations first (and with optional spaces: "т. е." and "т.е.").
_RU_DOTTED = {
    "и т.д.": "и так далее",
    "и т.п.": "и тому подобное",
    "и др.": "и другие",
    "и пр.": "и прочее",
    "т.е.": "то есть",
    "т.к.": "так как",
    "т.н.": "так называемый",
    "т.ч.": "том числе",
    "н.э.": "нашей эры",
    "до н.э.": "до нашей эры",
}
_RU = {
    "др": "другие",
    "г": "город",
    "гг": "годы",
    "ул": "улица",
    "пр-т": "проспект",
    "им": "имени",
    "стр": "страница",
    "проф": "профессор",
    "акад": "академик",
    "руб": "рублей",
    "коп": "копеек",
    "тыс": "тысяч",
    "млн": "миллионов",
    "млрд": "миллиардов",
    "англ": "английский",
    "рус": "русский",
}


def _dotted_pattern(abbrev: str) -> str:
    """'т.е.' -> regex that also accepts 'т. е.' (a space after inner dots)."""
    parts = [re.escape(p) for p in abbrev.split(".") if p]
    body = r"\.\s?".join(parts) + (r"\." if abbrev.endswith(".") else "")
    return rf"(?<![\w]){body}"


def _compile(dotted: dict[str, str], single: dict[str, str], letters: str) -> list[tuple[re.Pattern, str]]:
    rules = [
        (re.compile(_dotted_pattern(k)), v) for k, v in sorted(dotted.items(), key=lambda kv: -len(kv[0]))
    ]
    rules += [(re.compile(rf"(?<![{letters}]){re.escape(k)}\."), v) for k, v in single.items()]
    return rules


_EN_RULES = _compile(_EN_DOTTED, _EN, "a-z")
_RU_RULES = _compile(_RU_DOTTED, _RU, "а-яёa-z")


def _apply(text: str, rules: list[tuple[re.Pattern, str]]) -> str:
    for pattern, replacement in rules:
        text = pattern.sub(replacement, text)
    return text


def expand_abbreviations_en(text: str) -> str:
    """'mr. smith' -> 'mister smith' (expects lowercase text)."""
    return _apply(text, _EN_RULES)


def expand_abbreviations_ru(text: str) -> str:
    """'т.е.' -> 'то есть', 'и т.д.' -> 'и так далее' (expects lowercase text)."""
    return _apply(text, _RU_RULES)
