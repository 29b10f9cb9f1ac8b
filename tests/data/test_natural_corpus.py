"""The natural corpus: festival voices reading real fortunes text, held-out sentences, the open judge.

Real festival speech and real fortune files (a few of them, copied, to keep planning fast): these run
in CI because `make test` installs festival, its voices and the fortunes packages.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tacotron.config import TextConfig
from tacotron.data.fortune_text import (
    FORTUNE_DIRS,
    FortunesMissingError,
    decode_fortune_file,
    fortune_files,
    fortune_sentences,
    reject_reason,
    split_fortunes,
)
from tacotron.data.natural_corpus import (
    VOICES,
    FestivalError,
    check_festival,
    is_current,
    write_natural_corpus,
)
from tacotron.data.natural_text import Unit, choose_heldout, unseen_word_share
from tacotron.text import TextFrontend

N, HELDOUT = 24, 6
EN_FILES = ("wisdom", "literature", "education", "love")


def _installed(voice: str) -> bool:
    if shutil.which("festival") is None or not FORTUNE_DIRS[VOICES[voice].lang].is_dir():
        return False
    try:
        check_festival(VOICES[voice])
    except FestivalError:
        return False
    return True


needs_slt = pytest.mark.skipif(
    not _installed("slt"), reason="apt-get install festival festvox-us-slt-hts fortunes (make test does)"
)
needs_ru = pytest.mark.skipif(
    not _installed("ru-festival"), reason="apt-get install festival festvox-ru fortunes-ru (make test does)"
)


def _copy_fortunes(lang: str, names: list[str], dest: Path) -> Path:
    dest.mkdir(parents=True)
    for name in names:
        shutil.copy(FORTUNE_DIRS[lang] / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def en_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("natural")
    fortunes = _copy_fortunes("en", list(EN_FILES), root / "fortunes")
    out = root / "corpus"
    report = write_natural_corpus(
        out, "slt", n=N, seed=0, n_heldout=HELDOUT, workers=2, fortunes_root=fortunes
    )
    return out, fortunes, report


# ------------------------------------------------------------------ text, no festival needed
def test_fortunes_split_into_speakable_sentences_without_attributions():
    block = "Never put off till tomorrow what you can do today.  It may be\nillegal tomorrow.\n\t\t-- Anon\n"
    assert fortune_sentences(block) == [
        "Never put off till tomorrow what you can do today.",
        "It may be illegal tomorrow.",
    ]
    assert split_fortunes("A b c.\n%\nD e f.\n%\n") == ["A b c.\n", "\nD e f.\n"]
    assert fortune_sentences("Q: Why?\nA: Because.\n") == []  # dialogue script
    assert fortune_sentences("\t(1) one\n\t(2) two\n\t(3) three\n") == []  # indented list


def test_reject_reason_keeps_numbers_and_abbreviations_but_drops_code_and_noise():
    assert reject_reason("Mr. Smith paid $5 for 3 apples on Jan. 2, 1984.") == ""
    assert reject_reason("if (x == 1) { return y; }") == "markup"
    assert reject_reason("!07/11 PDP a ni deppart m'I !pleH") == "markup"
    assert reject_reason("1 2 3 4 5 6 7 8 9 10 11 12 13.") == "few_letters"
    assert reject_reason("Bold\x08Bold text here.") == "control_characters"
    assert reject_reason("Hi.") == "length"
    assert reject_reason("(By Vance Petree, Virginia Power)") == "attribution"
    assert reject_reason("Это second hand, сказал он.", "ru") == "latin_in_russian"
    for face in (";-)", ":)", ":-(", ":P"):
        assert reject_reason(f"Where's that anarchist spirit? {face}") == "emoticon", face
    assert reject_reason("Он сказал: (шепотом) привет :)", "ru") == "emoticon"
    assert reject_reason("Two things matter: (a) money and (b) time.") == ""  # a colon before a list
    assert reject_reason("The ratio was 3:1 (roughly).") == ""


def test_fortune_files_are_decoded_per_file_utf8_or_koi8r():
    text = "Всё пройдёт, и это тоже."
    assert decode_fortune_file(text.encode("koi8-r")) == text
    assert decode_fortune_file(text.encode("utf-8")) == text


def test_missing_fortunes_and_festival_errors_name_the_packages(tmp_path, monkeypatch):
    with pytest.raises(FortunesMissingError, match="apt-get install fortunes-ru"):
        fortune_files("ru", tmp_path)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(FestivalError, match="apt-get install festival festvox-us-slt-hts fortunes"):
        check_festival(VOICES["slt"])
    with pytest.raises(FestivalError, match="festvox-ru fortunes-ru"):
        write_natural_corpus(tmp_path / "c", "ru-festival", n=2)


def test_heldout_units_take_rare_words_out_of_the_training_pool():
    units = [Unit(f"k{i}", t, t) for i, t in enumerate(_toy_sentences())]
    heldout, pool = choose_heldout(units, 1, seed=0, unseen_range=(0.3, 1.0))
    token_share, _ = unseen_word_share([u.spoken for u in heldout], [u.spoken for u in pool])
    assert len(heldout) == 1 and heldout[0] not in pool
    assert token_share >= 0.3
    with pytest.raises(ValueError, match="qualify"):
        choose_heldout(units, 50, seed=0)


def _toy_sentences() -> list[str]:
    common = "the cat sat on a mat"
    rare = ["zebra quilt yodel", "oboe quartz vixen", "yacht fjord kiwi", "glyph nymph waltz"]
    return [f"{common} {r}." for r in rare] + [f"{common} again and again." for _ in range(3)]


def test_a_clip_rendered_from_other_text_is_not_current(tmp_path):
    wav = tmp_path / "wavs" / "slt-00001.wav"
    wav.parent.mkdir()
    sf.write(wav, np.zeros(22050, dtype=np.float32), 22050, subtype="PCM_16")
    (wav.parent / ".text").mkdir()
    (wav.parent / ".text" / "slt-00001.txt").write_text("old text.", encoding="utf-8")
    assert is_current(wav, Unit("k", "Old text.", "old text."))
    assert not is_current(wav, Unit("k", "New text.", "new text."))


def test_a_failed_or_unreadable_render_is_reported_and_the_run_goes_on(tmp_path, monkeypatch):
    """festival's stderr spans lines and a crashed process can leave a file libsndfile cannot open: both
    items are dropped with their reason (kept on a rerun), the others are kept, nothing aborts."""
    import tacotron.data.natural_corpus as natural

    def fake_festival(voice, jobs):
        failures = {}
        for unit, final in jobs:
            final.parent.mkdir(parents=True, exist_ok=True)
            if "crash" in unit.spoken:
                failures[final] = "festival failed (exit -11): SIOD ERROR\nsegmentation fault\n"
            elif "garbage" in unit.spoken:
                final.write_bytes(b"RIFF not really a wave file")
            else:
                sf.write(final, np.zeros(2 * 22050, dtype=np.float32), 22050, subtype="PCM_16")
                natural._sidecar(final).parent.mkdir(exist_ok=True)
                natural._sidecar(final).write_text(unit.spoken, encoding="utf-8")
        return failures

    monkeypatch.setattr(natural, "render_chunk", fake_festival)
    texts = ["a first line.", "then festival crash here.", "garbage comes out.", "a last line."]
    order = [Unit(f"k{i}", text, text) for i, text in enumerate(texts)]
    rejected = tmp_path / "rejected"
    rejected.mkdir()
    kept, rendered = natural._render_training_clips(
        VOICES["slt"], order, 4, tmp_path / "wavs", rejected, workers=1
    )
    assert [unit.text for _, unit, _ in kept] == ["a first line.", "a last line."]
    assert rendered == 4
    reasons = {p.stem: p.read_text(encoding="utf-8").split("\n")[0] for p in rejected.glob("*.txt")}
    assert reasons == {
        "slt-00002": "festival failed (exit -11): SIOD ERROR segmentation fault",
        "slt-00003": reasons["slt-00003"],
    }
    assert reasons["slt-00003"].startswith("unreadable audio:")
    assert not (tmp_path / "wavs" / "slt-00003.wav").exists()
    again, rendered_again = natural._render_training_clips(
        VOICES["slt"], order, 4, tmp_path / "wavs", rejected, workers=1
    )
    assert (again, rendered_again) == (kept, 0)


def test_a_festival_crash_costs_one_sentence_not_the_rest_of_the_chunk(tmp_path, monkeypatch):
    import tacotron.data.natural_corpus as natural

    processes = []

    def festival_dying_on_crash(voice, jobs):  # renders in order until the sentence that kills it
        processes.append([unit.spoken for unit, _ in jobs])
        for done, (unit, final) in enumerate(jobs):
            if "crash" in unit.spoken:
                return done, "SIOD ERROR: damaged utterance\n", -11
            final.write_bytes(b"wav")
        return len(jobs), "", 0

    monkeypatch.setattr(natural, "_run_festival", festival_dying_on_crash)
    texts = ["one.", "crash two.", "three.", "four.", "crash five.", "six."]
    jobs = [(Unit(f"k{i}", t, t), tmp_path / f"{i}.wav") for i, t in enumerate(texts)]
    failures = natural.render_chunk(VOICES["ru-festival"], jobs)
    assert sorted(p.name for p in failures) == ["1.wav", "4.wav"]
    assert failures[tmp_path / "1.wav"] == "festival failed (exit -11): SIOD ERROR: damaged utterance\n"
    assert sorted(p.name for p in tmp_path.glob("*.wav")) == ["0.wav", "2.wav", "3.wav", "5.wav"]
    assert processes == [texts, texts[2:], texts[5:]]


def test_a_festival_that_renders_nothing_is_not_restarted_per_sentence(tmp_path, monkeypatch):
    import tacotron.data.natural_corpus as natural

    processes = []

    def broken_festival(voice, jobs):
        processes.append(len(jobs))
        return 0, "Unbound variable voice_x", 255

    monkeypatch.setattr(natural, "_run_festival", broken_festival)
    jobs = [(Unit(f"k{i}", "text.", "text."), tmp_path / f"{i}.wav") for i in range(50)]
    failures = natural.render_chunk(VOICES["slt"], jobs)
    assert len(failures) == 50 and processes == [50, 49]
    assert set(failures.values()) == {"festival failed (exit 255): Unbound variable voice_x"}


# ------------------------------------------------------------------ festival: English
@needs_slt
@pytest.mark.slow
def test_corpus_layout_sample_rate_and_metadata_match_the_wavs(en_corpus):
    out, _, report = en_corpus
    lines = (out / "metadata.csv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == N == report.n
    ids = [line.split("|")[0] for line in lines]
    assert sorted(ids) == sorted(p.stem for p in (out / "wavs").glob("*.wav"))
    frontend = TextFrontend(TextConfig(language="en"))
    for line in lines:
        item_id, text, spoken = line.split("|")
        info = sf.info(out / "wavs" / f"{item_id}.wav")
        assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
        assert 1.0 <= info.duration <= 10.0
        assert frontend.normalize(text) == spoken
        frontend.encode(text)  # raises on anything the frontend cannot read
    assert not list(out.glob(".*.partial"))
    heldout = (out / "heldout.txt").read_text(encoding="utf-8").splitlines()
    assert len(heldout) == HELDOUT
    assert [p.name for p in sorted((out / "heldout_wavs").glob("*.wav"))] == [
        f"{i:03d}.wav" for i in range(1, HELDOUT + 1)
    ]
    assert set(heldout).isdisjoint(line.split("|")[1] for line in lines)


@needs_slt
def test_rerun_renders_nothing_and_rewrites_the_same_metadata(en_corpus):
    out, fortunes, _ = en_corpus
    before = (out / "metadata.csv").read_bytes()
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "wavs").glob("*.wav")}
    report = write_natural_corpus(
        out, "slt", n=N, seed=0, n_heldout=HELDOUT, workers=2, fortunes_root=fortunes
    )
    assert report.rendered_now == 0
    assert (out / "metadata.csv").read_bytes() == before
    assert {p: p.stat().st_mtime_ns for p in (out / "wavs").glob("*.wav")} == mtimes


@needs_slt
def test_heldout_words_are_mostly_unseen_in_training(en_corpus):
    out, _, report = en_corpus
    heldout = (out / "heldout.txt").read_text(encoding="utf-8").splitlines()
    training = [
        line.split("|")[2] for line in (out / "metadata.csv").read_text(encoding="utf-8").splitlines()
    ]
    normalize = TextFrontend(TextConfig(language="en")).normalize
    token_share, type_share = unseen_word_share([normalize(t) for t in heldout], training)
    assert token_share >= 0.30 and type_share >= 0.30
    assert report.heldout_unseen_token_share == pytest.approx(token_share)


@needs_slt
@pytest.mark.slow
def test_open_vocabulary_judge_understands_the_voice_and_not_a_wrong_transcript(en_corpus):
    from tacotron.infer.evaluate import score_audio
    from tacotron.infer.judge import SphinxJudge, char_count, char_errors, word_errors

    out, _, _ = en_corpus
    texts = (out / "heldout.txt").read_text(encoding="utf-8").splitlines()
    wavs = [out / "heldout_wavs" / f"{i:03d}.wav" for i in range(1, len(texts) + 1)]
    normalize = TextFrontend(TextConfig(language="en")).normalize
    judge = SphinxJudge.open_vocabulary()
    assert judge.mode == "open" and "zebra" in judge.vocabulary  # its own general dictionary
    own = score_audio(texts, wavs, normalize, judge, workers=2)
    assert own["wer"] < 0.6 and own["cer"] < 0.4
    heard = [s["hyp_words"] for s in own["sentences"]]
    wrong = [s["ref_words"] for s in own["sentences"][1:] + own["sentences"][:1]]  # mismatched transcripts
    wrong_words = sum(len(w) for w in wrong)
    wrong_wer = sum(word_errors(r, h) for r, h in zip(wrong, heard, strict=True)) / wrong_words
    wrong_cer = sum(char_errors(r, h) for r, h in zip(wrong, heard, strict=True)) / sum(
        map(char_count, wrong)
    )
    assert wrong_wer > 0.85 and wrong_cer > own["cer"] + 0.3


# ------------------------------------------------------------------ festival: Russian
@needs_ru
def test_russian_voice_renders_cyrillic_fortunes(tmp_path):
    names = sorted(p.name for p in fortune_files("ru"))[:12]
    fortunes = _copy_fortunes("ru", names, tmp_path / "fortunes")
    report = write_natural_corpus(
        tmp_path / "corpus", "ru-festival", n=4, seed=0, n_heldout=2, workers=2, fortunes_root=fortunes
    )
    lines = (tmp_path / "corpus" / "metadata.csv").read_text(encoding="utf-8").splitlines()
    assert report.n == len(lines) == 4 and report.lang == "ru"
    frontend = TextFrontend(TextConfig(language="ru"))
    for line in lines:
        item_id, text, _ = line.split("|")
        assert any("а" <= c <= "я" for c in text.lower())
        frontend.encode(text)
        info = sf.info(tmp_path / "corpus" / "wavs" / f"{item_id}.wav")
        assert (info.samplerate, info.channels) == (22050, 1) and 1.0 <= info.duration <= 10.0
    assert report.heldout == 2 and report.heldout_unseen_token_share >= 0.30


@needs_ru
def test_russian_sentences_that_crashed_festival_render(tmp_path):
    """Sentences of fortunes-ru on which festvox-ru died (leading dots, an ellipsis glued to a word, an
    emoticon): festival now reads them (same words) and every clip is rendered."""
    import tacotron.data.natural_corpus as natural

    texts = [
        "...и была такая попа у прелестной поп-звезды, что узнай её европа песня выбилась б в хиты.",
        "не думайте, что это просто маленькое баловство... но они начали первыми!:-)",
        "он попытался обнять риту за талию...но не смог.",
    ]
    jobs = [(Unit(f"k{i}", t, t), tmp_path / f"{i}.wav") for i, t in enumerate(texts)]
    assert natural.render_chunk(VOICES["ru-festival"], jobs) == {}
    for _, path in jobs:
        assert sf.info(path).duration > 1.0
    assert (
        natural._festival_text(jobs[1][0], "ru")
        == "не думайте, что это просто маленькое баловство, но они начали первыми!"
    )
