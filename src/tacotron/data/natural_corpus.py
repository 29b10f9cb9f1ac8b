"""An LJSpeech-layout corpus of natural-sounding speech: a festival voice reading real fortunes text.

Why: the espeak-ng demo corpus (157 template words) proves the pipeline runs; it cannot show that a
voice is learnt. Festival's HTS voice `cmu_us_slt_arctic_hts` (English) and `msu_ru_nsh_clunits`
(Russian) are built from a real speaker's recordings and install from Debian, as does the text.

Layout: `metadata.csv` (`id|text|spoken`, the spoken column being what the voice was given: the
text frontend's normalisation, so numbers are read exactly as the model will see them), `wavs/<id>.wav`
(22,050 Hz mono 16-bit, 1-10 s), `heldout.txt` + `heldout_wavs/NNN.wav` (the voice reading held-out
sentences: the references for `tacotron eval --reference-dir`), `rejected/<id>.txt` (clips rendered
outside 1-10 s or failed, with the reason) and `corpus.json` (what was kept, dropped and why).

Resumable: a wav is written to a temporary name and renamed, so an existing `wavs/<id>.wav` is
complete and is never rendered again; `metadata.csv` is written (atomically) once every clip exists.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tacotron.data.natural_text import (
    Unit,
    choose_heldout,
    collect_units,
    length_shaped_order,
    unseen_word_share,
)

logger = logging.getLogger(__name__)

SAMPLE_RATE = 22050
DURATION_RANGE = (1.0, 10.0)  # seconds, LJSpeech's range
MAX_N = 13100
CHUNK = 12  # utterances per festival process: start-up (~0.5-1 s, voice loading) amortised; resume stays fine-grained


class FestivalError(RuntimeError):
    """festival, the voice or the text collection is missing (the message names the apt packages)."""


@dataclass(frozen=True)
class FestivalVoice:
    name: str  # what `--voice` takes
    lang: str
    scheme: str  # festival's voice-selection function
    packages: tuple[str, ...]  # Debian packages that provide it
    length_scale: float  # speaking rate / 15 characters per second: scales the text-length bins


VOICES = {
    "slt": FestivalVoice("slt", "en", "voice_cmu_us_slt_arctic_hts", ("festival", "festvox-us-slt-hts"), 1.0),
    "ru-festival": FestivalVoice(
        "ru-festival", "ru", "voice_msu_ru_nsh_clunits", ("festival", "festvox-ru"), 0.75
    ),
}


def _install_hint(voice: FestivalVoice) -> str:
    fortunes = "fortunes" if voice.lang == "en" else "fortunes-ru"
    return f"apt-get install {' '.join(voice.packages)} {fortunes}"


def check_festival(voice: FestivalVoice) -> None:
    """Raise FestivalError (naming the packages) unless festival runs and knows `voice`."""
    if shutil.which("festival") is None:
        raise FestivalError(f"festival is not installed: {_install_hint(voice)}")
    probe = subprocess.run(
        ["festival", "--batch", f"({voice.scheme})"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0 or "error" in (probe.stdout + probe.stderr).lower():
        raise FestivalError(
            f"festival cannot load voice {voice.scheme} ({(probe.stdout + probe.stderr).strip()[:120]}): "
            f"{_install_hint(voice)}"
        )


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# festvox-ru's letter-to-sound rules have no entry for punctuation that stands alone or sticks to a word
# ("...и", "первыми!:-)"): festival dies on the sentence. What it is given instead reads the same words.
_RU_FESTIVAL_REWRITES = (
    (re.compile(r"[:;]-?[()DPp]+"), " "),  # emoticons
    (re.compile(r"^\W+"), ""),  # leading punctuation ("...и была", "-- Да")
    (re.compile(r"\s*(?:\.{2,}|…)\s*(?=\w)"), ", "),  # an ellipsis between words: a pause
    (re.compile(r"(?:\.{2,}|…)"), "."),
)


def _festival_text(unit: Unit, lang: str) -> str:
    """The text festival reads: `unit.spoken`; for Russian without the model's `+` stress marks and with
    the punctuation festvox-ru cannot read rewritten (`_RU_FESTIVAL_REWRITES`)."""
    if lang != "ru":
        return unit.spoken
    text = unit.spoken.replace("+", "")
    for pattern, replacement in _RU_FESTIVAL_REWRITES:
        text = pattern.sub(replacement, text)
    return text.strip()


def render_chunk(voice: FestivalVoice, jobs: list[tuple[Unit, Path]]) -> dict[Path, str]:
    """Render (unit, final wav path) jobs with festival; returns path -> failure reason.

    One festival process renders the jobs in order; when it dies on a sentence (a voice's rules can fail
    on text it cannot read), that sentence is the failure and the jobs after it go to a new process,
    so one bad sentence costs one clip, not the rest of the chunk. Two processes in a row that render
    nothing end the chunk (a festival that cannot render at all must not be restarted per sentence)."""
    failures: dict[Path, str] = {}
    idle = 0
    while jobs:
        done, stderr, code = _run_festival(voice, jobs)
        idle = idle + 1 if done == 0 else 0
        failed = jobs[done:] if idle == 2 else jobs[done : done + 1]
        failures.update({final: f"festival failed (exit {code}): {stderr[-200:]}" for _, final in failed})
        jobs = jobs[done + len(failed) :]
    return failures


def _run_festival(voice: FestivalVoice, jobs: list[tuple[Unit, Path]]) -> tuple[int, str, int]:
    """Render `jobs` in one festival process until it stops: (jobs rendered before the first missing
    output, festival's stderr, its exit code)."""
    with tempfile.TemporaryDirectory(prefix="tacotron-festival-") as tmp:
        raw = [Path(tmp) / f"{i}.wav" for i in range(len(jobs))]
        lines = [f"({voice.scheme})"]
        for (unit, _), path in zip(jobs, raw, strict=True):
            text = _scheme_string(_festival_text(unit, voice.lang))
            lines.append(f'(utt.save.wave (utt.synth (Utterance Text {text})) "{path}" \'riff)')
        script = Path(tmp) / "render.scm"
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = subprocess.run(
            ["festival", "--batch", str(script)], capture_output=True, text=True, check=False
        )
        for done, ((unit, final), path) in enumerate(zip(jobs, raw, strict=True)):
            if not path.is_file() or path.stat().st_size <= 44:
                return done, result.stderr.strip(), result.returncode
            _resample_atomically(path, final, unit)
    return len(jobs), result.stderr.strip(), result.returncode


def _sidecar(final: Path) -> Path:
    """Where the text a clip was rendered from is kept: a changed plan (code, seed, fortunes version)
    must re-render a clip rather than pair old audio with new text."""
    return final.parent / ".text" / f"{final.stem}.txt"


def is_current(final: Path, unit: Unit) -> bool:
    """The clip exists and was rendered from `unit`'s spoken text."""
    side = _sidecar(final)
    return final.is_file() and side.is_file() and side.read_text(encoding="utf-8") == unit.spoken


def _resample_atomically(source: Path, final: Path, unit: Unit) -> None:
    import soundfile as sf
    import soxr

    audio, rate = sf.read(source, dtype="float32")
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if rate != SAMPLE_RATE:
        audio = soxr.resample(audio, rate, SAMPLE_RATE)
    partial = final.with_name(f".{final.stem}.partial.wav")
    sf.write(partial, np.clip(audio, -1.0, 1.0), SAMPLE_RATE, subtype="PCM_16")
    _sidecar(final).parent.mkdir(exist_ok=True)
    _write_atomically(_sidecar(final), unit.spoken)  # a stale wav was removed before rendering
    os.replace(partial, final)


def _render_all(
    voice: FestivalVoice, jobs: list[tuple[Unit, Path]], workers: int
) -> tuple[int, dict[Path, str]]:
    """Render the jobs whose wav does not exist yet; (number rendered, path -> failure reason)."""
    todo = [(u, p) for u, p in jobs if not is_current(p, u)]
    for _, path in todo:
        path.unlink(missing_ok=True)
    size = max(1, min(CHUNK, -(-len(todo) // max(1, workers))))  # small jobs still use every worker
    chunks = [todo[i : i + size] for i in range(0, len(todo), size)]
    failures: dict[Path, str] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:  # each thread drives a festival process
        for result in pool.map(lambda chunk: render_chunk(voice, chunk), chunks):
            failures.update(result)
    if todo:
        logger.info(
            "rendered %d clips (%d failed) with %d festival processes", len(todo), len(failures), workers
        )
    return len(todo), failures


def _duration(path: Path) -> float:
    import soundfile as sf

    return sf.info(path).duration


@dataclass
class CorpusReport:
    """corpus.json: sizes, what was dropped and why, and the held-out unseen-word share."""

    voice: str
    lang: str
    seed: int
    n: int
    hours: float
    mean_chars: float
    mean_seconds: float
    rendered_rejected: dict
    text: dict
    heldout: int
    heldout_unseen_token_share: float | None
    heldout_unseen_type_share: float | None
    rendered_now: int = 0  # clips festival rendered in this call (0 on a complete re-run)


def plan_natural_corpus(voice: FestivalVoice, seed: int, n_heldout: int, root=None):
    """(held-out units, training candidates in order, sentence stats); deterministic from `seed`."""
    vocabulary = None
    if voice.lang == "en":
        from pocketsphinx import get_model_path

        from tacotron.text.words import read_dictionary

        vocabulary = set(read_dictionary(Path(get_model_path()) / "en-us" / "cmudict-en-us.dict"))
    scale = voice.length_scale
    units, stats = collect_units(voice.lang, seed, root, scale)
    heldout, pool = choose_heldout(units, n_heldout, seed, vocabulary, scale=scale)
    return heldout, length_shaped_order(pool, seed, scale), stats


def write_natural_corpus(
    out_dir: str | Path,
    voice: str = "slt",
    n: int = 1200,
    seed: int = 0,
    n_heldout: int = 50,
    workers: int | None = None,
    fortunes_root: str | Path | None = None,
) -> CorpusReport:
    """Render `n` clips (and `n_heldout` held-out references) into `out_dir`; see the module docstring."""
    if voice not in VOICES:
        raise ValueError(f"unknown festival voice {voice!r}; choose one of {sorted(VOICES)}")
    if not 1 <= n <= MAX_N:
        raise ValueError(f"n must be within 1..{MAX_N} (LJSpeech's size), got {n}")
    spec = VOICES[voice]
    check_festival(spec)
    workers = workers or len(os.sched_getaffinity(0))
    out = Path(out_dir)
    wavs, rejected_dir, ref_dir = out / "wavs", out / "rejected", out / "heldout_wavs"
    for folder in (wavs, rejected_dir, ref_dir):
        folder.mkdir(parents=True, exist_ok=True)
    heldout, order, stats = plan_natural_corpus(spec, seed, n_heldout, fortunes_root)
    kept, rendered = _render_training_clips(spec, order, n, wavs, rejected_dir, workers)
    refs = [(u, ref_dir / f"{i + 1:03d}.wav") for i, u in enumerate(heldout)]
    count, failures = _render_all(spec, refs, workers)
    for path, reason in failures.items():
        raise FestivalError(f"held-out reference {path} failed to render: {reason}")
    _write_atomically(out / "metadata.csv", "".join(f"{i}|{u.text}|{u.spoken}\n" for i, u, _ in kept))
    _write_atomically(out / "heldout.txt", "".join(f"{u.text}\n" for u in heldout))
    report = _report(spec, seed, kept, heldout, stats, rejected_dir)
    report.rendered_now = rendered + count
    _write_atomically(out / "corpus.json", json.dumps(asdict(report), indent=2, ensure_ascii=False) + "\n")
    return report


def _render_training_clips(
    spec: FestivalVoice, order: list[Unit], n: int, wavs: Path, rejected_dir: Path, workers: int
) -> tuple[list[tuple[str, Unit, float]], int]:
    """The first `n` units of `order` that render to 1-10 s: ([(id, unit, seconds)], clips rendered now).

    Ids follow the position in `order`, so the same seed gives the same id for the same text whatever
    `n` is, and a larger `n` later reuses every clip already rendered.
    """
    kept: list[tuple[str, Unit, float]] = []
    cursor = rendered = 0
    while len(kept) < n and cursor < len(order):
        stop = min(len(order), cursor + n - len(kept))
        batch = [(f"{spec.name}-{i + 1:05d}", order[i]) for i in range(cursor, stop)]
        cursor = stop
        todo = [(u, wavs / f"{i}.wav") for i, u in batch if _rejection(rejected_dir, i, u) is None]
        count, failures = _render_all(spec, todo, workers)
        rendered += count
        by_path = {p: u for u, p in todo}
        for path, reason in failures.items():
            _reject(rejected_dir, path.stem, by_path[path], reason)
        for item_id, unit in batch:
            kept.extend(_keep_or_reject(item_id, unit, wavs, rejected_dir))
    if len(kept) < n:
        logger.warning(
            "only %d of %d clips rendered within %s s (text pool exhausted)", len(kept), n, DURATION_RANGE
        )
    return kept, rendered


def _rejection(rejected_dir: Path, item_id: str, unit: Unit) -> str | None:
    """The recorded reason `item_id` was dropped, if it was dropped for this very text."""
    marker = rejected_dir / f"{item_id}.txt"
    if not marker.is_file():
        return None
    reason, _, spoken = marker.read_text(encoding="utf-8").partition("\n")
    return reason if spoken == unit.spoken else None


def _reject(rejected_dir: Path, item_id: str, unit: Unit, reason: str) -> None:
    # one line: the marker's first line is the reason, the rest the text (festival's stderr has newlines)
    _write_atomically(rejected_dir / f"{item_id}.txt", f"{' '.join(reason.split())}\n{unit.spoken}")


def _keep_or_reject(
    item_id: str, unit: Unit, wavs: Path, rejected_dir: Path
) -> list[tuple[str, Unit, float]]:
    if _rejection(rejected_dir, item_id, unit) is not None:
        return []
    import soundfile as sf

    path = wavs / f"{item_id}.wav"
    try:
        seconds = _duration(path)
    except sf.LibsndfileError as error:  # festival can leave a file libsndfile cannot open
        _reject(rejected_dir, item_id, unit, f"unreadable audio: {error}")
        path.unlink(missing_ok=True)
        return []
    if DURATION_RANGE[0] <= seconds <= DURATION_RANGE[1]:
        return [(item_id, unit, seconds)]
    _reject(rejected_dir, item_id, unit, f"duration {seconds:.2f} s outside {DURATION_RANGE}")
    path.unlink()
    return []


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _report(spec, seed, kept, heldout, stats, rejected_dir: Path) -> CorpusReport:
    reasons: dict[str, int] = {}
    for marker in rejected_dir.glob("*.txt"):
        key = marker.read_text(encoding="utf-8").split(" ")[0]  # "duration" or "festival"
        reasons[key] = reasons.get(key, 0) + 1
    shares = (None, None)
    if heldout and kept:
        shares = unseen_word_share([u.spoken for u in heldout], [u.spoken for _, u, _ in kept])
    seconds = [s for _, _, s in kept]
    return CorpusReport(
        voice=spec.name,
        lang=spec.lang,
        seed=seed,
        n=len(kept),
        hours=sum(seconds) / 3600,
        mean_chars=float(np.mean([len(u.spoken) for _, u, _ in kept])) if kept else 0.0,
        mean_seconds=float(np.mean(seconds)) if kept else 0.0,
        rendered_rejected=reasons,
        text={**asdict(stats), "rejected": dict(stats.rejected)},
        heldout=len(heldout),
        heldout_unseen_token_share=shares[0],
        heldout_unseen_type_share=shares[1],
    )
