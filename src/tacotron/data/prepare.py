"""`prepare_dataset`: corpus folder -> prepared dataset folder (see docs/ARCHITECTURE.md).

Why a dataset folder: training reads mels, ids and the exact audio/text config from one place,
so features and model cannot drift, and the GPU machine needs neither librosa nor soundfile.

Guarantees: one bad item never aborts the run (it is listed with a reason in report.json and
report.md), whether its line is malformed, not UTF-8, has an unsafe id, or its text frontend or
audio processing raises; re-running recomputes only items whose source file (size, mtime),
relevant config or transcript changed (each mel's file name carries the hash of the settings that
made it, so a run with other settings cannot leave features that a manifest describes wrongly);
manifest.jsonl and the reports are replaced atomically, and a damaged manifest (truncated or
edited elsewhere) is rebuilt with a warning; the train/val split is a pure function of the kept ids.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import multiprocessing
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from tacotron.config import Config
from tacotron.data.prepare_item import (
    ItemProcessor,
    ItemResult,
    config_hash,
    describe_exception,
    item_hash,
    mel_file,
    process_chunk,
    source_fingerprint,
)
from tacotron.data.report import PrepareReport, atomic_write, write_report_md
from tacotron.data.sources import SourceItem, read_corpus, unsafe_id_reason

logger = logging.getLogger(__name__)

CHUNK = 16  # items per worker task: amortises building the frontend and mel module
# reasons that depend on more than the item, its settings and its file: computed again on every run
NOT_REUSED = {"text_frontend_error", "unexpected_error", "worker_error"}
_OWN_MEL = re.compile(r"(?:\w[\w.-]*\.[0-9a-f]{16}\.npy|\..+\.\d+\.tmp)")  # what prepare_item writes


def prepare_dataset(
    source_dir: str | Path,
    out_dir: str | Path,
    cfg: Config,
    workers: int | None = None,
    progress: bool = False,
    filelist: str | Path | None = None,
    fmt: str = "auto",
) -> PrepareReport:
    """Validate, trim and featurise every item of `source_dir` into `out_dir`.

    The description is `filelist` (paths relative to `source_dir`) or `source_dir/metadata.csv`,
    read in format `fmt` (`tacotron.data.sources.FORMATS`; `auto` refuses ambiguous layouts with
    CorpusFormatError). `workers` defaults to cfg.data.workers; <= 1 runs in this process.
    A report with `kept == 0` is returned, not raised: the caller decides.
    """
    from tacotron.audio.mel import mel_basis

    source, out = Path(source_dir), Path(out_dir)
    items = read_corpus(source, Path(filelist) if filelist else None, fmt)
    (out / "mels").mkdir(parents=True, exist_ok=True)
    previous = _previous_results(out)
    todo, reused, recomputed = _split_cached(items, previous, cfg, out)
    basis = mel_basis(cfg.audio)
    fresh = _run([items[i] for i in todo], cfg, basis, out / "mels", workers or cfg.data.workers, progress)
    by_index = {**reused, **dict(zip(todo, fresh, strict=True))}
    results = [by_index[i] for i in range(len(items))]
    _record_speakers(items, results)
    report = _write_outputs(
        out, cfg, basis, results, processed=len(fresh), reused=len(reused), recomputed=recomputed
    )
    # only after the new manifest is in place: until then the old one may still name these files
    _remove_stale_mels(out, previous, {r.entry["mel"] for r in results if r.entry})
    if recomputed:
        logger.warning(
            "recomputed %d items of an earlier run: %s", recomputed.total(), report.recomputed_line()
        )
    logger.info(
        "prepared %s: kept %d (train %d, val %d), skipped %d, recomputed %d, reused %d",
        out, report.kept, report.train, report.val, len(report.skipped), report.processed, report.reused,
    )  # fmt: skip
    return report


def _record_speakers(items: list[SourceItem], results: list[ItemResult]) -> None:
    """Each kept entry's "speaker" from this run's description (reused entries too: it is not a feature)."""
    for item, result in zip(items, results, strict=True):
        if result.entry is None:
            continue
        result.entry.pop("speaker", None)
        if item.speaker:
            result.entry["speaker"] = item.speaker


def speaker_table(entries: list[dict]) -> list[str]:
    """Speaker names in id order (sorted, so the ids depend only on the names); [] when single-speaker."""
    return sorted({e["speaker"] for e in entries if e.get("speaker")})


def _previous_results(out: Path) -> dict[str, ItemResult]:
    """Results of an earlier run in `out` (kept items from manifest.jsonl, skipped ones from report.json).

    Lines that do not parse (a truncated or edited file) are dropped with a warning: their items
    are simply recomputed, and the files are rewritten whole at the end of this run.
    """
    found: dict[str, ItemResult] = {}
    for entry in _read_jsonl(out / "manifest.jsonl", ("id", "mel", "source")):
        entry.pop("split", None)
        found[entry["id"]] = ItemResult(
            entry["id"], entry["source"], entry.get("fingerprint"), entry.get("item_hash", ""), entry=entry,
            config_hash=entry.get("config_hash", ""),
        )  # fmt: skip
    for s in _read_report_skipped(out / "report.json"):
        found[s["id"]] = ItemResult(
            s["id"], s["path"], s.get("fingerprint"), s.get("item_hash", ""), None, s["reason"], s["detail"],
            s.get("unknown"), s.get("config_hash", ""),
        )  # fmt: skip
    return found


def _read_jsonl(path: Path, required: tuple[str, ...]) -> list[dict]:
    if not path.is_file():
        return []
    entries, damaged = [], []
    for number, line in enumerate(path.read_bytes().decode("utf-8", "replace").splitlines(), start=1):
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            entry = None
        if isinstance(entry, dict) and all(isinstance(entry.get(k), str) for k in required):
            entries.append(entry)
        elif line.strip():
            damaged.append(number)
    if damaged:
        logger.warning(
            "%s is damaged (%d unreadable lines, first: line %d); their items will be recomputed "
            "and the file rebuilt", path, len(damaged), damaged[0],
        )  # fmt: skip
    return entries


def _read_report_skipped(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    try:
        skipped = json.loads(path.read_bytes().decode("utf-8", "replace")).get("skipped", [])
        keys = ("id", "path", "reason", "detail")
        return [s for s in skipped if all(isinstance(s.get(k), str) for k in keys)]
    except (json.JSONDecodeError, AttributeError, TypeError) as err:
        logger.warning("%s is damaged (%s); its skipped items will be checked again", path, err)
        return []


def _split_cached(
    items: list[SourceItem], previous: dict[str, ItemResult], cfg: Config, out: Path
) -> tuple[list[int], dict[int, ItemResult], Counter[str]]:
    """Indices of items to (re)compute, earlier results still valid by index, and why others were not.

    Valid means: the same source file (path, size, mtime), the same settings and transcript
    (`item_hash`), and for a kept item its mel file, named for that hash, still on disk.
    """
    todo, reused, recomputed = [], {}, Counter()
    settings = config_hash(cfg)
    for index, item in enumerate(items):
        old = previous.get(item.id)
        if old is None or item.error or old.path != str(item.path):
            todo.append(index)
            continue
        hashed = item_hash(cfg, item.text)
        stale = _why_stale(old, settings, hashed, source_fingerprint(item.path), out)
        if stale:
            todo.append(index)
            recomputed[stale] += 1
        else:
            reused[index] = old
    return todo, reused, recomputed


def _why_stale(old: ItemResult, settings: str, hashed: str, fingerprint: list[int] | None, out: Path) -> str:
    """The empty string when `old` is still this item's result, else why not (a RECOMPUTE_HELP key)."""
    if old.item_hash != hashed:
        if not old.config_hash:
            return "earlier_format"
        return "settings_changed" if old.config_hash != settings else "text_changed"
    if old.fingerprint != fingerprint:
        return "audio_changed"
    if old.entry is not None and (
        old.entry["mel"] != mel_file(old.id, hashed) or not (out / old.entry["mel"]).is_file()
    ):
        return "mel_missing"
    if old.entry is None and old.reason in NOT_REUSED:
        return "earlier_error"
    return ""


