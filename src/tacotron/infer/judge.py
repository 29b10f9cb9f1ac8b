"""Intelligibility judge: offline pocketsphinx recognition and word error rate.

Why this recipe (see shared ENVIRONMENT.md): pocketsphinx's voice-activity and noise tracking are
thrown off by digital silence and by very loud or very quiet input, so every waveform is resampled to
16 kHz, peak-normalised to 0.5 and given a seeded -50 dBFS Gaussian noise floor before decoding. The
same preparation is applied to synthesised and ground-truth audio, so their WERs are comparable.
English only: no offline Russian acoustic model installs from the registries (vosk 0.3.45 installs from
PyPI, but `vosk.Model(lang="ru")` fetches its model from alphacephei.com at run time).

Two modes. Closed vocabulary (`from_training_text`): a bigram LM over the training text, for template
corpora whose evaluation sentences reuse the training words. Open vocabulary (`open_vocabulary`):
pocketsphinx's own general US-English LM and full dictionary, which know nothing of the training
text, so held-out sentences with unseen words are judged as a listener would judge them.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tacotron.infer.lm import bigram_arpa
from tacotron.text.words import read_dictionary, words_of

logger = logging.getLogger(__name__)

ASR_RATE = 16000
PEAK = 0.5
NOISE_DBFS = -50.0


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over words (substitutions + deletions + insertions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp_word in enumerate(hypothesis, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
        previous = current
    return previous[-1]


def word_error_rate(reference: list[str], hypothesis: list[str]) -> float:
    """Word errors / reference words; an empty reference gives 0 for an empty hypothesis, else 1 per word."""
    if not reference:
        return float(len(hypothesis))
    return word_errors(reference, hypothesis) / len(reference)


def char_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance over the characters of the space-joined words."""
    return word_errors(list(" ".join(reference)), list(" ".join(hypothesis)))


def char_count(words: list[str]) -> int:
    """Characters a CER divides by: those of the space-joined reference words."""
    return len(" ".join(words))


def char_error_rate(reference: list[str], hypothesis: list[str]) -> float:
    """Character errors / reference characters (spaces between words count), as word_error_rate."""
    if not reference:
        return float(char_count(hypothesis))
    return char_errors(reference, hypothesis) / char_count(reference)


