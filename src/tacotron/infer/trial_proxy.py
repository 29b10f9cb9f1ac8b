"""The Smart Tuner's held-out intelligibility judge: WER of a finished trial on a few validation sentences.

Why here and not in tune/: the judge (judge.py) and the synthesizer are inference code, a layer above
the tuner; `tacotron tune` hands `judge_proxy` to the trials (tune/proxy.py says how the result
enters the score). Kept cheap for CPU trials: `tune.proxy_sentences` sentences of the validation
split (never trained on), Griffin-Lim audio, decoding capped at EVAL_DECODE_FACTOR x the longest of
those references (as the trial's evaluations are), and a closed-vocabulary pocketsphinx LM built once
per process from the training split's text (what `tacotron eval --corpus-text DATASET` uses).
Returns None, so that the trial falls back to validation mel loss, when pocketsphinx is not
installed or the language is not English (the only offline acoustic model).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from tacotron.config import Config
from tacotron.tune.objective import decode_cap
from tacotron.tune.proxy import WER, ProxyResult

_JUDGES: dict[str, Any] = {}  # dataset folder -> its closed-vocabulary judge (the LM takes a moment)


def judge_available(cfg: Config) -> bool:
    """pocketsphinx installed and an English corpus: the judge can hear it."""
    return cfg.text.language == "en" and importlib.util.find_spec("pocketsphinx") is not None


def _judge(dataset_dir: Path, normalize: Any) -> Any:
    from tacotron.infer.judge import SphinxJudge
    from tacotron.infer.lm import corpus_sentences

    key = str(Path(dataset_dir).resolve())
    if key not in _JUDGES:
        _JUDGES[key] = SphinxJudge.from_training_text(corpus_sentences(dataset_dir), normalize)
    return _JUDGES[key]


def judge_proxy(run_dir: Path, cfg: Config, dataset_dir: Path, device: str = "cpu") -> ProxyResult | None:
    """Corpus WER of the trial's last checkpoint on `tune.proxy_sentences` held-out sentences, or None."""
    if not judge_available(cfg) or cfg.tune.proxy_sentences <= 0:
        return None
    from tacotron.data.dataset import PreparedDataset
    from tacotron.infer.judge import word_errors
    from tacotron.infer.synthesizer import Synthesizer
    from tacotron.text.words import words_of

    val = PreparedDataset(dataset_dir, "val")
    items = val.items[: cfg.tune.proxy_sentences]
    if not items:
        return None
    synth = Synthesizer.from_checkpoint(run_dir, device=device, fast=False)
    longest = max(int(item["frames"]) for item in items)
    cap = min(synth.cfg.model.max_decoder_steps, decode_cap(longest, synth.r))
    texts = [item["text"] for item in items]
    results = synth.synthesize(texts, len(texts), seed=0, deterministic=True, max_decoder_steps=cap)
    judge = _judge(dataset_dir, synth.frontend.normalize)
    references = [words_of(text, synth.frontend.normalize) for text in texts]
    heard = [judge.transcribe(r.wav, r.sample_rate) for r in results]
    words = sum(len(ref) for ref in references)
    errors = sum(word_errors(ref, hyp) for ref, hyp in zip(references, heard, strict=True))
    stopped = sum(r.stop_reason == "gate" for r in results)
    return ProxyResult(
        WER,
        errors / max(1, words),
        f"pocketsphinx with a training-text LM on {len(texts)} validation sentences ({words} words); "
        f"{stopped} stopped by the gate",
    )
