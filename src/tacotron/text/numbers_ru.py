"""Russian number expansion with num2words (which knows Russian cases and genders).

Russian numerals agree with what follows them, so context decides the form:
- "2-й", "5-го", "90-х" (ordinal suffixes) -> the ordinal in the case and gender the suffix shows;
- a number followed by a form of "год" ("в 2024 году") -> the ordinal in that noun's case
  ("в две тысячи двадцать четвёртом году"); "г." after a year is expanded to the matching form;
- currency ("5 руб.", "5 ₽", "$5", "€5"), percent and "тыс./млн/млрд" -> cardinal + noun with
  correct plural ("один рубль", "две копейки", "пять процентов");
- decimals with comma or point -> "три целых пять десятых".
Everything else becomes a nominative cardinal: correct in isolation, though not always in context
(full agreement would need a parser).
"""

from __future__ import annotations

import re

from tacotron.text.number_limits import read_digits, spell_long_numbers, too_long


def num2words(number, **kwargs) -> str:
    """num2words imported on first use: the GPU machine reads datasets without it installed."""
    from num2words import num2words as convert

    return convert(number, **kwargs)


_GROUPED = "\u2009"  # thin space: a thousands separator, private to this module
_INT = r"\d+(?:\u2009\d{3})*"
_NUM = _INT + r"(?:[.,]\d+)?"

# noun forms: (one, few, many, gender of the noun); few = 2-4, many = 5-20 and 0
_RUBLE = ("рубль", "рубля", "рублей", "m")
_KOPEK = ("копейка", "копейки", "копеек", "f")
_CURRENCIES = {
    "₽": (_RUBLE, _KOPEK),
    "руб": (_RUBLE, _KOPEK),
    "р": (_RUBLE, _KOPEK),
    "$": (("доллар", "доллара", "долларов", "m"), ("цент", "цента", "центов", "m")),
    "€": (("евро", "евро", "евро", "m"), ("цент", "цента", "центов", "m")),
    "£": (("фунт", "фунта", "фунтов", "m"), ("пенс", "пенса", "пенсов", "m")),
}
_PERCENT = ("процент", "процента", "процентов", "m")
_SCALES = {
    "тыс": ("тысяча", "тысячи", "тысяч", "f"),
    "млн": ("миллион", "миллиона", "миллионов", "m"),
    "млрд": ("миллиард", "миллиарда", "миллиардов", "m"),
}
# ordinal suffix -> num2words keyword arguments
_ORDINAL_SUFFIXES = {
    ("й", "ый", "ий", "ой"): {"case": "n", "gender": "m"},
    ("я", "ая", "яя"): {"case": "n", "gender": "f"},
    ("е", "ое", "ее"): {"case": "n", "gender": "n"},
    ("ые", "ие"): {"case": "n", "plural": True},
    ("го", "ого", "его"): {"case": "g", "gender": "m"},
    ("му", "ому", "ему"): {"case": "d", "gender": "m"},
    ("м", "ом", "ем"): {"case": "p", "gender": "m"},
    ("ым", "им"): {"case": "i", "gender": "m"},
    ("ю", "ую", "юю"): {"case": "a", "gender": "f"},
    ("х", "ых", "их"): {"case": "g", "plural": True},
}
_SUFFIX_ARGS = {suffix: args for group, args in _ORDINAL_SUFFIXES.items() for suffix in group}
# "год" forms -> case of the ordinal before it; prepositions pick dative vs prepositional for "году"
_YEAR_NOUN_CASES = {"год": "n", "года": "g", "году": "p", "годом": "i", "годах": "p", "годы": "n"}
_DATIVE_PREPOSITIONS = {"к", "ко", "по"}

