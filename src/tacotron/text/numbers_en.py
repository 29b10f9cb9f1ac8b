"""English number expansion with num2words: currency, percent, decimals, ordinals, years, cardinals.

Order matters: currency and percent first (they own their digits), then decimals, ordinals,
years, and finally plain cardinals. Years follow the LJSpeech / keithito convention: a bare
four-digit number from 1100 to 2099 is read as a year ("nineteen ninety-nine"), a number written
with thousands separators ("1,999") as a cardinal.
"""

from __future__ import annotations

import re

from tacotron.text.number_limits import read_digits, spell_long_numbers, too_long


def num2words(number, **kwargs) -> str:
    """num2words imported on first use: the GPU machine reads datasets without it installed."""
    from num2words import num2words as convert

    return convert(number, **kwargs)


_GROUPED = "\u2009"  # thin space: a thousands separator, private to this module
_CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence")}
_CURRENCY["€"] = ("euro", "euros", "cent", "cents")
_THOUSANDS_RE = re.compile(r"\b\d{1,3}(?:,\d{3})+(?!\d)")
_CURRENCY_RE = re.compile(r"([$£€])\s?(\d+(?:\u2009\d{3})*(?:\.\d+)?)")
_PERCENT_RE = re.compile(r"(\d+(?:\u2009\d{3})*(?:\.\d+)?)\s?%")
_DECIMAL_RE = re.compile(r"(\d+(?:\u2009\d{3})*)\.(\d+)")
_ORDINAL_RE = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_YEAR_RE = re.compile(r"(?<![\d,.\u2009])(1[1-9]\d\d|20\d\d)(?![\d\u2009]|\.\d)")
_DECADE_RE = re.compile(r"(?<![\d\u2009])'?(\d{0,2}\d0)'?s\b")
_TIME_RE = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b")
_SIGNED_RE = re.compile(r"(?:(?<=\s)|^)-(\d)")
_ARITHMETIC_RE = re.compile(r"(\d)\s*\+\s*(\d)")
_NUMBER_RE = re.compile(r"\d+(?:\u2009\d{3})*")


def _words(number: int, **kwargs: str) -> str:
    """num2words without its commas ("one thousand, two hundred"), which would read as pauses.

    Numbers longer than `MAX_NUMBER_DIGITS` are read digit by digit (num2words overflows on long ones).
    """
    if too_long(number):
        return read_digits(str(number), "en")
    return num2words(number, lang="en", **kwargs).replace(",", "")


def _cardinal(number: int | str) -> str:
    digits = str(number).replace(_GROUPED, "")
    return read_digits(digits, "en") if too_long(digits) else _words(int(digits))


def _currency(match: re.Match) -> str:
    one, many, sub_one, sub_many = _CURRENCY[match.group(1)]
    whole, _, frac = match.group(2).replace(_GROUPED, "").partition(".")
    units = int(whole)
    cents = int((frac + "00")[:2]) if frac else 0
    parts = []
    if units or not cents:
        parts.append(f"{_cardinal(units)} {one if units == 1 else many}")
    if cents:
        parts.append(f"{_cardinal(cents)} {sub_one if cents == 1 else sub_many}")
    return " and ".join(parts)


def _decimal(match: re.Match) -> str:
    digits = " ".join(_cardinal(d) for d in match.group(2))
    return f"{_cardinal(match.group(1))} point {digits}"


def _ordinal(match: re.Match) -> str:
    return _words(int(match.group(1)), to="ordinal")


def _decade(match: re.Match) -> str:
    """ "1990s" -> "nineteen nineties", "'80s" -> "eighties", "1800s" -> "eighteen hundreds"."""
    digits = match.group(1)
    words = _year_or_cardinal(int(digits)) if len(digits) == 4 else _cardinal(digits)
    head, _, last = words.rpartition(" ")
    plural = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return f"{head} {plural}".strip()


def _year_or_cardinal(number: int) -> str:
    return _words(number, to="year") if 1100 <= number <= 2099 else _cardinal(number)


def _time(match: re.Match) -> str:
    """ "10:30" -> "ten thirty", "7:05" -> "seven oh five", "9:00" -> "nine o'clock"."""
    hours, minutes = _cardinal(match.group(1)), int(match.group(2))
    if minutes == 0:
        return f"{hours} o'clock"
    return f"{hours} {'oh ' if minutes < 10 else ''}{_cardinal(minutes)}"


def _year(match: re.Match) -> str:
    return _year_or_cardinal(int(match.group(1)))


def expand_numbers_en(text: str) -> str:
    """'$5.25 in 1999, 3.5% of 1,000 for the 2nd time' -> words (num2words, English).

    Digit runs longer than `MAX_NUMBER_DIGITS` are read digit by digit before anything else.
    """
    text = spell_long_numbers(text, "en")
    text = _ARITHMETIC_RE.sub(r"\1 plus \2", text)
    # "1,999" loses its separators but is marked so the year rule leaves it a cardinal.
    text = _THOUSANDS_RE.sub(lambda m: m.group(0).replace(",", _GROUPED), text)
    text = _CURRENCY_RE.sub(_currency, text)
    text = _PERCENT_RE.sub(lambda m: f"{m.group(1)} percent", text)
    text = _SIGNED_RE.sub(r"minus \1", text)
    text = _DECIMAL_RE.sub(_decimal, text)
    text = _DECADE_RE.sub(_decade, text)
    text = _TIME_RE.sub(_time, text)
    text = _ORDINAL_RE.sub(_ordinal, text)
    text = _YEAR_RE.sub(_year, text)
    return _NUMBER_RE.sub(lambda m: _cardinal(m.group(0)), text)
