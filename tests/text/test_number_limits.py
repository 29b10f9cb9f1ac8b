"""Number bombs and nothing-to-say text: every failure is a clear ValueError subclass naming the text.

num2words raised OverflowError (English, ~300+ digits) and KeyError (Russian, 36 digits), which crashed
`synth`/`prepare` and gave HTTP 500. Now long digit runs are read digit by digit, expansion beyond the
budget is a `NumberExpansionError`, and punctuation-only text is an `EmptyTextError`.
"""

from __future__ import annotations

import contextlib
import random

import pytest

from tacotron.config import TextConfig
from tacotron.text import EmptyTextError, NumberExpansionError, TextFrontend
from tacotron.text.number_limits import MAX_NUMBER_DIGITS, NUMBER_EXPANSION_BUDGET

EN = TextFrontend(TextConfig(language="en"))
RU = TextFrontend(TextConfig(language="ru"))


@pytest.mark.parametrize(
    ("frontend", "text"),
    [(EN, "9" * 1000), (EN, "1" * 10_000), (RU, "1" * 10_000), (EN, "$" + "9" * 600), (RU, "7" * 600 + "-й")],
)
def test_number_bombs_are_a_clear_value_error(frontend, text):
    with pytest.raises(NumberExpansionError, match=r"expand to \d+ characters .* limit \d+"):
        frontend.encode(text)
    assert issubclass(NumberExpansionError, ValueError)


@pytest.mark.parametrize(
    ("frontend", "text", "start"),
    [
        (RU, "1" * 36, "один один один"),  # was KeyError in num2words
        (EN, "9" * 320, "nine nine nine"),  # was OverflowError in num2words
        (RU, "Счёт 123456789012345678901234567890123456 рублей", "счёт один два три"),
        (EN, "Call 12345678901234567890 now", "call one two three four"),
        (EN, "1" * (MAX_NUMBER_DIGITS + 1) + "th", "one one"),
        (RU, "3,14159265358", "три запятая один четыре один"),
    ],
)
def test_long_numbers_are_read_digit_by_digit(frontend, text, start):
    cleaned = frontend.clean(text)
    assert cleaned.startswith(start), cleaned
    assert not any(c.isdigit() for c in cleaned)
    frontend.encode(text)


def test_numbers_up_to_the_digit_limit_are_still_read_as_numbers():
    assert EN.clean("1" + "0" * (MAX_NUMBER_DIGITS - 1)) == "one hundred trillion"
    assert RU.clean("1 000 000 человек") == "один миллион человек"


def test_grouped_huge_numbers_and_the_budget():
    assert "one zero zero zero" in EN.clean("1,000,000,000,000,000,000")  # 19 digits, grouped
    text = "In the year 2024, " + "12345 " * 40  # many numbers in a short text: within the budget
    assert len(EN.clean(text)) - len(text) <= NUMBER_EXPANSION_BUDGET


@pytest.mark.parametrize("text", ["!!!", "... ?", "—!?", "(...)", "' \" -"])
@pytest.mark.parametrize("frontend", [EN, RU])
def test_punctuation_only_is_nothing_to_say(frontend, text):
    with pytest.raises(EmptyTextError, match="nothing to say"):
        frontend.encode(text)


def test_random_digit_soup_raises_only_value_errors():
    """Several hundred odd strings of digits and separators: the frontend either encodes them or raises a
    ValueError subclass (never OverflowError, KeyError, IndexError ...)."""
    rng = random.Random(0)
    alphabet = "0123456789" * 4 + ".,:-+%$€£₽ г.й-го "
    for i in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60 if i % 10 else 400)))
        for frontend in (EN, RU):
            with contextlib.suppress(ValueError):
                frontend.encode(text)
