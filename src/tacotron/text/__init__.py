"""Text frontend: cleaners, number/abbreviation expansion, symbol tables, text <-> ids (letters: en, ru;
phonemes: any espeak-ng language)."""

from tacotron.text.frontend import EmptyTextError, TextFrontend, UnknownCharactersError
from tacotron.text.languages import UnknownLanguageError
from tacotron.text.number_limits import NumberExpansionError
from tacotron.text.symbols import SymbolTable, build_symbol_table

__all__ = [
    "EmptyTextError",
    "NumberExpansionError",
    "SymbolTable",
    "TextFrontend",
    "UnknownCharactersError",
    "UnknownLanguageError",
    "build_symbol_table",
]
