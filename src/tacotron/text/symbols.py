"""Symbol tables: the fixed mapping between cleaned text (or IPA) and embedding ids.

A table is fully determined by (language, phonemes), so a checkpoint or dataset folder stores
`SymbolTable.to_dict()` and the loader checks it against the table rebuilt from `TextConfig`:
if they differ, ids would silently mean other characters, and attention trained on one table
cannot align text encoded with another.

Layout (ids are positions): pad "_" = 0, EOS "~" = 1, space, punctuation, then letters or IPA.

Choices, documented here because they are visible in every checkpoint:
- Russian keeps the full Cyrillic alphabet а-я plus ё natively (never transliterated: ё and е
  are different sounds, and й is not и), the stress mark "+" (written before the stressed vowel,
  "молок+о", the convention of silero-stress and most Russian TTS corpora), and also Latin a-z,
  because Russian text routinely contains Latin words and brand names; transliterating them would
  guess a pronunciation, while keeping them lets the model learn (or the data show) what to do.
- Phoneme tables hold the characters espeak-ng's IPA output uses for English and Russian
  (one symbol per Unicode character, like piper), plus the same punctuation.
- Phoneme tables for every other espeak-ng language are one broad inventory, `IPA` first (so shared
  phonemes keep their ids across languages) then whole Unicode blocks rather than a hand-picked list
  (a list made from a few sample sentences would miss a phoneme the next corpus has): Latin letters,
  IPA Extensions, Spacing Modifier Letters (stress, length, tone letters, ʰ ʲ ʷ), Combining Diacritical
  Marks, Greek lowercase (espeak-ng writes β θ χ ε), Phonetic Extensions (ᵻ ᵐ ᵝ), ⁿ, the digits
  (espeak-ng writes Mandarin, Cantonese, Vietnamese and Hakka tones as digits) and Spanish ¡ ¿.
  What espeak-ng writes outside it (a few voices leak internal codes such as "#" or capitals) is
  reported as unknown by the frontend, never dropped. The English and Russian tables stay as they
  are: trained checkpoints store them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tacotron.config import LETTER_LANGUAGES

PAD = "_"
EOS = "~"
SPACE = " "
# Kept after cleaning; typographic variants are normalised to these by `cleaners.normalize_punctuation`.
PUNCTUATION = list("!'(),.:;?-\"")
STRESS = "+"
LATIN = [chr(c) for c in range(ord("a"), ord("z") + 1)]
# а-я is contiguous in Unicode (U+0430..U+044F); ё (U+0451) sits outside that range.
CYRILLIC = [chr(c) for c in range(ord("а"), ord("я") + 1)] + ["ё"]

# espeak-ng IPA characters for en-us and ru (stress, length, tie and palatalisation marks included).
IPA = list("aæɐɑɒbβcçdðeəɘɚɛɜɝfɡɣhɦiɨɪjʝklɫɬʎmɱnŋɲɳoɵøɔœɶpɸrɾɹɻʀʁsʂʃtʈθuʉʊvʋʌwʍxχyʏzʐʒʔʕɕʑɭɟɖɽɯɤˈˌːˑʲʰʷ̩̯̃͡ᵻ")


def _block(first: int, last: int) -> list[str]:
    return [chr(c) for c in range(first, last + 1)]


_LATIN1_LOWER = [c for c in _block(0xDF, 0xFF) if c != "÷"]
BROAD_IPA = [
    *LATIN,
    *_LATIN1_LOWER,
    "ħ",
    "ŋ",
    "œ",
    *_block(0x250, 0x2AF),  # IPA Extensions
    *_block(0x2B0, 0x2FF),  # Spacing Modifier Letters
    *_block(0x300, 0x36F),  # Combining Diacritical Marks
    *_block(0x3B1, 0x3C9),  # Greek lowercase
    *_block(0x1D00, 0x1DBF),  # Phonetic Extensions (+ Supplement)
    "ⁿ",
    *"0123456789",  # tones
    "¡",
    "¿",
]

FORMAT_VERSION = 1


@dataclass
class SymbolTable:
    """An ordered list of symbols; the index of a symbol is its id.

    Equality (from the dataclass) compares language, phonemes flag and the exact symbol order,
    which is what must match between a checkpoint and the frontend used to feed it.
    """

    language: str
    phonemes: bool
    symbols: list[str]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.symbols)) != len(self.symbols):
            dupes = sorted({s for s in self.symbols if self.symbols.count(s) > 1})
            raise ValueError(f"symbol table for {self.language!r} has duplicate symbols: {dupes}")
        if self.symbols[:2] != [PAD, EOS]:
            raise ValueError(
                f"symbol table must start with pad {PAD!r} and EOS {EOS!r}, got {self.symbols[:2]}"
            )
        self._index = {s: i for i, s in enumerate(self.symbols)}

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, symbol: object) -> bool:
        return symbol in self._index

    @property
    def pad_id(self) -> int:
        return 0

    @property
    def eos_id(self) -> int:
        return 1

    def id_of(self, symbol: str) -> int:
        """The id of `symbol`; KeyError naming the symbol and language if it is not in the table."""
        try:
            return self._index[symbol]
        except KeyError:
            raise KeyError(f"symbol {symbol!r} is not in the {self.language!r} table") from None

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION,
            "language": self.language,
            "phonemes": self.phonemes,
            "symbols": list(self.symbols),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SymbolTable:
        version = data.get("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise ValueError(
                f"symbol table format_version {version} is not supported (expected {FORMAT_VERSION})"
            )
        missing = [k for k in ("language", "phonemes", "symbols") if k not in data]
        if missing:
            raise ValueError(f"symbol table dict lacks keys {missing}")
        return cls(language=data["language"], phonemes=bool(data["phonemes"]), symbols=list(data["symbols"]))


def build_symbol_table(language: str, phonemes: bool = False) -> SymbolTable:
    """The table for `language`: letters ("en", "ru") or espeak-ng IPA (any language; see the module doc)."""
    base = [PAD, EOS, SPACE, *PUNCTUATION]
    if phonemes:
        if language in LETTER_LANGUAGES:
            return SymbolTable(language, True, base + IPA)
        return SymbolTable(language, True, base + IPA + [c for c in BROAD_IPA if c not in IPA])
    if language == "en":
        return SymbolTable(language, False, base + LATIN)
    if language == "ru":
        return SymbolTable(language, False, base + [STRESS] + CYRILLIC + LATIN)
    raise ValueError(
        f"no letters table for language {language!r} (letters mode: {', '.join(LETTER_LANGUAGES)}); "
        "set text.phonemes: true to read it through espeak-ng"
    )