_SPACED_THOUSANDS_RE = re.compile(r"(?<![\d,.])(\d{1,3}(?:[ \u00a0\u202f]\d{3})+)(?![\d])")
_ARITHMETIC_RE = re.compile(r"(\d)\s*\+\s*(\d)")
_PREFIX_CURRENCY_RE = re.compile(rf"([$€£₽])\s?({_NUM})")
_SUFFIX_CURRENCY_RE = re.compile(
    rf"({_NUM})\s?(₽|\$|€|£|руб(?:\.|(?![а-яё]))|р\.(?=\s|$))(?:\s?({_INT})\s?коп\.?)?"
)
_PERCENT_RE = re.compile(rf"({_NUM})\s?%")
_SCALE_RE = re.compile(rf"({_NUM})\s?(тыс|млн|млрд)\.?(?![а-яё])")
_YEAR_ABBREV_RE = re.compile(rf"(?:(\b[а-яё]+)\s)?({_INT})\s?г\.")
_YEAR_RE = re.compile(rf"(?:(\b[а-яё]+)\s)?({_INT})\s(год|года|году|годом|годах|годы)\b")
_ORDINAL_RE = re.compile(rf"({_INT})-({'|'.join(sorted(_SUFFIX_ARGS, key=len, reverse=True))})\b")
# Without the hyphen ("2й", "3го") only suffixes that cannot be a unit ("5м" may be metres).
_BARE_SUFFIXES = [s for s in _SUFFIX_ARGS if s not in ("м", "х")]
_BARE_ORDINAL_RE = re.compile(rf"({_INT})({'|'.join(sorted(_BARE_SUFFIXES, key=len, reverse=True))})\b")
_CARDINAL_GENITIVE_RE = re.compile(rf"({_INT})-(ти|и|ми|ух|ех|ёх)\b")
_DATE_RE = re.compile(r"\b(0?[1-9]|[12]\d|3[01])\.(0?[1-9]|1[0-2])\.(\d{4})\b")
_MONTHS_GENITIVE = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
]
_TIME_RE = re.compile(r"\b([01]?\d|2[0-3]):([0-5]\d)\b")
_SIGNED_RE = re.compile(r"(?:(?<=\s)|^)-(\d)")
_DECIMAL_RE = re.compile(rf"({_INT})[.,](\d+)")
_NUMBER_RE = re.compile(_INT)
# Counted nouns whose gender changes "один/два" into "одна/две" or "одно" (stems of common words).
_FEMININE_NOUN_RE = re.compile(
    rf"({_INT})(?=\s(?:копе|тысяч|минут|секунд|недел|книг|страниц|штук|женщин|девоч|девуш|комнат|"
    rf"квартир|ноч|строк|букв|част|глав|школ|машин|кошк|голов|рук|ног|песн|задач|сестр|дочер))"
)
_NEUTER_NOUN_RE = re.compile(rf"({_INT})(?=\s(?:окн|слов|мест|врем|яйц|яблок|письм|окон|колес|дерев))")


def _int(text: str) -> int:
    return int(text.replace(_GROUPED, ""))


def _plural(number: int, forms: tuple[str, str, str, str]) -> str:
    """Russian plural form for a count: 1 рубль, 2 рубля, 5 рублей, 11 рублей, 21 рубль."""
    if number % 10 == 1 and number % 100 != 11:
        return forms[0]
    if number % 10 in (2, 3, 4) and number % 100 not in (12, 13, 14):
        return forms[1]
    return forms[2]


def _cardinal(number: int, gender: str = "m", case: str = "n") -> str:
    if too_long(number):  # num2words raises KeyError from 36 digits; read long numbers digit by digit
        return read_digits(str(number), "ru")
    return num2words(number, lang="ru", gender=gender, case=case)


def _decimal_words(text: str) -> str:
    whole, frac = re.split(r"[.,]", text.replace(_GROUPED, ""))
    if not int(frac):
        return _cardinal(int(whole))
    if too_long(whole) or len(frac) > 6 or frac.startswith("00"):  # beyond millionths: digit by digit
        return f"{_cardinal(int(whole))} запятая {read_digits(frac, 'ru')}"
    return num2words(float(f"{whole}.{frac}"), lang="ru")


def _counted(number_text: str, forms: tuple[str, str, str, str]) -> str:
    """A number and its noun: "21 рубль", "2 копейки", fractions take the genitive singular."""
    if re.search(r"[.,]\d", number_text):
        return f"{_decimal_words(number_text)} {forms[1]}"
    number = _int(number_text)
    return f"{_cardinal(number, gender=forms[3])} {_plural(number, forms)}"


def _money(amount: str, unit: str, sub_amount: str | None = None) -> str:
    """ "5,50 руб." -> "пять рублей пятьдесят копеек"; "$1" -> "один доллар"."""
    main, sub = _CURRENCIES[unit.rstrip(".")]
    whole, _, frac = amount.replace(_GROUPED, "").replace(",", ".").partition(".")
    cents = int((frac + "00")[:2]) if frac else (_int(sub_amount) if sub_amount else 0)
    words = _counted(whole, main)
    return f"{words} {_counted(str(cents), sub)}" if cents else words


