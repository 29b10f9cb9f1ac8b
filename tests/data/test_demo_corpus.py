"""Demo corpus: determinism, held-out disjointness, sentence variety, real espeak-ng audio."""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf

from tacotron.data.demo_corpus import heldout_sentences, plan_corpus, write_demo_corpus
from tacotron.data.demo_sentences import MAX_CHARS, MIN_CHARS, is_heldout


def test_same_seed_gives_identical_metadata_and_audio(tmp_path):
    a = write_demo_corpus(tmp_path / "a", lang="en", n=4, seed=3)
    b = write_demo_corpus(tmp_path / "b", lang="en", n=4, seed=3)
    c = write_demo_corpus(tmp_path / "c", lang="en", n=4, seed=4)
    assert (a / "metadata.csv").read_bytes() == (b / "metadata.csv").read_bytes()
    assert (a / "metadata.csv").read_bytes() != (c / "metadata.csv").read_bytes()
    lines = (a / "metadata.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4
    for line in lines:
        item_id, text, normalized = line.split("|")
        wav, rate = sf.read(a / "wavs" / f"{item_id}.wav")
        assert rate == 22050 and wav.ndim == 1
        assert 1.5 < len(wav) / rate < 14.0
        assert np.abs(wav).max() > 0.05  # speech, not silence
        assert not re.search(r"\d", normalized), normalized
        assert text.strip() and normalized.strip()


def test_heldout_sentences_never_appear_in_corpora():
    held = heldout_sentences("en", 50, seed=0)
    assert len(set(held)) == 50 and all(is_heldout(s) for s in held)
    for seed in (0, 1):
        corpus = {item.text for item in plan_corpus("en", 1200, seed)}
        assert not corpus & set(held)
    assert heldout_sentences("en", 50, seed=0) == held  # deterministic
    assert set(heldout_sentences("ru", 20, seed=0)).isdisjoint(
        item.text for item in plan_corpus("ru", 1200, 0)
    )


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_corpus_sentences_are_varied(lang):
    items = plan_corpus(lang, 1200, seed=0)
    texts = [i.text for i in items]
    assert len(set(texts)) == 1200
    assert all(MIN_CHARS <= len(t) <= MAX_CHARS for t in texts)
    joined = "".join(texts)
    for mark in "?!,.":
        assert mark in joined
    assert sum(bool(re.search(r"\d", t)) for t in texts) > 100  # numbers to normalise
    if lang == "ru":
        assert "ё" in joined and re.search("[а-я]", joined)
        assert not re.search("[a-zA-Z]", joined)


def test_voices_are_used_and_russian_corpus_is_cyrillic(tmp_path):
    out = write_demo_corpus(tmp_path / "ru", lang="ru", n=3, seed=0, voices=["ru", "ru+f2"])
    text = (out / "metadata.csv").read_text(encoding="utf-8")
    assert re.search("[А-Яа-яЁё]", text)
    assert {i.voice for i in plan_corpus("ru", 40, 0, voices=["ru", "ru+f2"])} == {"ru", "ru+f2"}


def test_unknown_language_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="language"):
        write_demo_corpus(tmp_path, lang="xx", n=2)


def test_cli_demo_data_writes_corpus_and_heldout(tmp_path, capsys):
    from tacotron.cli import main

    out = tmp_path / "demo"
    assert main(["demo-data", "--lang", "en", "--n", "2", "--out", str(out), "--heldout", "3"]) == 0
    assert len((out / "metadata.csv").read_text(encoding="utf-8").splitlines()) == 2
    assert len(list((out / "wavs").glob("*.wav"))) == 2
    assert (out / "heldout.txt").read_text(encoding="utf-8").splitlines() == heldout_sentences("en", 3, 0)
    assert "wrote 2 en utterances" in capsys.readouterr().out


def test_reference_wavs_are_numbered_like_the_eval_lines(tmp_path):
    import soundfile as sf

    from tacotron.data.demo_corpus import heldout_sentences, write_reference_wavs

    sentences = heldout_sentences("en", 2, seed=0)
    out = write_reference_wavs(sentences, tmp_path / "refs", "en")
    wavs = sorted(p.name for p in out.glob("*.wav"))
    assert wavs == ["001.wav", "002.wav"]
    audio, rate = sf.read(out / "001.wav")
    assert rate == 22050 and len(audio) > rate  # over a second of speech