def paired_gap_interval(
    errors: list[int], ceiling_errors: list[int], words: list[int], *, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95% interval of WER - ceiling WER by a paired bootstrap over sentences (seeded).

    Why: on a few dozen sentences the sentence mix moves both WERs; resampling sentences (each keeps its
    model and ceiling errors together) shows how far the gap itself would move with other sentences of
    the same kind. Per resample: (sum of model errors - sum of ceiling errors) / sum of words.
    """
    if not (len(errors) == len(ceiling_errors) == len(words)) or not errors:
        raise ValueError("errors, ceiling_errors and words need one entry per sentence, at least one")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(errors), size=(resamples, len(errors)))
    difference = np.asarray(errors, dtype=np.float64) - np.asarray(ceiling_errors, dtype=np.float64)
    gaps = difference[picks].sum(axis=1) / np.maximum(
        np.asarray(words, dtype=np.float64)[picks].sum(axis=1), 1
    )
    low, high = np.percentile(gaps, [2.5, 97.5])
    return float(low), float(high)


def prepare_for_asr(wav: np.ndarray, sample_rate: int, seed: int = 0) -> bytes:
    """float waveform -> 16 kHz int16 bytes, peak 0.5, plus N(0, -50 dBFS) noise (seeded)."""
    import soxr

    audio = np.asarray(wav, dtype=np.float64)
    if sample_rate != ASR_RATE:
        audio = soxr.resample(audio, sample_rate, ASR_RATE)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 0:
        audio = audio * (PEAK / peak)
    noise = np.random.default_rng(seed).normal(0.0, 10 ** (NOISE_DBFS / 20), size=audio.shape)
    audio = np.clip(audio + noise, -1.0, 1.0)
    return (audio * 32767).astype(np.int16).tobytes()


@dataclass
class LanguageModelFiles:
    """ARPA LM and restricted dictionary written for one evaluation; `missing` = LM words without pronunciation."""

    lm: Path
    dictionary: Path
    vocabulary: set[str]
    missing: list[str] = field(default_factory=list)


def write_language_model(
    training_texts: list[str],
    out_dir: str | Path,
    normalize: Callable[[str], str] | None = None,
    dictionary: str | Path | None = None,
) -> LanguageModelFiles:
    """Bigram LM over the words of `training_texts` that the pronunciation dictionary knows.

    Words without a pronunciation cannot be recognised; they are dropped from the LM and reported.
    The dictionary is restricted to the LM's words, which keeps decoding fast and the search honest.
    """
    from tacotron.extras import require

    require("pocketsphinx", "eval", "the ASR judge (tacotron eval)")
    from pocketsphinx import get_model_path

    dict_path = Path(dictionary) if dictionary else Path(get_model_path()) / "en-us" / "cmudict-en-us.dict"
    entries = read_dictionary(dict_path)
    sentences = [words_of(text, normalize) for text in training_texts]
    missing = sorted({w for s in sentences for w in s if w not in entries})
    known = [[w for w in s if w in entries] for s in sentences]
    vocabulary = {w for s in known for w in s}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lm_path, restricted = out / "judge.arpa", out / "judge.dict"
    lm_path.write_text(bigram_arpa(known), encoding="utf-8")
    restricted.write_text(
        "\n".join(line for w in sorted(vocabulary) for line in entries[w]) + "\n", encoding="utf-8"
    )
    if missing:
        logger.warning(
            "%d training words have no pronunciation and are left out of the LM: %s",
            len(missing),
            missing[:20],
        )
    return LanguageModelFiles(lm_path, restricted, vocabulary, missing)


def general_dictionary_words() -> set[str]:
    """The words pocketsphinx's general US-English dictionary can pronounce (lowercase)."""
    from pocketsphinx import get_model_path

    return set(read_dictionary(Path(get_model_path()) / "en-us" / "cmudict-en-us.dict"))


class SphinxJudge:
    """Transcribes waveforms with pocketsphinx (US English) under a given LM; `lm=None` = its generic LM.

    `vocabulary`: the words the judge can recognise at all (reported as out-of-vocabulary otherwise):
    the LM's words in closed mode, the general dictionary's in open mode, None when not tracked.
    """

    def __init__(self, lm: LanguageModelFiles | None = None, seed: int = 0):
        from tacotron.extras import require

        require("pocketsphinx", "eval", "the ASR judge (tacotron eval)")
        from pocketsphinx import Decoder

        kwargs = {"samprate": ASR_RATE, "dither": True, "remove_noise": False, "loglevel": "FATAL"}
        if lm is not None:
            kwargs.update(lm=str(lm.lm), dict=str(lm.dictionary))
        self.decoder = Decoder(**kwargs)
        self.lm = lm
        self.seed = seed
        self.vocabulary: set[str] | None = lm.vocabulary if lm is not None else None
        self.mode = "closed" if lm is not None else "generic"

    @classmethod
    def open_vocabulary(cls, seed: int = 0) -> SphinxJudge:
        """pocketsphinx's general English LM and full dictionary: no knowledge of the training text."""
        judge = cls(None, seed)
        judge.vocabulary = general_dictionary_words()
        judge.mode = "open"
        return judge

    @classmethod
    def from_training_text(
        cls, training_texts: list[str], normalize: Callable[[str], str] | None = None, seed: int = 0
    ) -> SphinxJudge:
        """A judge whose LM files live in a temporary folder (removed once the LM is loaded)."""
        with tempfile.TemporaryDirectory(prefix="tacotron-judge-") as tmp:
            files = write_language_model(training_texts, tmp, normalize)
            judge = cls(files, seed)
        return judge

    def transcribe(self, wav: np.ndarray, sample_rate: int) -> list[str]:
        """Recognised words, lowercase, without fillers (<sil>, [NOISE]) or alternate-pronunciation marks."""
        self.decoder.start_utt()
        self.decoder.process_raw(prepare_for_asr(wav, sample_rate, self.seed), full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        text = hyp.hypstr if hyp is not None else ""
        return [w.split("(")[0].lower() for w in text.split() if not w.startswith(("<", "["))]


def _transcribe_open_chunk(job: tuple[list[tuple[np.ndarray, int]], int]) -> list[list[str]]:
    """Worker: one open-vocabulary decoder for a chunk (a decoder is not picklable; loading takes ~1 s)."""
    audio, seed = job
    judge = SphinxJudge.open_vocabulary(seed)
    return [judge.transcribe(wav, rate) for wav, rate in audio]


def transcribe_all(
    judge: SphinxJudge, audio: list[tuple[np.ndarray, int]], workers: int = 1
) -> list[list[str]]:
    """Transcribe (waveform, sample rate) pairs in order; open-vocabulary judges may use `workers` processes.

    Why: the general LM decodes at ~2-4 s per sentence on one core, so 50 held-out sentences plus their
    ceiling take minutes on one core and well under a minute on a GPU machine's 16.
    """
    if workers <= 1 or judge.mode != "open" or len(audio) < 2 * workers:
        return [judge.transcribe(wav, rate) for wav, rate in audio]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    size = -(-len(audio) // workers)
    chunks = [(audio[i : i + size], judge.seed) for i in range(0, len(audio), size)]
    # fork, not spawn: spawn re-imports the caller's __main__ (scripts without a main guard would fail).
    # Children only run pocketsphinx and numpy, never CUDA, so an inherited CUDA context is not touched.
    with ProcessPoolExecutor(len(chunks), mp_context=multiprocessing.get_context("fork")) as pool:
        return [words for chunk in pool.map(_transcribe_open_chunk, chunks) for words in chunk]
