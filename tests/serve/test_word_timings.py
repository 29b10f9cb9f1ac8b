"""Word timings in /api/tts/details: one per word, monotone, inside the audio, placed after pauses."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from tests.serve.conftest import LOCAL
from tests.serve.fakes import FakeSynthesizer

from tacotron.serve.app import create_app
from tacotron.serve.settings import ServeSettings
from tacotron.serve.voices import Voice


def _details(synthesizer, text: str, **fields) -> dict:
    settings = ServeSettings(max_sentence_chars=60)
    with TestClient(create_app([Voice("en", synthesizer)], settings), base_url=LOCAL) as client:
        response = client.post("/api/tts/details", json={"text": text, **fields})
    assert response.status_code == 200, response.text
    return response.json()


def _check(data: dict, n_words: int) -> list[dict]:
    words = data["words"]
    assert words is not None and len(words) == n_words, data["words_note"]
    bounds = [x for w in words for x in (w["start"], w["end"])]
    assert bounds == sorted(bounds) and bounds[0] >= 0
    assert bounds[-1] <= data["timing"]["audio_seconds"] + 1e-3
    return words


def test_fake_diagonal_gives_exact_word_times_across_pieces(tiny_synthesizer):
    fake = FakeSynthesizer(tiny_synthesizer.cfg)
    data = _details(fake, "One two. Three, four!")
    words = _check(data, 4)
    assert [w["word"] for w in words] == ["one", "two", "three", "four"]
    step = 256 / 22050  # r=1: one symbol per step
    assert words[0]["start"] == 0 and words[0]["end"] == pytest.approx(3 * step, abs=1e-4)
    assert words[1]["start"] == pytest.approx(4 * step, abs=1e-4)
    second_piece = (len("one two.") + 1) * step + 0.15  # first piece's audio, then the pause
    assert words[2]["start"] == pytest.approx(second_piece, abs=1e-3)


def test_speed_scales_word_times(tiny_synthesizer):
    fake = FakeSynthesizer(tiny_synthesizer.cfg)
    normal = _details(fake, "One two three.")["words"]
    fast = _details(fake, "One two three.", speed=2.0)["words"]
    assert [w["end"] for w in fast] == pytest.approx([w["end"] / 2 for w in normal], abs=1e-3)


def test_real_model_details_have_one_timing_per_word(tiny_synthesizer):
    data = _details(tiny_synthesizer, "Hello there, world. And again.", seed=1)
    _check(data, 5)
    assert "attention" in data["words_note"]


def test_phoneme_voices_report_no_timings(tiny_synthesizer):
    from types import SimpleNamespace

    voice = Voice("en", tiny_synthesizer, frontend=SimpleNamespace(cfg=SimpleNamespace(phonemes=True)))
    words, note = voice.word_timings([], [], 1.0)
    assert words is None and "phonemes" in note