def _ordinal_from_suffix(match: re.Match) -> str:
    number, suffix = _int(match.group(1)), match.group(2)
    args = _SUFFIX_ARGS[suffix]
    if suffix in ("х", "ых", "их") and not (number >= 10 and number % 10 == 0):
        return _cardinal(number, case="g")  # "2-х" = двух; only decades are ordinal: "90-х" = девяностых
    return num2words(number, lang="ru", to="ordinal", **args)


def _year_case(preposition: str | None, noun: str) -> str:
    case = _YEAR_NOUN_CASES[noun]
    if noun == "году" and preposition in _DATIVE_PREPOSITIONS:
        return "d"
    return case


def _year(match: re.Match) -> str:
    """ "в 2024 году" -> "в две тысячи двадцать четвёртом году"."""
    preposition, number, noun = match.group(1), _int(match.group(2)), match.group(3)
    plural = noun in ("годах", "годы")
    words = num2words(number, lang="ru", to="ordinal", case=_year_case(preposition, noun), plural=plural)
    return f"{preposition + ' ' if preposition else ''}{words} {noun}"


def _year_abbreviation(match: re.Match) -> str:
    """ "в 1999 г." -> "в 1999 году", "1999 г." -> "1999 год" (then expanded by `_year`)."""
    preposition = match.group(1)
    if preposition in ("в", "во"):
        noun = "году"
    elif preposition in ("с", "до", "от", "из", "после", "около"):
        noun = "года"
    else:
        noun = "году" if preposition in _DATIVE_PREPOSITIONS else "год"
    return f"{preposition + ' ' if preposition else ''}{match.group(2)} {noun}"


def _date(match: re.Match) -> str:
    """ "12.04.1961" -> "двенадцатое апреля тысяча девятьсот шестьдесят первого года"."""
    day = num2words(int(match.group(1)), lang="ru", to="ordinal", gender="n")
    year = num2words(int(match.group(3)), lang="ru", to="ordinal", case="g")
    return f"{day} {_MONTHS_GENITIVE[int(match.group(2)) - 1]} {year} года"


def _time(match: re.Match) -> str:
    """ "10:30" -> "десять тридцать", "7:05" -> "семь ноль пять", "9:00" -> "девять ноль ноль"."""
    hours, minutes = match.group(1), match.group(2)
    minute_words = (
        " ".join(_cardinal(int(d)) for d in minutes) if minutes[0] == "0" else _cardinal(int(minutes))
    )
    return f"{_cardinal(int(hours))} {minute_words}"


def _join_spaced_thousands(text: str) -> str:
    """ "1 000 000" (space, NBSP or narrow NBSP between groups) -> one number."""
    return _SPACED_THOUSANDS_RE.sub(lambda m: re.sub(r"[ \u00a0\u202f]", _GROUPED, m.group(1)), text)


def expand_numbers_ru(text: str) -> str:
    """Digits -> Russian words (num2words), in the case and gender the context shows where it can.

    Digit runs longer than `MAX_NUMBER_DIGITS` are read digit by digit before anything else.
    """
    text = spell_long_numbers(text, "ru")
    text = _ARITHMETIC_RE.sub(r"\1 плюс \2", text)
    text = _join_spaced_thousands(text)
    text = _PREFIX_CURRENCY_RE.sub(lambda m: _money(m.group(2), m.group(1)), text)
    text = _SUFFIX_CURRENCY_RE.sub(lambda m: _money(m.group(1), m.group(2), m.group(3)), text)
    text = _PERCENT_RE.sub(lambda m: _counted(m.group(1), _PERCENT), text)
    text = _SCALE_RE.sub(lambda m: _counted(m.group(1), _SCALES[m.group(2)]), text)
    text = _DATE_RE.sub(_date, text)
    text = _YEAR_ABBREV_RE.sub(_year_abbreviation, text)
    text = _YEAR_RE.sub(_year, text)
    text = _TIME_RE.sub(_time, text)
    text = _ORDINAL_RE.sub(_ordinal_from_suffix, text)
    text = _BARE_ORDINAL_RE.sub(_ordinal_from_suffix, text)
    text = _CARDINAL_GENITIVE_RE.sub(lambda m: _cardinal(_int(m.group(1)), case="g"), text)
    text = _SIGNED_RE.sub(r"минус \1", text)
    text = _DECIMAL_RE.sub(lambda m: _decimal_words(m.group(0)), text)
    text = _FEMININE_NOUN_RE.sub(lambda m: _cardinal(_int(m.group(1)), gender="f"), text)
    text = _NEUTER_NOUN_RE.sub(lambda m: _cardinal(_int(m.group(1)), gender="n"), text)
    return _NUMBER_RE.sub(lambda m: _cardinal(_int(m.group(0))), text)
