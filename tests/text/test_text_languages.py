"""Any espeak-ng language in phoneme mode: numbers in that language, a broad IPA table, clear errors."""

from __future__ import annotations

import shutil

import pytest

from tacotron.config import Config, ConfigError, TextConfig
from tacotron.text import TextFrontend, UnknownCharactersError, UnknownLanguageError, build_symbol_table
from tacotron.text.symbols import IPA, PUNCTUATION

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

SENTENCES = {
    "de": ("Am 3. Mai kauften wir 12 Äpfel für 3,5 Euro – „schön“, nicht wahr?", "zwölf"),
    "fr": ("Le 14 juillet, 21 garçons ont mangé des crêpes à l'été « déjà » !", "vingt et un"),
    "es": ("¿Cuántos años tienes? ¡Tengo 25 años y 3 niños!", "veinticinco"),
}


@needs_espeak
@pytest.mark.parametrize("language", sorted(SENTENCES))
def test_sentences_with_numbers_become_ids_without_unknown_symbols(language):
    pytest.importorskip("phonemizer")
    text, number_word = SENTENCES[language]
    frontend = TextFrontend(TextConfig(language=language, phonemes=True))
    assert number_word in frontend.normalize(text)  # num2words, in the utterance's language
    ipa = frontend.clean(text)
    assert frontend.unknown_in_cleaned(ipa) == {}
    assert "ˈ" in ipa and not any(c.isdigit() for c in ipa)
    assert frontend.decode(frontend.encode(text)) == ipa


@needs_espeak
def test_diacritics_reach_espeak_ng_outside_english_and_russian():
    pytest.importorskip("phonemizer")
    frontend = TextFrontend(TextConfig(language="de", phonemes=True))
    assert frontend.normalize("Brücke") == "brücke"  # not folded to "brucke": ü is its own vowel
    assert frontend.clean("Brücke") != frontend.clean("Brucke")


@needs_espeak
def test_an_unknown_language_code_names_close_matches():
    with pytest.raises(UnknownLanguageError, match=r"'deu' is not an espeak-ng voice; did you mean .*\bde\b"):
        TextFrontend(TextConfig(language="deu", phonemes=True))
    with pytest.raises(ConfigError, match="'xx' is not an espeak-ng voice"):  # the CLI prints it as one line
        TextFrontend(TextConfig(language="xx", phonemes=True))


def test_letters_mode_is_english_and_russian_only():
    cfg = Config()
    cfg.text.language = "de"
    with pytest.raises(
        ConfigError, match=r"'text.language' 'de' has no letters table.*set text.phonemes: true"
    ):
        cfg.validate()
    with pytest.raises(UnknownLanguageError, match="set text.phonemes: true"):
        TextFrontend(cfg.text)
    cfg.text.phonemes = True
    cfg.validate()


@needs_espeak
def test_a_language_num2words_cannot_spell_is_refused_unless_espeak_reads_the_digits():
    pytest.importorskip("phonemizer")
    with pytest.raises(
        UnknownLanguageError, match="num2words cannot spell numbers in 'sw'.*expand_numbers: false"
    ):
        TextFrontend(TextConfig(language="sw", phonemes=True))
    frontend = TextFrontend(TextConfig(language="sw", phonemes=True, expand_numbers=False))
    assert frontend.normalize("Nina miaka 25.") == "nina miaka 25."
    ipa = frontend.clean("Nina miaka 25.")
    assert not any(c.isdigit() for c in ipa) and frontend.unknown_in_cleaned(ipa) == {}


@needs_espeak
def test_number_codes_follow_espeak_voice_names():
    pytest.importorskip("phonemizer")
    assert "septante" in TextFrontend(TextConfig(language="fr-be", phonemes=True)).normalize("70")
    assert "soixante-dix" in TextFrontend(TextConfig(language="fr", phonemes=True)).normalize("70")


def test_other_languages_share_the_english_phoneme_ids_and_leave_en_ru_tables_as_trained():
    en, de = build_symbol_table("en", phonemes=True), build_symbol_table("de", phonemes=True)
    assert len(en) == 3 + len(PUNCTUATION) + len(IPA)  # unchanged: trained checkpoints store it
    assert de.symbols[: len(en)] == en.symbols and de.language == "de"
    for symbol in ["ʁ", "ʏ", "ɲ", "ʕ", "ħ", "ɬ", "̪", "˥", "ʦ", "ᵐ", "5", "¿", "¡"]:
        assert symbol in de, symbol
    assert build_symbol_table("fr", phonemes=True).symbols == de.symbols


def test_phonemes_outside_the_table_are_reported_never_dropped():
    frontend = TextFrontend(TextConfig(language="de", phonemes=True, expand_numbers=False))
    frontend._phonemizer = lambda text: "ʃˈøːn#A"  # what a voice leaking espeak-ng internals writes
    with pytest.raises(UnknownCharactersError, match=r"'#' \(U\+0023\).*'A' \(U\+0041\)"):
        frontend.encode("schön")
