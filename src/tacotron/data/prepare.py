"""`prepare_dataset`: corpus folder -> prepared dataset folder (see docs/ARCHITECTURE.md).

Why a dataset folder: training reads mels, ids and the exact audio/text config from one place,
so features and model cannot drift, and the GPU machine needs neither librosa nor soundfile.

Guarantees: one bad item never aborts the run (it is listed with a reason in report.json and
report.md); re-running recomputes only items whose source file (size, mtime) or relevant config or
transcript changed; the train/val split is a pure function of the kept ids.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import numpy as np

from tacotron.config import Config
from tacotron.data.prepare_item import ItemProcessor, ItemResult, item_hash, process_chunk, source_fingerprint
from tacotron.data.report import PrepareReport, write_report_md
from tacotron.data.sources import SourceItem, read_filelist, read_ljspeech

logger = logging.getLogger(__name__)

CHUNK = 16  # items per worker task: amortises building the frontend and mel module


def prepare_dataset(
    source_dir: str | Path,
    out_dir: str | Path,
    cfg: Config,
    workers: int | None = None,
    progress: bool = False,
    filelist: str | Path | None = None,
) -> PrepareReport:
    """Validate, trim and featurise every item of `source_dir` into `out_dir`.

    `source_dir` is LJSpeech-style (metadata.csv + wavs/) unless `filelist` (lines `path|text`,
    paths relative to `source_dir`) is given. `workers` defaults to cfg.data.workers; <= 1 runs
    in this process.
    """
    from tacotron.audio.mel import mel_basis

    source, out = Path(source_dir), Path(out_dir)
    items = read_filelist(Path(filelist), source) if filelist else read_ljspeech(source)
    (out / "mels").mkdir(parents=True, exist_ok=True)
    previous = _previous_results(out)
    todo, reused = _split_cached(items, previous, cfg, out)
    basis = mel_basis(cfg.audio)
    fresh = _run(todo, cfg, basis, out / "mels", workers or cfg.data.workers, progress)
    by_id = {r.id: r for r in [*reused, *fresh]}
    results = [by_id[item.id] for item in items]
    _remove_stale_mels(out, previous, {r.id for r in results if r.entry})
    report = _write_outputs(out, cfg, basis, results, processed=len(fresh), reused=len(reused))
    logger.info(
        "prepared %s: kept %d (train %d, val %d), skipped %d, recomputed %d, reused %d",
        out, report.kept, report.train, report.val, len(report.skipped), report.processed, report.reused,
    )  # fmt: skip
    return report


def _previous_results(out: Path) -> dict[str, ItemResult]:
    """Results of an earlier run in `out` (kept items from manifest.jsonl, skipped ones from report.json)."""
    found: dict[str, ItemResult] = {}
    manifest, report = out / "manifest.jsonl", out / "report.json"
    if manifest.is_file():
        for line in manifest.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            entry.pop("split", None)
            found[entry["id"]] = ItemResult(
                entry["id"],
                entry["source"],
                entry.get("fingerprint"),
                entry.get("item_hash", ""),
                entry=entry,
            )
    if report.is_file():
        for s in json.loads(report.read_text(encoding="utf-8")).get("skipped", []):
            found[s["id"]] = ItemResult(
                s["id"], s["path"], s.get("fingerprint"), s.get("item_hash", ""), None, s["reason"], s["detail"],
                s.get("unknown"),
            )  # fmt: skip
    return found


def _split_cached(
    items: list[SourceItem], previous: dict[str, ItemResult], cfg: Config, out: Path
) -> tuple[list[SourceItem], list[ItemResult]]:
    """Items to (re)compute, and earlier results still valid (same source file, config and text)."""
    todo, reused = [], []
    for item in items:
        old = previous.get(item.id)
        valid = (
            old is not None
            and not item.error
            and old.path == str(item.path)
            and old.item_hash == item_hash(cfg, item.text)
            and old.fingerprint == source_fingerprint(item.path)
            and (old.entry is None or (out / old.entry["mel"]).is_file())
        )
        if valid:
            reused.append(old)
        else:
            todo.append(item)
    return todo, reused


def _run(
    items: list[SourceItem], cfg: Config, basis: np.ndarray, mel_dir: Path, workers: int, progress: bool
) -> list[ItemResult]:
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
            for future in futures:
                chunk_results = future.result()
                results.extend(chunk_results)
                bar.update(len(chunk_results))
    bar.close()
    return results


def _remove_stale_mels(out: Path, previous: dict[str, ItemResult], kept_ids: set[str]) -> None:
    """Delete mels this tool wrote earlier for items that are no longer kept (so the folder stays consistent)."""
    for item_id, old in previous.items():
        if old.entry is not None and item_id not in kept_ids:
            (out / old.entry["mel"]).unlink(missing_ok=True)


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
    out: Path, cfg: Config, basis: np.ndarray, results: list[ItemResult], processed: int, reused: int
) -> PrepareReport:
    from tacotron.text import TextFrontend

    kept = [r.entry for r in results if r.entry is not None]
    val = split_ids([e["id"] for e in kept], cfg.data.val_fraction, cfg.data.val_max)
    lines = [
        json.dumps({**e, "split": "val" if e["id"] in val else "train"}, ensure_ascii=False) for e in kept
    ]
    (out / "manifest.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    cfg.save(out / "config.yaml")
    symbols = TextFrontend(cfg.text).symbols.to_dict()
    (out / "symbols.json").write_text(json.dumps(symbols, ensure_ascii=False, indent=1), encoding="utf-8")
    np.save(out / "mel_basis.npy", basis.astype(np.float32))
    skipped = [
        {"id": r.id, "path": r.path, "reason": r.reason, "detail": r.detail, "fingerprint": r.fingerprint,
         "item_hash": r.item_hash, **({"unknown": r.unknown} if r.unknown else {})}
        for r in results if r.entry is None
    ]  # fmt: skip
    unknown: Counter[str] = Counter()
    for r in results:
        unknown.update(r.unknown or {})
    report = PrepareReport(
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
    (out / "report.json").write_text(
        json.dumps(asdict(report), ensure_ascii=False, indent=1), encoding="utf-8"
    )
    write_report_md(out / "report.md", report)
    return report
