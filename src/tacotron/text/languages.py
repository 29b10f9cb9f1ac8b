"""Which `text.language` codes the frontend can read, and through which tools.

Letters mode has hand-made tables and expanders for `LETTER_LANGUAGES` (English, Russian) only.
Phoneme mode reads any espeak-ng voice code (`espeak-ng --voices`: about a hundred languages), because
espeak-ng both spells and pronounces the text; the symbol table is a broad IPA inventory
(`symbols.build_symbol_table`), so a new language needs no new table.

Numbers in the other languages are expanded by num2words in that language. Where num2words has no
such language, `number_language` raises at frontend construction instead of guessing: the user
chooses `text.expand_numbers: false`, which hands the digits to espeak-ng's own number rules (every
espeak-ng voice has them) — a visible choice, not a silent fallback.

The tools are asked only when they are installed: the GPU machine trains on prepared ids and has
neither espeak-ng nor num2words, and needs neither.
"""

from __future__ import annotations

import difflib
import importlib.util
import shutil
import subprocess
from functools import cache

from tacotron.config import LETTER_LANGUAGES, ConfigError

# Codes whose espeak-ng voice has another name: English is read as US English (the LJSpeech accent),
# French as France's French (espeak-ng lists only fr-fr, fr-be and fr-ch).
ESPEAK_ALIASES = {"en": "en-us", "fr": "fr-fr"}
# espeak-ng voice -> num2words language, where the two spell it differently (others are tried as they are).
NUM2WORDS_CODES = {
    "en-us": "en",
    "en-gb": "en",
    "en-029": "en",
    "en-gb-scotland": "en",
    "en-gb-x-rp": "en",
    "fr-fr": "fr",
    "fr-be": "fr_BE",
    "fr-ch": "fr_CH",
    "pt-br": "pt_BR",
    "es-419": "es",
    "nb": "no",
    "kk": "kz",
    "ru-lv": "ru",
}


class UnknownLanguageError(ConfigError):
    """`text.language` names no espeak-ng voice, or no letters table; the message lists what would fit."""


@cache
def espeak_voices() -> tuple[str, ...]:
    """The language codes of the installed espeak-ng (second column of `espeak-ng --voices`)."""
    result = subprocess.run(["espeak-ng", "--voices"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"espeak-ng --voices failed (exit {result.returncode}): {result.stderr.strip()}")
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    return tuple(sorted({row[1] for row in rows if len(row) > 1}))


def espeak_voice(language: str) -> str:
    """The espeak-ng voice that reads `language` (aliases resolved); the code itself when espeak-ng
    is not installed here, so the check waits for the machine that phonemises."""
    voice = ESPEAK_ALIASES.get(language, language)
    if shutil.which("espeak-ng") is None:
        return voice
    voices = espeak_voices()
    if voice in voices:
        return voice
    close = difflib.get_close_matches(language, [*voices, *ESPEAK_ALIASES], n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise UnknownLanguageError(
        f"text.language {language!r} is not an espeak-ng voice{hint} (`espeak-ng --voices` lists all {len(voices)})"
    )


def check_language(language: str, phonemes: bool) -> None:
    """Raise `UnknownLanguageError` unless `language` can be read in this mode (see the module doc)."""
    if phonemes:
        espeak_voice(language)
    elif language not in LETTER_LANGUAGES:
        raise UnknownLanguageError(
            f"text.language {language!r} has no letters table (letters mode: {', '.join(LETTER_LANGUAGES)}); "
            "set text.phonemes: true to read it through espeak-ng"
        )


def number_language(language: str) -> str | None:
    """num2words' code for `language`, or None when num2words is not installed here (checked on first use).

    Raises `UnknownLanguageError` when num2words cannot spell numbers in that language.
    """
    if importlib.util.find_spec("num2words") is None:
        return None
    from num2words import CONVERTER_CLASSES

    voice = ESPEAK_ALIASES.get(language, language)
    code = NUM2WORDS_CODES.get(voice, voice)
    if code in CONVERTER_CLASSES:
        return code
    raise UnknownLanguageError(
        f"num2words cannot spell numbers in {language!r}; set text.expand_numbers: false to let espeak-ng "
        "read the digits itself"
    )
