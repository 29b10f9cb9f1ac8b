"""Language-independent cleaners: pure `str -> str` functions, one job each.

A cleaner that strips what it does not know (NFKD + "strip non-ASCII") deletes every Cyrillic
letter and turns й into и, and attention can then never align. So every step keeps letters it does
not understand, and `TextFrontend` can report them instead of losing them: a cleaner may rewrite a
character into a known spelling, never drop it.
"""

from __future__ import annotations

import re
import unicodedata

_COMBINING_ACUTE = "\u0301"
_RU_VOWELS = "аеёиоуыэюяАЕЁИОУЫЭЮЯ"
_ACUTE_STRESS_RE = re.compile(f"([{_RU_VOWELS}]){_COMBINING_ACUTE}")

# Typographic punctuation -> the ASCII forms kept in the symbol tables.
_PUNCTUATION_MAP = {
    "\u201c": '"',  # “
    "\u201d": '"',  # ”
    "\u201e": '"',  # „
    "\u201f": '"',
    "\u00ab": '"',  # «
    "\u00bb": '"',  # »
    "\u2039": "'",  # ‹
    "\u203a": "'",  # ›
    "\u2018": "'",  # ‘
    "\u2019": "'",  # ’ (also the typographic apostrophe: don’t)
    "\u201a": "'",  # ‚
    "\u02bc": "'",  # ʼ
    "`": "'",
    "\u00b4": "'",  # ´
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2015": "-",  # horizontal bar
    "\u2212": "-",  # minus sign
    "\u2026": "...",  # ellipsis
    "[": "(",
    "]": ")",
    "{": "(",
    "}": ")",
}
_PUNCTUATION_RE = re.compile("|".join(re.escape(k) for k in _PUNCTUATION_MAP))
_WHITESPACE_RE = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT_RE = re.compile(r" +([!,.:;?])")
# Latin ligatures and letters that have no decomposition but a standard ASCII spelling.
_LATIN_SPECIAL = {
    "ß": "ss",
    "æ": "ae",
    "Æ": "AE",
    "œ": "oe",
    "Œ": "OE",
    "ø": "o",
    "Ø": "O",
    "ł": "l",
    "Ł": "L",
}


def normalize_unicode(text: str) -> str:
    """NFC: composes и + U+0306 into й and е + U+0308 into ё (text pasted from PDFs is often NFD).

    NFC, not NFKD: decomposing and then stripping marks turns й into и.
    """
    return unicodedata.normalize("NFC", text)


def acute_to_stress_mark(text: str) -> str:
    """Russian stress written as a combining acute (молоко́) -> the '+' convention (молок+о)."""
    return _ACUTE_STRESS_RE.sub(r"+\1", text)


def fold_latin_diacritics(text: str) -> str:
    """café -> cafe, naïve -> naive: only Latin letters whose base letter is ASCII are folded.

    Cyrillic (й, ё) is untouched: their NFD base is Cyrillic, so they never match.
    """
    out = []
    for char in text:
        if char in _LATIN_SPECIAL:
            out.append(_LATIN_SPECIAL[char])
            continue
        if char.isascii() or not char.isalpha():
            out.append(char)
            continue
        decomposed = unicodedata.normalize("NFD", char)
        base, marks = decomposed[0], decomposed[1:]
        if base.isascii() and base.isalpha() and all(unicodedata.combining(m) for m in marks):
            out.append(base)
        else:
            out.append(char)
    return "".join(out)


def lowercase(text: str) -> str:
    return text.lower()


def normalize_punctuation(text: str) -> str:
    """Typographic quotes, dashes, ellipsis and brackets -> the ASCII forms in the symbol tables."""
    return _PUNCTUATION_RE.sub(lambda m: _PUNCTUATION_MAP[m.group(0)], text)


def collapse_whitespace(text: str) -> str:
    """Any run of whitespace (tabs, newlines, NBSP) -> one space; no space before , . ! ? : ;."""
    text = _WHITESPACE_RE.sub(" ", text).strip()
    return _SPACE_BEFORE_PUNCT_RE.sub(r"\1", text)


def strip_stress_marks(text: str) -> str:
    return text.replace("+", "")
