"""Symbol tables: layout, uniqueness, dict round trip, equality checks used by checkpoints."""

from __future__ import annotations

import json

import pytest

from tacotron.text import SymbolTable, build_symbol_table


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize("phonemes", [False, True])
def test_table_layout_and_dict_round_trip(language, phonemes):
    table = build_symbol_table(language, phonemes)
    assert table.pad_id == 0 and table.symbols[0] == "_"
    assert table.eos_id == 1 and table.symbols[1] == "~"
    assert len(set(table.symbols)) == len(table)
    restored = SymbolTable.from_dict(json.loads(json.dumps(table.to_dict(), ensure_ascii=False)))
    assert restored == table
    assert restored.id_of(" ") == table.id_of(" ")


def test_russian_table_has_full_alphabet_stress_and_latin():
    table = build_symbol_table("ru")
    alphabet = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
    assert len(alphabet) == 33
    for char in alphabet + "+" + "abcdefghijklmnopqrstuvwxyz":
        assert char in table, char
    assert table.language == "ru"


def test_tables_differ_between_languages_and_modes():
    assert build_symbol_table("en") != build_symbol_table("ru")
    assert build_symbol_table("en") != build_symbol_table("en", phonemes=True)
    assert "+" not in build_symbol_table("en")


def test_bad_tables_are_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        SymbolTable("en", False, ["_", "~", "a", "a"])
    with pytest.raises(ValueError, match="pad"):
        SymbolTable("en", False, ["a", "_", "~"])
    with pytest.raises(ValueError, match="format_version"):
        SymbolTable.from_dict(
            {"format_version": 99, "language": "en", "phonemes": False, "symbols": ["_", "~"]}
        )
    with pytest.raises(ValueError, match="language"):
        build_symbol_table("de")
    with pytest.raises(KeyError, match="'ж'"):
        build_symbol_table("en").id_of("ж")
