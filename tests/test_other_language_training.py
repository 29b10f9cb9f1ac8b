"""A third language (German, espeak-ng phonemes) goes corpus -> prepare -> train -> synth at CI size."""

import json
import shutil

import numpy as np
import pytest
from tests.helpers.configs import tiny_config

from tacotron.data.demo_corpus import DemoItem, write_items
from tacotron.data.prepare import prepare_dataset
from tacotron.infer.synthesizer import Synthesizer
from tacotron.train import Trainer

SENTENCES = [
    "Der Hund läuft über die Brücke.",
    "Heute kaufen wir 12 Äpfel und drei Birnen.",
    "Wo ist die schöne Straße?",
    "Im Jahr 2024 regnete es oft.",
    "Ich möchte ein Glas Wasser, bitte.",
    "Die Kinder spielen im Garten.",
    "Um 7 Uhr fährt der Zug ab.",
    "Grüße aus München!",
]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_german_phoneme_corpus_prepares_trains_and_synthesises(tmp_path):
    pytest.importorskip("phonemizer")
    items = [DemoItem(f"de-{i:03d}", text, text, "de", 160, 50) for i, text in enumerate(SENTENCES)]
    corpus = write_items(tmp_path / "corpus", items, workers=2)
    cfg = tiny_config(text={"language": "de", "phonemes": True}, data={"val_fraction": 0.25})
    cfg.model.n_frames_per_step, cfg.model.max_decoder_steps = 3, 20
    cfg.train.max_steps, cfg.train.batch_size, cfg.train.n_val_synth = 3, 2, 0
    cfg.health.enabled = False
    cfg.validate()

    report = prepare_dataset(corpus, tmp_path / "data", cfg, workers=1)
    assert report.kept == len(SENTENCES) and not report.skipped
    manifest = (tmp_path / "data" / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    cleaned = [json.loads(line)["cleaned"] for line in manifest]
    assert any("ʏ" in text or "yː" in text for text in cleaned)  # ü as a German vowel, not folded to u
    assert not any(c.isdigit() for text in cleaned for c in text)  # 12, 2024, 7 as German words

    result = Trainer(cfg, tmp_path / "data", tmp_path / "run", device="cpu").fit()
    assert result.step == 3
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [m["loss"] for m in metrics if "loss" in m]
    assert losses and all(np.isfinite(losses))

    synth = Synthesizer.from_checkpoint(tmp_path / "run", language="de")
    (out,) = synth.synthesize(["Guten Morgen, 5 Brötchen bitte."], seed=0)
    assert out.wav.size > 0 and np.isfinite(out.wav).all()
    assert "ˈ" in out.cleaned and "fˈynf" in out.cleaned  # the 5 read as German "fünf", in IPA
