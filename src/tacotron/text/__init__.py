"""Text frontend: cleaners, number/abbreviation expansion, symbol tables, text <-> ids (en, ru)."""

from tacotron.text.frontend import EmptyTextError, TextFrontend, UnknownCharactersError
from tacotron.text.symbols import SymbolTable, build_symbol_table

__all__ = ["EmptyTextError", "SymbolTable", "TextFrontend", "UnknownCharactersError", "build_symbol_table"]
