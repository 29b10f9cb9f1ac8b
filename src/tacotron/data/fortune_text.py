"""Real human-written sentences from the Debian `fortunes` / `fortunes-ru` collections.

Why fortunes: they are the one large body of natural English and Russian text that installs from a
package registry (about 23,000 and 22,000 usable sentences), with real numbers, abbreviations and
punctuation and an open vocabulary, unlike the template sentences of the espeak-ng demo corpus.

A fortune is a block between lines holding `%`. It becomes sentences after dropping attribution
lines (`-- Author`), and fortunes that look like code, tables, dialogue scripts or ASCII art are
skipped whole. A sentence is kept when it reads as prose: mostly letters, no markup characters or
emoticons, no control characters (some files use backspace overstriking), and the text frontend can encode it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

FORTUNE_DIRS = {"en": Path("/usr/share/games/fortunes"), "ru": Path("/usr/share/games/fortunes/ru")}
FORTUNE_PACKAGES = {"en": "fortunes", "ru": "fortunes-ru"}
SKIP_FILES = {"ascii-art"}  # pictures, not text
MIN_CHARS, MAX_CHARS = 12, 190  # LJSpeech's normalised texts run from about 10 to 190 characters
MIN_LETTER_SHARE = 0.72  # letters and digits / non-space characters; prose ~0.85, code and tables far less
_MARKUP = set("<>{}[]_=|\\/@#~^*`+")  # code, markup, e-mail; currency and percent are speakable
_ATTRIBUTION = re.compile(r"^\s*(--|—|–)\s*\S")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'»”)]*\s+(?=[\"'«“(]?[A-ZА-ЯЁ0-9])")
# ":-)", ";)", ":(", ":P": read aloud as "colon hyphen parenthesis", or dropped by the frontend while the
# recording's voice says nothing; either way the judge's reference words no longer match what is heard
_EMOTICON = re.compile(r"(?<![\w:;])[:;]['-]?[()DPp](?!\w)")
_SPEAKER_TAG = re.compile(r"^\s*[A-ZА-ЯЁ][\w. ]{0,20}:\s")  # "Q: ...", "Bob: ..." dialogue lines


class FortunesMissingError(RuntimeError):
    """The fortunes text collection for a language is not installed (the message names the package)."""


@dataclass
class SentenceStats:
    """What happened to the text on its way to sentences (reported, so nothing is dropped silently)."""

    files: int = 0
    fortunes: int = 0
    fortunes_skipped: int = 0
    sentences_seen: int = 0
    kept: int = 0
    duplicates: int = 0
    rejected: Counter = field(default_factory=Counter)  # reason -> count


def decode_fortune_file(raw: bytes) -> str:
    """UTF-8 when the bytes decode as UTF-8, else KOI8-R (older Russian fortune files); per file."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("koi8-r")


def fortune_files(lang: str, root: str | Path | None = None) -> list[Path]:
    """The fortune text files of `lang` (index `.dat` files and `.u8` duplicates skipped), sorted."""
    folder = Path(root) if root is not None else FORTUNE_DIRS[lang]
    files = (
        sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and p.suffix not in (".dat", ".u8") and p.name not in SKIP_FILES
        )
        if folder.is_dir()
        else []
    )
    if not files:
        raise FortunesMissingError(
            f"no fortune files in {folder}: install them with `apt-get install {FORTUNE_PACKAGES[lang]}`"
        )
    return files


def split_fortunes(text: str) -> list[str]:
    """Blocks between lines that hold only `%`."""
    return [block for block in re.split(r"^%\s*$", text, flags=re.MULTILINE) if block.strip()]


def _looks_like_prose(block: str) -> bool:
    lines = [ln for ln in block.splitlines() if ln.strip() and not _ATTRIBUTION.match(ln)]
    if not lines:
        return False
    indented = sum(ln.startswith(("\t", "    ")) for ln in lines)
    dialogue = sum(bool(_SPEAKER_TAG.match(ln)) for ln in lines)
    return indented <= len(lines) // 3 and dialogue == 0


def _is_title(line: str) -> bool:
    """An all-capitals line without final punctuation ("MURPHY'S LAW OF ZOOS"): a heading, not speech."""
    letters = [c for c in line if c.isalpha()]
    return bool(letters) and all(c.isupper() for c in letters) and line[-1] not in ".!?…:;,\"'»”"


def fortune_sentences(block: str) -> list[str]:
    """The sentences of one fortune (attribution lines dropped, lines joined); [] if it is not prose."""
    if not _looks_like_prose(block):
        return []
    lines = [
        ln.strip()
        for ln in block.splitlines()
        if ln.strip() and not _ATTRIBUTION.match(ln) and not _is_title(ln.strip())
    ]
    joined = re.sub(r"\s+", " ", " ".join(lines)).strip()
    return [s.strip() for s in _SENTENCE_END.split(joined) if s.strip()]


def reject_reason(sentence: str, lang: str = "en") -> str:
    """Why `sentence` is not speakable prose in `lang` ("" when it is)."""
    if not MIN_CHARS <= len(sentence) <= MAX_CHARS:
        return "length"
    if any(ord(c) < 32 for c in sentence):
        return "control_characters"
    if any(c in _MARKUP for c in sentence):
        return "markup"
    if _EMOTICON.search(sentence):
        return "emoticon"
    visible = [c for c in sentence if not c.isspace()]
    letters = sum(c.isalpha() for c in visible)
    digits = sum(c.isdigit() for c in visible)  # numbers are speakable: the frontend expands them
    if letters + digits < MIN_LETTER_SHARE * len(visible) or letters < digits:
        return "few_letters"
    if len(sentence.split()) < 3:
        return "few_words"
    if lang == "ru" and re.search(r"[A-Za-z]", sentence):
        return "latin_in_russian"  # the Russian voice cannot read English words
    if sentence.startswith("(") and sentence.endswith(")"):
        return "attribution"  # "(By Vance Petree, Virginia Power)"
    if sentence[-1] not in ".!?…\"'»”)":
        return "unfinished"
    return ""


def fortune_blocks(lang: str, root: str | Path | None = None) -> Iterator[tuple[str, int, str]]:
    """(file name, fortune index, fortune text) for every fortune of `lang`, in a fixed order."""
    for path in fortune_files(lang, root):
        for index, block in enumerate(split_fortunes(decode_fortune_file(path.read_bytes()))):
            yield path.name, index, block
