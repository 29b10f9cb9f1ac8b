"""Text frontend: cleaners, number/abbreviation expansion, symbol tables, text <-> ids (en, ru)."""

from tacotron.text.frontend import EmptyTextError, TextFrontend, UnknownCharactersError
from tacotron.text.number_limits import NumberExpansionError
from tacotron.text.symbols import SymbolTable, build_symbol_table

__all__ = [
    "EmptyTextError",
    "NumberExpansionError",
    "SymbolTable",
    "TextFrontend",
    "UnknownCharactersError",
    "build_symbol_table",
]
