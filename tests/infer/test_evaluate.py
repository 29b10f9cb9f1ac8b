"""`tacotron eval` end to end on a tiny checkpoint, and the metrics it is built from."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from tests.helpers.speech import TRAINING_TEXT

from tacotron.cli import main
from tacotron.infer.evaluate import read_sentences, summarise
from tacotron.infer.metrics import mel_cepstral_distortion


def test_mcd_uses_the_cepstral_scale_of_its_formula():
    """A log-mel ripple a*cos(k w) is c_k = a/2 whatever the band count, so MCD = 10/ln10 * sqrt(2) * a/2."""
    for n_mels in (40, 80):
        w = np.pi * (np.arange(n_mels) + 0.5) / n_mels  # DCT-II sampling of the band axis
        base = np.tile(np.linspace(-8, 0, n_mels)[:, None], (1, 30))
        ripple = base + 0.5 * np.cos(3 * w)[:, None]
        expected = 10 / np.log(10) * np.sqrt(2) * 0.25
        assert mel_cepstral_distortion(ripple, base) == pytest.approx(expected, rel=1e-6)


def test_mcd_is_zero_for_identical_and_grows_with_distortion():
    rng = np.random.default_rng(0)
    mel = rng.normal(-4, 2, size=(80, 50))
    assert mel_cepstral_distortion(mel, mel) == pytest.approx(0.0, abs=1e-9)
    stretched = np.repeat(mel, 2, axis=1)  # same content, twice as slow: DTW absorbs it
    assert mel_cepstral_distortion(stretched, mel) == pytest.approx(0.0, abs=1e-9)
    small = mel_cepstral_distortion(mel + rng.normal(0, 0.1, mel.shape), mel)
    large = mel_cepstral_distortion(mel + rng.normal(0, 1.0, mel.shape), mel)
    assert 0 < small < large


def test_audio_mcds_see_the_vocoder_that_the_mel_mcd_cannot(tmp_path):
    """mcd_db compares mels only; mcd_audio_db / mcd_ceiling_db re-analyse what the vocoder rendered, so a
    vocoder giving back the reference exactly scores 0 there and a noisy one does not. The reference is
    vocoded on the model's device (Griffin-Lim runs wherever its mel is)."""
    from types import SimpleNamespace

    import soundfile as sf
    import torch

    from tacotron.audio import MelSpectrogram, mel_basis
    from tacotron.config import AudioConfig
    from tacotron.infer.evaluate import _reference_fields

    cfg = AudioConfig()
    t = np.arange(cfg.sample_rate // 2) / cfg.sample_rate
    wav = (0.3 * np.sin(2 * np.pi * (200 + 400 * t) * t)).astype(np.float32)
    sf.write(tmp_path / "001.wav", wav, cfg.sample_rate, subtype="FLOAT")  # no 16-bit rounding
    mel_fn = MelSpectrogram(cfg, mel_basis(cfg))
    ref_mel = mel_fn(torch.from_numpy(wav))
    noisy = wav + np.random.default_rng(0).normal(0, 0.05, wav.shape).astype(np.float32)
    scores, seen_on = {}, []

    def vocoder(rendered: np.ndarray):  # noqa: ANN202
        return lambda mel, frames: seen_on.append(mel.device) or [rendered]

    for name, rendered in (("exact", wav), ("noisy", noisy)):
        synth = SimpleNamespace(
            cfg=SimpleNamespace(audio=cfg), vocoder=vocoder(rendered), device=torch.device("meta")
        )
        result = SimpleNamespace(frames=ref_mel.shape[2], mel=ref_mel[0].numpy(), wav=rendered)
        record = {}
        _reference_fields(record, result, tmp_path / "001.wav", synth, mel_fn)
        scores[name] = record
    assert scores["exact"]["mcd_audio_db"] == pytest.approx(0.0, abs=1e-3)
    assert scores["exact"]["mcd_ceiling_db"] == pytest.approx(0.0, abs=1e-3)
    assert scores["noisy"]["mcd_audio_db"] > 1.0 and scores["noisy"]["mcd_ceiling_db"] > 1.0
    assert scores["noisy"]["mcd_db"] == scores["exact"]["mcd_db"]  # the mel MCD is blind to the vocoder
    assert seen_on == [torch.device("meta")] * 2


def test_read_sentences_with_and_without_ids(tmp_path):
    (tmp_path / "a.txt").write_text("Hello.\n\nWorld.\n", encoding="utf-8")
    assert [(s.id, s.text) for s in read_sentences(tmp_path / "a.txt")] == [
        ("001", "Hello."),
        ("002", "World."),
    ]
    (tmp_path / "b.txt").write_text("LJ001|Some text.|some text\n", encoding="utf-8")
    assert [(s.id, s.text) for s in read_sentences(tmp_path / "b.txt")] == [("LJ001", "Some text.")]
    (tmp_path / "c.txt").write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no sentences"):
        read_sentences(tmp_path / "c.txt")


def test_summary_counts_stop_reasons_and_corpus_wer():
    records = [
        {"stop_reason": "gate", "ref_words": ["a", "b"], "word_errors": 1, "oov_words": ["b"]},
        {"stop_reason": "max_steps", "ref_words": ["c", "d"], "word_errors": 2, "oov_words": []},
    ]
    summary = summarise(records)
    assert summary["share_stop_gate"] == 0.5 and summary["share_stop_max_steps"] == 0.5
    assert summary["wer"] == 0.75 and summary["oov_rate"] == 0.25
    assert summary["wer_ceiling"] is None and summary["mcd_db"] is None


def _nonnegative_numbers(mapping):
    return {k: v for k, v in mapping.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def test_eval_cli_end_to_end(tmp_path, tiny_checkpoint, espeak_refs, capsys):
    corpus = tmp_path / "metadata.csv"
    corpus.write_text("".join(f"x{i}|{t}|{t}\n" for i, t in enumerate(TRAINING_TEXT)), encoding="utf-8")
    out = tmp_path / "eval"
    code = main(
        [
            "eval",
            "--checkpoint",
            str(tiny_checkpoint),
            "--file",
            str(espeak_refs / "sentences.txt"),
            "--reference-dir",
            str(espeak_refs),
            "--corpus-text",
            str(corpus),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    report = json.loads((out / "eval.json").read_text(encoding="utf-8"))
    assert report["judge"]["used"] and "bigram from training text" in report["judge"]["lm"]
    summary = report["summary"]
    for key in ("share_stop_gate", "attn/diagonality", "length_ratio", "mcd_db", "wer", "wer_ceiling",
                "mcd_ceiling_db"):  # fmt: skip
        assert summary[key] is not None and 0 <= summary[key] < math.inf, key
    assert summary["wer_ceiling"] < 0.3  # ground truth through Griffin-Lim stays intelligible
    assert len(report["sentences"]) == 4
    for record in report["sentences"]:
        for key in (
            "frames",
            "stop_reason",
            "attn/diagonality",
            "length_ratio",
            "mcd_db",
            "wer",
            "wer_ceiling",
            "mcd_audio_db",  # None where the tiny model's audio is too short to analyse
            "mcd_ceiling_db",
        ):
            assert key in record
        assert all(v >= 0 for v in _nonnegative_numbers(record).values())
    assert (out / "wavs" / "004.wav").is_file()
    assert "summary:" in capsys.readouterr().out


def test_eval_without_asr_or_references_still_reports_health(tmp_path, tiny_checkpoint, capsys):
    lines = tmp_path / "s.txt"
    lines.write_text("One short line.\n", encoding="utf-8")
    assert (
        main(
            [
                "eval",
                "--checkpoint",
                str(tiny_checkpoint),
                "--file",
                str(lines),
                "--no-asr",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "o" / "eval.json").read_text(encoding="utf-8"))
    assert report["judge"] == {"used": False}
    assert report["summary"]["wer"] is None and report["summary"]["attn/diagonality"] >= 0
    code = main(
        [
            "eval",
            "--checkpoint",
            str(tiny_checkpoint),
            "--file",
            str(lines),
            "--no-asr",
            "--reference-dir",
            str(tmp_path),
        ]
    )
    assert code == 2 and "reference wav for sentence '001'" in capsys.readouterr().err
