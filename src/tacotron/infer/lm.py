"""Word normalisation and a bigram ARPA language model for the speech-recognition judge.

Why a bigram LM from the *training* text: pocketsphinx's generic English LM is a poor judge of
espeak-like voices (WER about 0.6 even on ground truth), while a small LM over the domain's words
makes ground truth score near 0. It must be built from the training corpus only: an LM that has
seen the evaluated sentences would "recognise" them from babble and flatter the model.

Smoothing: absolute discounting with back-off to the unigram distribution (Ney, Essen and Kneser
1994), written in ARPA back-off form so any ARPA reader (pocketsphinx included) computes the same
probabilities: p(w|h) = (c(h,w) - D) / c(h) for seen pairs, else alpha(h) * p(w).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

BOS, EOS = "<s>", "</s>"
_LOG10_ZERO = -99.0


def discount(bigrams: Counter) -> float:
    """The absolute discount D = n1 / (n1 + 2 n2) (Ney et al.), kept within [0.1, 0.9] for tiny corpora."""
    counts = Counter(bigrams.values())
    n1, n2 = counts.get(1, 0), counts.get(2, 0)
    value = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
    return min(0.9, max(0.1, value))


def _count(sentences: list[list[str]]) -> tuple[Counter, Counter]:
    unigrams: Counter = Counter()
    bigrams: Counter = Counter()
    for words in sentences:
        tokens = [BOS, *words, EOS]
        unigrams.update(tokens)
        bigrams.update(zip(tokens[:-1], tokens[1:], strict=True))
    return unigrams, bigrams


def bigram_arpa(sentences: Iterable[list[str]]) -> str:
    """An ARPA-format bigram LM (text) over the given word lists; raises ValueError if there are none."""
    sentences = [s for s in sentences if s]
    if not sentences:
        raise ValueError("cannot build a language model from no words")
    unigrams, bigrams = _count(sentences)
    total = sum(c for w, c in unigrams.items() if w != BOS)  # <s> is never predicted
    p_uni = {w: (c / total if w != BOS else 0.0) for w, c in unigrams.items()}
    d = discount(bigrams)

    by_history: dict[str, list[tuple[str, int]]] = {}
    for (h, w), c in bigrams.items():
        by_history.setdefault(h, []).append((w, c))
    history_count = {h: sum(c for _, c in pairs) for h, pairs in by_history.items()}

    backoff: dict[str, float] = {}
    bigram_lines = []
    for h, pairs in sorted(by_history.items()):
        seen_mass = sum(p_uni[w] for w, _ in pairs)
        unseen_mass = 1.0 - seen_mass
        disc = d if unseen_mass > 1e-9 else 0.0  # h is followed by every word: nothing to back off to
        for w, c in sorted(pairs):
            bigram_lines.append(f"{math.log10((c - disc) / history_count[h]):.6f}\t{h} {w}")
        left = disc * len(pairs) / history_count[h]
        backoff[h] = math.log10(left / unseen_mass) if disc > 0 else _LOG10_ZERO

    unigram_lines = []
    for w in sorted(unigrams):
        logp = math.log10(p_uni[w]) if p_uni[w] > 0 else _LOG10_ZERO
        bow = f"\t{backoff[w]:.6f}" if w in backoff else ""
        unigram_lines.append(f"{logp:.6f}\t{w}{bow}")
    return "\n".join(
        [
            "\\data\\",
            f"ngram 1={len(unigram_lines)}",
            f"ngram 2={len(bigram_lines)}",
            "",
            "\\1-grams:",
            *unigram_lines,
            "",
            "\\2-grams:",
            *bigram_lines,
            "",
            "\\end\\",
            "",
        ]
    )


def corpus_sentences(path: str | Path) -> list[str]:
    """Training text from an LJSpeech metadata.csv (id|text[|normalized]) or a prepared dataset folder.

    From a dataset folder only items of split "train" are used, so validation text never reaches the LM.
    """
    import json

    path = Path(path)
    if path.is_dir():
        manifest = path / "manifest.jsonl"
        if not manifest.is_file():
            raise FileNotFoundError(f"{path} is a folder without manifest.jsonl (not a prepared dataset)")
        items = [
            json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        return [item["text"] for item in items if item.get("split", "train") == "train"]
    if not path.is_file():
        raise FileNotFoundError(f"corpus text not found: {path}")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if path.suffix == ".csv" or all("|" in line for line in lines):
        return [line.split("|")[-1] for line in lines]  # the normalised column when present
    return lines
