"""A Russian espeak-ng corpus prepared with automatic stress (`text.stress: auto`) trains end to end."""

import json

import pytest
from tests.helpers.configs import tiny_config

from tacotron.data.demo_corpus import write_demo_corpus
from tacotron.data.prepare import prepare_dataset
from tacotron.train import Trainer


@pytest.mark.slow
def test_russian_corpus_with_auto_stress_prepares_and_trains(tmp_path):
    corpus = write_demo_corpus(tmp_path / "corpus", lang="ru", n=8, seed=0)
    cfg = tiny_config(text={"language": "ru", "stress": "auto"}, data={"val_fraction": 0.25})
    cfg.model.n_frames_per_step = 3
    report = prepare_dataset(corpus, tmp_path / "data", cfg, workers=1)
    assert report.kept == 8 and not report.skipped
    items = [json.loads(line) for line in (tmp_path / "data" / "manifest.jsonl").read_text().splitlines()]
    stressed = [item["cleaned"] for item in items if "+" in item["cleaned"]]
    assert len(stressed) == len(items), "every sentence should carry automatic stress marks"
    assert all(any("а" <= ch <= "я" or ch == "ё" for ch in text) for text in stressed)  # Cyrillic kept

    cfg.train.max_steps, cfg.train.batch_size = 3, 2
    result = Trainer(cfg, tmp_path / "data", tmp_path / "run", device="cpu").fit()
    assert result.step == 3
    losses = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(m["loss"] == m["loss"] for m in losses if "loss" in m)  # finite, no NaN
