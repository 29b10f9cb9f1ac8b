"""espeak-ng phonemes round-trip through ids; silero-stress puts '+' on the right vowel."""

from __future__ import annotations

import shutil

import pytest

from tacotron.config import TextConfig
from tacotron.text import TextFrontend

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

SENTENCES = {
    "en": 'In 1999, Mr. Smith paid $5.25 for the 2nd edition - "quite cheap"; didn\'t he? (Judge, thing, measure.)',
    "ru": "В 2024 году съешь же ещё этих мягких французских булок, да выпей чаю! Щука, подъезд (ёлка) - iPhone?",
}


@needs_espeak
@pytest.mark.parametrize("language", ["en", "ru"])
def test_phonemes_round_trip_without_unknown_symbols(language):
    pytest.importorskip("phonemizer")
    frontend = TextFrontend(TextConfig(language=language, phonemes=True))
    ipa = frontend.clean(SENTENCES[language])
    assert frontend.unknown_in_cleaned(ipa) == {}
    assert "ˈ" in ipa  # stress marks are phonemes here
    assert not any(c.isdigit() for c in ipa)
    for mark in set(',?!;()"-') & set(SENTENCES[language]):
        assert mark in ipa, mark  # pauses and intonation cues survive phonemisation
    ids = frontend.encode(SENTENCES[language])
    assert frontend.decode(ids) == ipa


@needs_espeak
def test_russian_phonemes_ignore_user_stress_marks():
    pytest.importorskip("phonemizer")
    frontend = TextFrontend(TextConfig(language="ru", phonemes=True, stress="keep"))
    assert frontend.clean("молок+о") == frontend.clean("молоко")
    assert "+" not in frontend.clean("молок+о")


def test_auto_stress_lands_on_the_right_vowel():
    pytest.importorskip("silero_stress")  # loads a 56 MB model: about 4 s
    frontend = TextFrontend(TextConfig(language="ru", stress="auto"))
    cleaned = frontend.clean("Молоко, собака, мама, дорога, голова, город и вода.")
    assert cleaned == "молок+о, соб+ака, м+ама, дор+ога, голов+а, г+ород и вод+а."
    # a user's mark wins over the model, other words still get theirs
    assert frontend.clean("з+амок и молоко") == "з+амок и молок+о"
    assert frontend.decode(frontend.encode("В 2024 году")) == frontend.clean("В 2024 году")
    assert "+" in frontend.clean("В 2024 году")


def test_auto_stress_leaves_autograd_and_threads_as_they_were():
    """silero-stress turns autograd off globally; a later training step in the same process needs it."""
    import torch

    from tacotron.config import TextConfig
    from tacotron.text import TextFrontend

    threads = torch.get_num_threads()
    frontend = TextFrontend(TextConfig(language="ru", stress="auto"))
    assert "+" in frontend.clean("молоко")
    assert torch.is_grad_enabled()
    assert torch.get_num_threads() == threads