def _run(
    items: list[SourceItem], cfg: Config, basis: np.ndarray, mel_dir: Path, workers: int, progress: bool
) -> list[ItemResult]:
    """Results in the order of `items`; a failed worker costs its chunk's items (reported), not the run."""
    from tqdm import tqdm

    results: list[ItemResult] = []
    if not items:
        return results
    bar = tqdm(total=len(items), desc="prepare", unit="utt", disable=not progress)
    if workers <= 1 or len(items) < 2:
        processor = ItemProcessor(cfg, basis, mel_dir)
        for item in items:
            results.append(processor(item))
            bar.update(1)
    else:
        size = max(1, min(CHUNK, -(-len(items) // workers)))
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        # spawn: forking a process that already runs torch threads can deadlock
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(process_chunk, cfg.to_dict(), basis, str(mel_dir), c) for c in chunks]
            for chunk, future in zip(chunks, futures, strict=True):
                try:
                    chunk_results = future.result()
                except Exception as err:  # a crashed or killed worker process: report its items
                    chunk_results = [_worker_failed(item, cfg, err) for item in chunk]
                results.extend(chunk_results)
                bar.update(len(chunk_results))
    bar.close()
    return results


def _worker_failed(item: SourceItem, cfg: Config, err: Exception) -> ItemResult:
    result = ItemResult(
        item.id, str(item.path), None, item_hash(cfg, item.text), config_hash=config_hash(cfg)
    )
    result.reason, result.detail = "worker_error", describe_exception(err)
    return result


def _remove_stale_mels(out: Path, previous: dict[str, ItemResult], keep: set[str]) -> None:
    """Delete mel files this tool wrote that no kept item names (so the folder stays consistent).

    Only plain names inside `out/mels` are touched: files named the way prepare_item writes them,
    and files an earlier manifest named `mels/<safe id>.npy` (the format before hashed names).
    Nothing a manifest says can point this outside the dataset folder.
    """
    mel_dir = out / "mels"
    names = {p.name for p in mel_dir.iterdir() if _OWN_MEL.fullmatch(p.name) and not p.is_dir()}
    for old in previous.values():
        rel = old.entry["mel"] if old.entry else ""
        if rel.startswith("mels/") and rel.endswith(".npy") and not unsafe_id_reason(rel[5:-4]):
            names.add(rel[5:])
    for name in sorted(names - {rel[5:] for rel in keep}):
        (mel_dir / name).unlink(missing_ok=True)


def split_ids(ids: list[str], val_fraction: float, val_max: int) -> set[str]:
    """Validation ids: the ones with the smallest stable hash, round(n * val_fraction) of them.

    Capped at `val_max`; at least one when there are >= 2 items and val_fraction > 0, so validation
    always has something to measure. Depends only on the ids, never on their order.
    """
    if val_fraction <= 0 or len(ids) < 2:
        return set()
    n_val = min(val_max, max(1, round(len(ids) * val_fraction)), len(ids) - 1)
    ranked = sorted(ids, key=lambda i: hashlib.sha1(i.encode("utf-8")).hexdigest())
    return set(ranked[:n_val])


def _write_outputs(
    out: Path,
    cfg: Config,
    basis: np.ndarray,
    results: list[ItemResult],
    processed: int,
    reused: int,
    recomputed: Counter[str],
) -> PrepareReport:
    """config, symbols and filterbank first, then the manifest, then the reports; each replaced atomically."""
    from tacotron.text import TextFrontend

    kept = [r.entry for r in results if r.entry is not None]
    val = split_ids([e["id"] for e in kept], cfg.data.val_fraction, cfg.data.val_max)
    atomic_write(out / "config.yaml", cfg.to_yaml().encode("utf-8"))
    symbols = TextFrontend(cfg.text).symbols.to_dict()
    atomic_write(out / "symbols.json", json.dumps(symbols, ensure_ascii=False, indent=1).encode("utf-8"))
    _write_speakers(out, kept)
    buffer = io.BytesIO()
    np.save(buffer, basis.astype(np.float32))
    atomic_write(out / "mel_basis.npy", buffer.getvalue())
    lines = [
        json.dumps({**e, "split": "val" if e["id"] in val else "train"}, ensure_ascii=False) for e in kept
    ]
    atomic_write(out / "manifest.jsonl", "".join(line + "\n" for line in lines).encode("utf-8"))
    report = _build_report(out, results, kept, val, processed, reused)
    report.recomputed = dict(recomputed.most_common())
    atomic_write(
        out / "report.json", json.dumps(asdict(report), ensure_ascii=False, indent=1).encode("utf-8")
    )
    write_report_md(out / "report.md", report)
    return report


def _write_speakers(out: Path, kept: list[dict]) -> None:
    """speakers.json (names in id order) for a multi-speaker corpus; removed for a single-speaker one."""
    speakers = speaker_table(kept)
    if speakers:
        atomic_write(
            out / "speakers.json", json.dumps(speakers, ensure_ascii=False, indent=1).encode("utf-8")
        )
    else:
        (out / "speakers.json").unlink(missing_ok=True)


def _build_report(
    out: Path, results: list[ItemResult], kept: list[dict], val: set[str], processed: int, reused: int
) -> PrepareReport:
    skipped = [
        {"id": r.id, "path": r.path, "reason": r.reason, "detail": r.detail, "fingerprint": r.fingerprint,
         "item_hash": r.item_hash, "config_hash": r.config_hash, **({"unknown": r.unknown} if r.unknown else {})}
        for r in results if r.entry is None
    ]  # fmt: skip
    unknown: Counter[str] = Counter()
    for r in results:
        unknown.update(r.unknown or {})
    return PrepareReport(
        out_dir=str(out),
        kept=len(kept),
        train=len(kept) - len(val),
        val=len(val),
        seconds=round(sum(e["seconds"] for e in kept), 2),
        processed=processed,
        reused=reused,
        skipped=skipped,
        unknown_characters=dict(unknown.most_common()),
        reasons=dict(Counter(s["reason"] for s in skipped).most_common()),
    )
