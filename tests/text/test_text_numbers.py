"""Numbers, currency, ordinals, years and abbreviations come out as words in the right language."""

from __future__ import annotations

import re

import pytest

from tacotron.config import TextConfig
from tacotron.text import TextFrontend

EN = TextFrontend(TextConfig(language="en"))
RU = TextFrontend(TextConfig(language="ru"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("In 1999 he was 21.", "in nineteen ninety-nine he was twenty-one."),
        ("It cost $5.25!", "it cost five dollars and twenty-five cents!"),
        ("£1 and €3", "one pound and three euros"),
        ("The 2nd and 23rd time", "the second and twenty-third time"),
        ("50% of 1,500 people", "fifty percent of one thousand five hundred people"),
        ("pi is 3.14", "pi is three point one four"),
        ("Mr. Smith met Dr. Jones", "mister smith met doctor jones"),
        ("It was -5 outside", "it was minus five outside"),
        ("2+2", "two plus two"),
        ("At 7:05 and 9:00", "at seven oh five and nine o'clock"),
        ("The 1990s and '80s", "the nineteen nineties and eighties"),
        ("“Hello” — she said…", '"hello" - she said...'),
    ],
)
def test_english_expansion(text, expected):
    assert EN.clean(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("В 2024 году", "в две тысячи двадцать четвёртом году"),
        ("К 2030 году", "к две тысячи тридцатому году"),
        ("в 1999 г.", "в тысяча девятьсот девяносто девятом году"),
        ("Лето 2020 года", "лето две тысячи двадцатого года"),
        ("У меня 21 рубль и 2 копейки", "у меня двадцать один рубль и две копейки"),
        ("Цена 5 руб. 50 коп.", "цена пять рублей пятьдесят копеек"),
        ("Стоит 100 ₽", "стоит сто рублей"),
        ("$3 и €1", "три доллара и один евро"),
        ("Рост 5%", "рост пять процентов"),
        ("Это 2-й раз, 5-го мая, в 90-х", "это второй раз, пятого мая, в девяностых"),
        ("3,5 литра", "три целых пять десятых литра"),
        ("1 000 000 человек", "один миллион человек"),
        ("15 тыс. жителей", "пятнадцать тысяч жителей"),
        ("Ёжики, т.е. ежи, и т.д.", "ёжики, то есть ежи, и так далее"),
        ("Было -3 и 2+2", "было минус три и два плюс два"),
        ("В 10:30 и 7:05", "в десять тридцать и семь ноль пять"),
        ("1 окно, 22 книги, 31 минута", "одно окно, двадцать две книги, тридцать одна минута"),
        ("2й раз, 4я глава", "второй раз, четвёртая глава"),
        ("12.04.1961", "двенадцатое апреля тысяча девятьсот шестьдесят первого года"),
    ],
)
def test_russian_expansion(text, expected):
    assert RU.clean(text) == expected


@pytest.mark.parametrize(
    ("frontend", "text"),
    [
        (EN, "Call 555 0199 at 7 or 10:30, 1st prize $1,000,000"),
        (RU, "В 1812 г. 7 раз, 3-я попытка, 42 ₽, 0,5%"),
    ],
)
def test_no_digits_survive_and_letters_belong_to_the_language(frontend, text):
    cleaned = frontend.clean(text)
    assert not re.search(r"\d", cleaned), cleaned
    assert not frontend.unknown_characters(text)
    letters = {c for c in cleaned if c.isalpha()}
    if frontend is RU:
        assert letters <= set("абвгдеёжзийклмнопрстуфхцчшщъыьэюя"), letters
    else:
        assert letters <= set("abcdefghijklmnopqrstuvwxyz"), letters


def test_number_expansion_can_be_switched_off():
    frontend = TextFrontend(TextConfig(language="en", expand_numbers=False))
    assert frontend.clean("Room 101") == "room 101"
    assert frontend.unknown_characters("Room 101") == {"1": 2, "0": 1}
