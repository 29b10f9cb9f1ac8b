"""The intelligibility judge: edit distance, the bigram LM, and pocketsphinx on real espeak-ng speech."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from tests.helpers.speech import SENTENCES, TRAINING_TEXT

from tacotron.audio import load_wav
from tacotron.config import TextConfig
from tacotron.infer.judge import SphinxJudge, word_error_rate, word_errors, write_language_model
from tacotron.infer.lm import bigram_arpa, corpus_sentences
from tacotron.text import TextFrontend
from tacotron.text.words import words_of


@pytest.fixture(scope="module")
def normalize():
    return TextFrontend(TextConfig()).normalize


@pytest.fixture(scope="module")
def judge(normalize):
    return SphinxJudge.from_training_text(TRAINING_TEXT, normalize)


def test_word_errors_is_an_edit_distance():
    assert word_errors(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert word_errors(["a", "b", "c"], ["a", "x", "c", "d"]) == 2  # one substitution, one insertion
    assert word_errors(["a", "b", "c"], []) == 3
    assert word_error_rate(["a", "b", "c", "d"], ["b", "c", "d"]) == 0.25
    assert word_error_rate([], ["x"]) == 1.0


def test_words_are_normalised_with_numbers_expanded(normalize):
    assert words_of("At 7 o'clock, Dr. Smith left!", normalize) == [
        "at",
        "seven",
        "o'clock",
        "doctor",
        "smith",
        "left",
    ]


def _parse_arpa(text: str) -> tuple[dict[str, tuple[float, float]], dict[tuple[str, str], float]]:
    unigrams, bigrams, section = {}, {}, None
    for line in text.splitlines():
        if line.startswith("\\"):
            section = line
            continue
        parts = line.split("\t")
        if section == "\\1-grams:" and len(parts) >= 2:
            unigrams[parts[1]] = (float(parts[0]), float(parts[2]) if len(parts) > 2 else 0.0)
        elif section == "\\2-grams:" and len(parts) == 2:
            bigrams[tuple(parts[1].split())] = float(parts[0])
    return unigrams, bigrams


def test_bigram_lm_is_a_proper_distribution():
    sentences = [s.split() for s in ["a b c", "a c", "b b a", "c a b"]]
    unigrams, bigrams = _parse_arpa(bigram_arpa(sentences))
    vocab = [w for w in unigrams if w != "<s>"]
    for history in ["<s>", "a", "b", "c"]:
        total = 0.0
        for w in vocab:
            if (history, w) in bigrams:
                total += 10 ** bigrams[(history, w)]
            else:
                total += 10 ** (unigrams[history][1] + unigrams[w][0])
        assert math.isclose(total, 1.0, rel_tol=1e-4), (history, total)
    with pytest.raises(ValueError, match="no words"):
        bigram_arpa([[]])


def test_lm_from_training_text_lacks_evaluation_only_words(tmp_path, normalize):
    files = write_language_model(["The cat sat on the mat.", "Zyxqu the cat."], tmp_path, normalize)
    arpa = files.lm.read_text(encoding="utf-8")
    words = set(re.findall(r"[a-z']+", arpa))
    assert {"cat", "sat", "mat"} <= files.vocabulary
    assert "apples" not in words and "market" not in words  # evaluation-only words
    assert files.missing == ["zyxqu"] and "zyxqu" not in words  # no pronunciation: reported, left out
    entries = files.dictionary.read_text(encoding="utf-8").splitlines()
    assert {e.split()[0].split("(")[0] for e in entries} == files.vocabulary


def test_corpus_text_reads_metadata_and_only_train_split(tmp_path):
    (tmp_path / "metadata.csv").write_text(
        "a1|Raw 1 text.|Raw one text.\na2|Other.|Other.\n", encoding="utf-8"
    )
    assert corpus_sentences(tmp_path / "metadata.csv") == ["Raw one text.", "Other."]
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "manifest.jsonl").write_text(
        '{"id": "a", "text": "train text", "split": "train"}\n{"id": "b", "text": "held out", "split": "val"}\n',
        encoding="utf-8",
    )
    assert corpus_sentences(tmp_path / "ds") == ["train text"]
    with pytest.raises(FileNotFoundError, match="manifest"):
        corpus_sentences(tmp_path)


def test_judge_understands_ground_truth_and_not_shuffled_frames(judge, espeak_refs, normalize):
    errors = shuffled_errors = words = 0
    rng = np.random.default_rng(0)
    for i, text in enumerate(SENTENCES, start=1):
        wav = load_wav(espeak_refs / f"{i:03d}.wav", 22050)
        reference = words_of(text, normalize)
        errors += word_errors(reference, judge.transcribe(wav, 22050))
        frames = wav[: len(wav) // 256 * 256].reshape(-1, 256)
        shuffled = frames[rng.permutation(len(frames))].ravel()
        shuffled_errors += word_errors(reference, judge.transcribe(shuffled, 22050))
        words += len(reference)
    assert errors / words < 0.3
    assert shuffled_errors / words > 0.6


def test_judge_hears_nothing_in_noise(judge):
    noise = np.random.default_rng(1).normal(0, 0.1, 22050).astype(np.float32)
    assert word_error_rate(["the", "cat", "sat", "on", "the", "mat"], judge.transcribe(noise, 22050)) > 0.6
