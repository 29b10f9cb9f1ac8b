"""espeak-ng IPA phonemisation (`text.phonemes: true`) through the pinned `phonemizer` package.

Input is already normalised text (numbers and abbreviations expanded in the right language), so
espeak-ng's own number reading runs only where `text.expand_numbers` is off. Any espeak-ng voice
code works (`languages.espeak_voice` checks it). Punctuation is preserved, because
pauses and sentence intonation come from it. Words espeak-ng reads in another language (Latin
words in Russian text) keep their IPA but lose the language-switch flags ("(en)"), which are not
phonemes.

`phonemizer` is imported lazily: it needs the espeak-ng shared library, which the training
(GPU) machine does not have and does not need.
"""

from __future__ import annotations

import logging

from tacotron.text.languages import espeak_voice

log = logging.getLogger(__name__)

# phonemizer's defaults plus "(", ")" and "-", which the symbol tables keep and espeak would drop.
PUNCTUATION_MARKS = ';:,.!?¡¿—…"«»“”()-'


class EspeakPhonemizer:
    """Callable: normalised text -> IPA with stress marks, words separated by one space."""

    def __init__(self, language: str) -> None:
        voice = espeak_voice(language)
        from tacotron.extras import require

        require("phonemizer", "phonemes", "phoneme input (text.phonemes)")
        from phonemizer.backend import EspeakBackend
        from phonemizer.separator import Separator

        self._backend = EspeakBackend(
            voice,
            preserve_punctuation=True,
            punctuation_marks=PUNCTUATION_MARKS,
            with_stress=True,
            language_switch="remove-flags",
            words_mismatch="ignore",  # espeak-ng joins "for the" into one word: expected, not an error
        )
        self._separator = Separator(phone="", syllable="", word=" ")

    def __call__(self, text: str) -> str:
        if not text.strip():
            return ""
        (ipa,) = self._backend.phonemize([text], separator=self._separator, strip=True, njobs=1)
        return " ".join(ipa.split())
