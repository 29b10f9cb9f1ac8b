"""A real, reproducible LJSpeech-format corpus synthesised with espeak-ng.

Why: tests, the smoke test and benchmarks need speech that a model can actually learn to align
(random noise cannot show whether attention works), in any size and in both supported languages,
without downloading anything. espeak-ng writes 22050 Hz 16-bit mono wavs, LJSpeech's format.

The corpus never contains a sentence returned by `heldout_sentences`, so synthesis and evaluation
can be measured on text the model has not seen.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import random
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tacotron.data.demo_sentences import generate, normalize_numbers

logger = logging.getLogger(__name__)

DEFAULT_VOICES = {"en": ["en-us"], "ru": ["ru"]}
SPEED_RANGE = (140, 175)  # espeak-ng words per minute
PITCH_RANGE = (40, 60)


class EspeakError(RuntimeError):
    """espeak-ng is missing or failed on a sentence (the message names the voice and text)."""


@dataclass(frozen=True)
class DemoItem:
    """One planned utterance: everything needed to synthesise it and to write its metadata line."""

    id: str
    text: str
    normalized: str
    voice: str
    speed: int
    pitch: int


def heldout_sentences(lang: str, n: int, seed: int = 0) -> list[str]:
    """`n` sentences that no demo corpus (any seed, any size) contains; for synthesis and evaluation."""
    return generate(lang, n, seed, heldout=True)


def plan_corpus(lang: str, n: int, seed: int, voices: list[str] | None = None) -> list[DemoItem]:
    """The deterministic list of utterances `write_demo_corpus` would synthesise (no audio)."""
    voices = list(voices) if voices else DEFAULT_VOICES.get(lang, [lang])
    rng = random.Random(f"{lang}:{seed}:voices")
    items = []
    for i, text in enumerate(generate(lang, n, seed, heldout=False)):
        items.append(
            DemoItem(
                id=f"demo{lang}-{i + 1:05d}",
                text=text,
                normalized=normalize_numbers(text, lang),
                voice=rng.choice(voices),
                speed=rng.randint(*SPEED_RANGE),
                pitch=rng.randint(*PITCH_RANGE),
            )
        )
    return items


def _espeak(item: DemoItem, wav_path: Path) -> None:
    cmd = ["espeak-ng", "-v", item.voice, "-s", str(item.speed), "-p", str(item.pitch), "-w", str(wav_path)]
    result = subprocess.run([*cmd, item.text], capture_output=True, text=True, check=False)
    if result.returncode != 0 or not wav_path.is_file() or wav_path.stat().st_size <= 44:
        raise EspeakError(
            f"espeak-ng failed (exit {result.returncode}) for voice {item.voice!r} on {item.text!r}: "
            f"{result.stderr.strip()}"
        )


def _metadata_csv(items: list[DemoItem]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="|", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n")
    for item in items:
        writer.writerow([item.id, item.text, item.normalized])
    return buf.getvalue()


def write_demo_corpus(
    out_dir: str | Path,
    lang: str = "en",
    n: int = 1200,
    seed: int = 0,
    voices: list[str] | None = None,
    workers: int | None = None,
) -> Path:
    """Write `out_dir/metadata.csv` (`id|text|normalized`, UTF-8) and `out_dir/wavs/<id>.wav`.

    Same (lang, n, seed, voices) gives a byte-identical metadata.csv. `voices` are espeak-ng voice
    names (e.g. ["en-us", "en-us+f3"]); each utterance picks one, plus a speed and pitch, from the seed.
    Returns `out_dir`.
    """
    if n < 1:
        raise ValueError(f"demo corpus size n must be >= 1, got {n}")
    out = write_items(out_dir, plan_corpus(lang, n, seed, voices), workers)
    logger.info("wrote %d %s utterances to %s", n, lang, out)
    return out


def write_items(out_dir: str | Path, items: list[DemoItem], workers: int | None = None) -> Path:
    """Synthesise `items` with espeak-ng into `out_dir` in LJSpeech layout; returns `out_dir`.

    Public so that a corpus in any espeak-ng language (a test's handful of German sentences) is made
    the same way as the demo corpus, which has sentence templates for English and Russian only.
    """
    if shutil.which("espeak-ng") is None:
        raise EspeakError("espeak-ng is not installed (apt-get install espeak-ng)")
    out = Path(out_dir)
    wavs = out / "wavs"
    wavs.mkdir(parents=True, exist_ok=True)
    workers = workers or min(8, 2 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # list() propagates the first EspeakError instead of leaving a silently incomplete corpus
        list(pool.map(lambda it: _espeak(it, wavs / f"{it.id}.wav"), items))
    (out / "metadata.csv").write_text(_metadata_csv(items), encoding="utf-8")
    logger.debug("voices %s in %s", sorted({i.voice for i in items}), out)
    return out


def write_reference_wavs(sentences: list[str], out_dir: str | Path, lang: str = "en") -> Path:
    """Ground-truth espeak-ng audio of evaluation sentences as `out_dir/001.wav, 002.wav, ...`.

    The voice, speed and pitch are the middle of what the corpus uses, so the evaluation's ceiling
    (ground truth through the same mel -> vocoder path) is judged on the speaker the model learnt.
    """
    if shutil.which("espeak-ng") is None:
        raise EspeakError("espeak-ng is not installed (apt-get install espeak-ng)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    voice = DEFAULT_VOICES.get(lang, [lang])[0]
    speed, pitch = sum(SPEED_RANGE) // 2, sum(PITCH_RANGE) // 2
    for i, text in enumerate(sentences, start=1):
        item = DemoItem(f"{i:03d}", text, normalize_numbers(text, lang), voice, speed, pitch)
        _espeak(item, out / f"{item.id}.wav")
    return out
