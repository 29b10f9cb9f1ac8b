"""Deterministic sentence generators for the espeak-ng demo corpus (English and Russian).

Why generated and not a fixed list: tests and benchmarks need corpora of any size, reproducible
from a seed, with the variety a real corpus has (questions, exclamations, numbers, lists, clauses
of different lengths). Why a hash partition for held-out sentences: a sentence is "held out" iff a
stable hash of its text falls in a fixed bucket, so held-out sentences are disjoint from every
corpus for every seed and size, without either side having to know the other's parameters.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable

from num2words import num2words

HELDOUT_BUCKETS = 16  # one hash bucket in 16 is reserved for held-out sentences
MIN_CHARS = 25  # ~2 s of espeak-ng speech at 150 words per minute
MAX_CHARS = 170  # ~12 s

EN = {
    "name": [
        "Alice",
        "Bob",
        "Clara",
        "David",
        "Emma",
        "Frank",
        "Grace",
        "Henry",
        "Iris",
        "Jack",
        "Laura",
        "Martin",
        "Nora",
        "Oliver",
        "Paula",
        "Sam",
    ],
    "adj": [
        "old",
        "small",
        "bright",
        "quiet",
        "heavy",
        "golden",
        "narrow",
        "warm",
        "gentle",
        "broken",
        "curious",
        "silver",
        "distant",
        "busy",
    ],
    "noun": [
        "house",
        "river",
        "garden",
        "letter",
        "window",
        "train",
        "bridge",
        "lamp",
        "violin",
        "market",
        "engine",
        "forest",
        "ship",
        "clock",
    ],
    "plural": [
        "apples",
        "books",
        "chairs",
        "candles",
        "stones",
        "tickets",
        "bottles",
        "pencils",
        "flowers",
        "boxes",
        "coins",
        "maps",
    ],
    "past": [
        "painted",
        "found",
        "carried",
        "opened",
        "cleaned",
        "followed",
        "visited",
        "repaired",
        "watched",
        "described",
    ],
    "base": ["paint", "find", "carry", "open", "clean", "follow", "visit", "repair", "watch", "describe"],
    "place": [
        "near the station",
        "in the kitchen",
        "behind the old church",
        "at the edge of the lake",
        "on the second floor",
        "under the bridge",
        "in the middle of the square",
        "beside the library",
    ],
    "time": ["yesterday", "today", "tonight", "last week", "every morning", "after lunch", "before sunrise"],
    "month": ["January", "March", "April", "June", "July", "September", "October", "December"],
}

RU = {
    "name": [
        "Анна",
        "Иван",
        "Пётр",
        "Ольга",
        "Мария",
        "Сергей",
        "Алёна",
        "Фёдор",
        "Наталья",
        "Дмитрий",
        "Елена",
        "Артём",
        "Семён",
        "Юлия",
    ],
    "verb": [
        "читает",
        "видит",
        "покупает",
        "несёт",
        "ищет",
        "рисует",
        "любит",
        "ждёт",
        "чинит",
        "открывает",
        "находит",
        "берёт",
    ],
    "obj": [
        "новую книгу",
        "старый дом",
        "зелёное яблоко",
        "тёплый хлеб",
        "жёлтый зонт",
        "длинное письмо",
        "большую лодку",
        "свежий мёд",
        "чёрную шляпу",
        "маленький ключ",
        "лёгкий шарф",
        "серебряную ложку",
    ],
    "place": [
        "в парке",
        "на берегу реки",
        "в старом городе",
        "у окна",
        "возле школы",
        "в лесу",
        "на вокзале",
        "под берёзой",
        "на рынке",
        "в тёмном подъезде",
    ],
    "time": ["сегодня утром", "каждый вечер", "в субботу", "завтра", "ещё до рассвета", "летом", "зимой"],
    "exclaim": [
        "какой тёплый вечер",
        "какая красивая ёлка",
        "какое синее небо",
        "как здесь тихо",
        "вот это да",
        "всё получилось",
        "пойдём скорее домой",
    ],
    "counter": ["номер", "страница", "квартира", "автобус", "код", "вагон"],
}


def _en_clause(rng: random.Random) -> tuple[str, str]:
    """One English clause and its end mark ('.', '?' or '!')."""
    c = rng.choice
    kind = rng.randrange(7)
    if kind == 0:
        return f"the {c(EN['adj'])} {c(EN['noun'])} was {c(EN['place'])}", "."
    if kind == 1:
        return f"{c(EN['name'])} {c(EN['past'])} the {c(EN['adj'])} {c(EN['noun'])} {c(EN['time'])}", "."
    if kind == 2:
        return f"{c(EN['name'])} bought {rng.randint(2, 99)} {c(EN['plural'])} {c(EN['place'])}", "."
    if kind == 3:
        return f"did {c(EN['name'])} really {c(EN['base'])} the {c(EN['noun'])} {c(EN['time'])}", "?"
    if kind == 4:
        return f"what a {c(EN['adj'])} {c(EN['noun'])} that was", "!"
    if kind == 5:
        date = f"{c(EN['month'])} {rng.randint(1, 28)}, {rng.randint(1900, 2030)}"
        return f"on {date}, {c(EN['name'])} {c(EN['past'])} the {c(EN['noun'])}", "."
    items = rng.sample(EN["plural"], 3)
    return f"we need {items[0]}, {items[1]} and {items[2]} for room {rng.randint(1, 500)}", "."


def _ru_clause(rng: random.Random) -> tuple[str, str]:
    """One Russian clause and its end mark (present tense, so no gender agreement is needed)."""
    c = rng.choice
    kind = rng.randrange(6)
    if kind == 0:
        return f"{c(RU['name'])} {c(RU['verb'])} {c(RU['obj'])} {c(RU['place'])}", "."
    if kind == 1:
        return f"{c(RU['time'])} {c(RU['name'])} {c(RU['verb'])} {c(RU['obj'])}", "."
    if kind == 2:
        return f"почему {c(RU['name'])} {c(RU['verb'])} {c(RU['obj'])} {c(RU['place'])}", "?"
    if kind == 3:
        return c(RU["exclaim"]), "!"
    if kind == 4:
        return f"{c(RU['name'])} ждёт, {c(RU['counter'])} {rng.randint(2, 999)}, {c(RU['time'])}", "."
    return f"что {c(RU['name'])} {c(RU['verb'])} {c(RU['place'])} {c(RU['time'])}", "?"


CLAUSES: dict[str, Callable[[random.Random], tuple[str, str]]] = {"en": _en_clause, "ru": _ru_clause}
JOINERS = {"en": [", and ", "; ", ", but ", ". "], "ru": [", а ", "; ", ", но ", ". "]}


def _capitalize_sentences(text: str) -> str:
    """Upper-case the first letter of the text and of every clause after '. ', '? ' or '! '."""
    chars = list(text)
    start = True
    for i, ch in enumerate(chars):
        if start and ch.isalpha():
            chars[i] = ch.upper()
            start = False
        elif ch in ".?!":
            start = True
    return "".join(chars)


def make_sentence(lang: str, rng: random.Random) -> str:
    """One sentence of 1-3 clauses, MIN_CHARS..MAX_CHARS long (retried until it fits)."""
    if lang not in CLAUSES:
        raise ValueError(f"demo corpus language must be one of {sorted(CLAUSES)}, got {lang!r}")
    while True:
        parts = []
        for i in range(rng.choice([1, 1, 2, 2, 3])):
            clause, mark = CLAUSES[lang](rng)
            if i > 0:
                parts.append(rng.choice(JOINERS[lang]) if parts[-1] == "." else " ")
            parts.append(clause)
            parts.append(mark)
        text = _join(parts)
        if MIN_CHARS <= len(text) <= MAX_CHARS:
            return _capitalize_sentences(text)


def _join(parts: list[str]) -> str:
    """Assemble clause, mark, joiner, ... dropping a '.' mark that a joiner replaces."""
    out = ""
    for i, part in enumerate(parts):
        nxt = parts[i + 1] if i + 1 < len(parts) else None
        if part == "." and nxt is not None and nxt != " ":
            continue  # the joiner (", and ", "; ", ". ") takes the place of the full stop
        out += part
    return out


def is_heldout(sentence: str) -> bool:
    """True iff `sentence` belongs to the held-out partition (stable across runs and Python versions)."""
    digest = hashlib.sha1(sentence.encode("utf-8")).digest()
    return digest[0] % HELDOUT_BUCKETS == 0


def generate(lang: str, n: int, seed: int, heldout: bool) -> list[str]:
    """`n` distinct sentences from the corpus partition (heldout=False) or the held-out one."""
    rng = random.Random(f"{lang}:{seed}:{'heldout' if heldout else 'corpus'}")
    seen: set[str] = set()
    out: list[str] = []
    attempts = 0
    while len(out) < n:
        attempts += 1
        if attempts > 200 * n + 10_000:
            raise RuntimeError(f"could not generate {n} distinct {lang} sentences (got {len(out)})")
        sentence = make_sentence(lang, rng)
        if sentence in seen or is_heldout(sentence) != heldout:
            continue
        seen.add(sentence)
        out.append(sentence)
    return out


def normalize_numbers(text: str, lang: str) -> str:
    """LJSpeech's third column: digits spelled out (years read as years in English)."""

    def spell(match: re.Match[str]) -> str:
        value = int(match.group(0))
        if lang == "en" and 1100 <= value <= 2099:
            return num2words(value, lang="en", to="year")
        return num2words(value, lang=lang)

    return re.sub(r"\d+", spell, text)
