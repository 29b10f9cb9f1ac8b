"""Which fortunes sentences a natural corpus speaks, in which order, and which are held out.

Why this shape:
- Utterances ("units") are one sentence or a few consecutive sentences of one fortune, so long
  clips exist (fortunes are mostly short) and no clip joins text that was not adjacent.
- Units are ordered by drawing a character-length bin from an LJSpeech-like histogram for every
  position, so every prefix of the order (any `--n`) has the same length distribution, and a corpus
  of n items is the first n of the order that render to 1-10 s.
- Held-out units are chosen before the order, from units whose words mostly occur in no other unit,
  so at least `min_unseen` of their words never occur in any training corpus drawn from this pool.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from tacotron.config import TextConfig
from tacotron.data.fortune_text import SentenceStats, fortune_blocks, fortune_sentences, reject_reason
from tacotron.text import EmptyTextError, TextFrontend, UnknownCharactersError
from tacotron.text.words import words_of

# Character-length bins of the normalised (spoken) text and their shares, shaped like LJSpeech
# (normalised texts of about 15-170 characters, mean about 100; at ~15 characters per second that is
# 1-11 s). Clips that still render outside 1-10 s are dropped after synthesis.
LENGTH_BINS = ((15, 40), (40, 65), (65, 90), (90, 115), (115, 140), (140, 171))
LENGTH_SHARES = (0.06, 0.12, 0.18, 0.24, 0.24, 0.16)
HELDOUT_CHARS = (30, 170)


@dataclass(frozen=True)
class Unit:
    """One planned utterance: `text` as written, `spoken` as the frontend normalises it."""

    key: str  # "<file>:<fortune>:<first sentence>", stable across runs and seeds
    text: str
    spoken: str


def _bin_of(length: int, scale: float = 1.0) -> int:
    for index, (low, high) in enumerate(LENGTH_BINS):
        if low * scale <= length < high * scale:
            return index
    return -1


def _target_length(rng: random.Random, scale: float) -> int:
    low, high = rng.choices(LENGTH_BINS, weights=LENGTH_SHARES)[0]
    return rng.randrange(int(low * scale), int(high * scale))


def collect_units(
    lang: str, seed: int = 0, root=None, scale: float = 1.0
) -> tuple[list[Unit], SentenceStats]:
    """All usable units of the fortunes of `lang`, deduplicated, in file order; plus what was dropped.

    A sentence is usable when `reject_reason` passes it and the text frontend (default `TextConfig`
    of `lang`) encodes it; frontend rejections are counted as "frontend_<error>". `scale` multiplies
    LENGTH_BINS for a voice that speaks slower (< 1) or faster than ~15 characters per second.
    """
    frontend = TextFrontend(TextConfig(language=lang))
    stats = SentenceStats()
    units: list[Unit] = []
    seen: set[str] = set()
    files: set[str] = set()
    for file_name, index, block in fortune_blocks(lang, root):
        files.add(file_name)
        stats.files = len(files)
        stats.fortunes += 1
        sentences = fortune_sentences(block)
        if not sentences:
            stats.fortunes_skipped += 1
            continue
        runs: list[list[tuple[int, str, str]]] = [[]]  # runs of adjacent usable sentences
        for position, sentence in enumerate(sentences):
            stats.sentences_seen += 1
            reason = reject_reason(sentence, lang)
            spoken = ""
            if not reason:
                spoken = frontend.normalize(sentence)
                try:
                    frontend.encode_cleaned(spoken, original=sentence)
                except (UnknownCharactersError, EmptyTextError) as err:
                    reason = f"frontend_{type(err).__name__}"
            if reason:
                stats.rejected[reason] += 1
                runs.append([])
            else:
                stats.kept += 1
                runs[-1].append((position, sentence, spoken))
        rng = random.Random(f"{lang}:{seed}:{file_name}:{index}")
        for run in runs:
            for unit in _merge_run(run, rng, f"{file_name}:{index}", scale):
                if unit.spoken in seen or _bin_of(len(unit.spoken), scale) < 0:
                    stats.duplicates += unit.spoken in seen
                    continue
                seen.add(unit.spoken)
                units.append(unit)
    return units, stats


def _merge_run(run: list[tuple[int, str, str]], rng: random.Random, prefix: str, scale: float) -> list[Unit]:
    """Join adjacent sentences while the spoken text stays within a length drawn from the histogram."""
    units, i = [], 0
    while i < len(run):
        target = _target_length(rng, scale)
        j = i + 1
        while j < len(run) and len(" ".join(s for _, _, s in run[i : j + 1])) <= target:
            j += 1
        group = run[i:j]
        units.append(
            Unit(
                key=f"{prefix}:{group[0][0]}",
                text=" ".join(t for _, t, _ in group),
                spoken=" ".join(s for _, _, s in group),
            )
        )
        i = j
    return units


def unit_words(unit: Unit) -> list[str]:
    return words_of(unit.spoken)


def choose_heldout(
    units: list[Unit],
    n: int,
    seed: int = 0,
    vocabulary: set[str] | None = None,
    unseen_range: tuple[float, float] = (0.34, 0.6),
    rare: int = 3,
    scale: float = 1.0,
) -> tuple[list[Unit], list[Unit]]:
    """(held-out units, training pool). A held-out unit has a share within `unseen_range` of "rare" words
    (in at most `rare` units); every other unit holding one of those words is left out of the training
    pool, so no training corpus drawn from the pool contains them.

    `vocabulary` (e.g. the judge's pronunciation dictionary): when given, every word of a held-out unit
    must be in it, so an open-vocabulary judge can recognise each word and unseen words are real words
    rather than names and misspellings. The upper bound keeps held-out sentences ordinary prose.
    """
    if n <= 0:
        return [], list(units)
    words = [unit_words(u) for u in units]
    units_with = Counter(w for ws in words for w in set(ws))
    low, high = unseen_range
    candidates = [
        i
        for i, (u, ws) in enumerate(zip(units, words, strict=True))
        if len(ws) >= 6
        and HELDOUT_CHARS[0] * scale <= len(u.spoken) <= HELDOUT_CHARS[1] * scale
        and low * len(ws) <= sum(units_with[w] <= rare for w in ws) <= high * len(ws)
        and (vocabulary is None or all(w in vocabulary for w in ws))
    ]
    random.Random(f"heldout:{seed}").shuffle(candidates)
    chosen: list[int] = []
    reserved: set[str] = set()  # rare words of the chosen units
    for i in candidates:
        if len(chosen) == n:
            break
        if reserved.isdisjoint(words[i]):  # two held-out units never share a rare word
            chosen.append(i)
            reserved.update(w for w in words[i] if units_with[w] <= rare)
    if len(chosen) < n:
        raise ValueError(
            f"only {len(chosen)} units qualify as held-out sentences, asked for {n} (a held-out sentence has "
            f"6 or more words, {low:.0%}-{high:.0%} of them rare, every word in the judge's dictionary, and "
            "shares no rare word with another)"
        )
    picked = set(chosen)
    heldout = [units[i] for i in sorted(picked)]
    pool = [u for i, u in enumerate(units) if i not in picked and reserved.isdisjoint(words[i])]
    return heldout, pool


def length_shaped_order(units: list[Unit], seed: int = 0, scale: float = 1.0) -> list[Unit]:
    """All `units`, ordered so that every prefix follows LENGTH_SHARES (until a bin runs out)."""
    rng = random.Random(f"order:{seed}")
    bins: list[list[Unit]] = [[] for _ in LENGTH_BINS]
    for unit in units:
        bins[_bin_of(len(unit.spoken), scale)].append(unit)
    for members in bins:
        rng.shuffle(members)
    order = []
    for _ in range(len(units)):
        wanted = rng.choices(range(len(LENGTH_BINS)), weights=LENGTH_SHARES)[0]
        nearest = min((b for b in range(len(bins)) if bins[b]), key=lambda b: (abs(b - wanted), -b))
        order.append(bins[nearest].pop())
    return order


def unseen_word_share(heldout: list[str], training: list[str]) -> tuple[float, float]:
    """(token share, type share) of held-out words that occur nowhere in the training text."""
    known = {w for text in training for w in words_of(text)}
    tokens = [w for text in heldout for w in words_of(text)]
    types = set(tokens)
    if not tokens:
        raise ValueError("the held-out text has no words")
    return (
        sum(w not in known for w in tokens) / len(tokens),
        sum(w not in known for w in types) / len(types),
    )
