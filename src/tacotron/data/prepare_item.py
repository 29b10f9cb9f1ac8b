"""Validating and featurising one corpus item (runs inside `prepare` worker processes).

Every check returns a reason code instead of raising, so a corrupt file among thousands becomes a
line in report.json. Reason codes: missing_file, empty_file, corrupt_audio, silent, too_short,
too_long, empty_text, unknown_characters, implausible_text_ratio, text_frontend_error (any other
exception from cleaning or encoding the text, e.g. num2words' OverflowError for a 400-digit
number) and unexpected_error (any other exception for this item); plus malformed_line,
undecodable_line, unsafe_id, duplicate_id and missing_transcript (VCTK audio without its .txt) from
reading the corpus description.
text_frontend_error and unexpected_error carry the exception's type and message, and a later run
tries such items again instead of reusing the verdict.

A mel file is named after the item and its `item_hash` (`mels/<id>.<hash>.npy`), so its name says
which audio/text settings made it: a run with other settings writes other files, and can never leave
a file that an earlier manifest names with features it did not describe.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tacotron.config import Config
from tacotron.data.sources import SourceItem, unsafe_id_reason

logger = logging.getLogger(__name__)


@dataclass
class ItemResult:
    """Outcome for one item: `entry` is the manifest line when kept, else `reason` and `detail` say why not."""

    id: str
    path: str
    fingerprint: list[int] | None  # [size, mtime_ns] of the source audio when it existed
    item_hash: str
    entry: dict[str, Any] | None = None
    reason: str = ""
    detail: str = ""
    unknown: dict[str, int] | None = None
    config_hash: str = ""  # `config_hash` of the settings that made this result ("" from before it existed)


def source_fingerprint(path: Path) -> list[int] | None:
    """[size, mtime_ns] of a file, or None when it does not exist (resume compares these)."""
    if not path.is_file():
        return None
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]


def config_hash(cfg: Config) -> str:
    """Hash of the settings that determine an item's features and checks: audio, text, data validation.

    Stored with every item, so a later `prepare` with other settings recomputes it (and can say why).
    """
    data_keys = ("min_seconds", "max_seconds", "silence_db", "trim_db", "min_chars_per_second",
                 "max_chars_per_second")  # fmt: skip
    payload = {
        "audio": vars(cfg.audio),
        "text": vars(cfg.text),
        "data": {k: getattr(cfg.data, k) for k in data_keys},
    }
    return _sha1(payload)


def item_hash(cfg: Config, text: str) -> str:
    """Hash of everything besides the audio file that determines an item's result.

    Audio, text and data-validation settings plus the item's raw text: a change to any of them
    invalidates the cached result for that item on the next `prepare`.
    """
    return _sha1({"config": config_hash(cfg), "raw_text": text})


def mel_file(item_id: str, hashed: str) -> str:
    """Dataset-relative name of an item's mel: `mels/<id>.<item_hash>.npy` (the id must be safe)."""
    return f"mels/{item_id}.{hashed}.npy"


def _sha1(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


class ItemProcessor:
    """Holds the per-process text frontend and mel module; `__call__(item)` -> ItemResult."""

    def __init__(self, cfg: Config, basis: np.ndarray, mel_dir: Path) -> None:
        from tacotron.audio.mel import MelSpectrogram
        from tacotron.text import TextFrontend

        self.cfg = cfg
        self.frontend = TextFrontend(cfg.text)
        self.mel = MelSpectrogram(cfg.audio, basis)
        self.mel_dir = mel_dir

    def __call__(self, item: SourceItem) -> ItemResult:
        """The item's result; never raises for a problem with this one item (see the reason codes above)."""
        hashes = {"item_hash": item_hash(self.cfg, item.text), "config_hash": config_hash(self.cfg)}
        if item.error:  # its path may not name an audio file at all: do not even stat it
            return _skip(ItemResult(item.id, str(item.path), None, **hashes), item.error, item.detail)
        result = ItemResult(item.id, str(item.path), source_fingerprint(item.path), **hashes)
        try:
            return self._process(item, result)
        except Exception as err:  # reported as this item's reason; the run goes on with the others
            logger.debug("item %s failed", item.id, exc_info=True)
            return _skip(result, "unexpected_error", describe_exception(err))

    def _process(self, item: SourceItem, result: ItemResult) -> ItemResult:
        text_check = self._check_text(item.text, result)
        if isinstance(text_check, ItemResult):
            return text_check
        cleaned, ids = text_check
        wav = self._load_audio(item.path, result)
        if isinstance(wav, ItemResult):
            return wav
        return self._featurise(item, cleaned, ids, wav, result)

    def _check_text(self, text: str, result: ItemResult) -> ItemResult | tuple[str, list[int]]:
        from tacotron.text import EmptyTextError, UnknownCharactersError

        if not text.strip():
            return _skip(result, "empty_text", "the transcript is empty")
        try:
            cleaned = self.frontend.clean(text)
            ids = self.frontend.encode_cleaned(cleaned, original=text)
        except UnknownCharactersError as err:
            result.unknown = dict(err.chars)
            listed = ", ".join(f"{c!r} (U+{ord(c):04X}) x{n}" for c, n in err.chars.most_common())
            return _skip(result, "unknown_characters", f"not in the symbol table: {listed}")
        except EmptyTextError as err:
            return _skip(result, "empty_text", str(err))
        except Exception as err:  # e.g. NumberExpansionError (a number bomb): the item's reason, not a crash
            logger.debug("text frontend failed on %r", text[:80], exc_info=True)
            return _skip(result, "text_frontend_error", describe_exception(err))
        return cleaned, ids

    def _load_audio(self, path: Path, result: ItemResult) -> ItemResult | np.ndarray:
        from tacotron.audio.io import AudioError, load_wav, peak_dbfs

        if not path.is_file():
            return _skip(result, "missing_file", f"audio file not found: {path}")
        if path.stat().st_size == 0:
            return _skip(result, "empty_file", "audio file is 0 bytes")
        try:
            wav = load_wav(path, self.cfg.audio.sample_rate)
        except AudioError as err:
            return _skip(result, "corrupt_audio", err.detail)
        peak = peak_dbfs(wav)
        if peak < self.cfg.data.silence_db:
            return _skip(
                result, "silent", f"peak {peak:.1f} dBFS is below data.silence_db={self.cfg.data.silence_db}"
            )
        return wav

    def _featurise(
        self, item: SourceItem, cleaned: str, ids: list[int], wav: np.ndarray, result: ItemResult
    ) -> ItemResult:
        import torch

        a, d = self.cfg.audio, self.cfg.data
        raw_seconds = len(wav) / a.sample_rate
        if d.trim_db > 0:
            import librosa

            wav, _ = librosa.effects.trim(
                wav, top_db=d.trim_db, frame_length=a.n_fft, hop_length=a.hop_length
            )
        seconds = len(wav) / a.sample_rate
        if seconds < d.min_seconds or len(wav) <= a.n_fft:
            return _skip(
                result, "too_short", f"{seconds:.2f} s after trimming < data.min_seconds={d.min_seconds}"
            )
        if seconds > d.max_seconds:
            return _skip(
                result, "too_long", f"{seconds:.2f} s after trimming > data.max_seconds={d.max_seconds}"
            )
        rate = len(cleaned) / seconds
        if not d.min_chars_per_second <= rate <= d.max_chars_per_second:
            return _skip(
                result,
                "implausible_text_ratio",
                f"{rate:.1f} characters per second is outside "
                f"[{d.min_chars_per_second}, {d.max_chars_per_second}] ({len(cleaned)} chars, {seconds:.2f} s)",
            )
        with torch.no_grad():
            mel = self.mel(torch.from_numpy(np.ascontiguousarray(wav)))[0].numpy().astype(np.float32)
        rel = mel_file(item.id, result.item_hash)
        _save_npy(self.mel_dir / Path(rel).name, item.id, mel)
        result.entry = {
            "id": item.id,
            "text": item.text,
            "cleaned": cleaned,
            "ids": ids,
            "mel": rel,
            "frames": int(mel.shape[1]),
            "seconds": round(seconds, 4),
            "raw_seconds": round(raw_seconds, 4),
            "source": str(item.path),
            "fingerprint": result.fingerprint,
            "item_hash": result.item_hash,
            "config_hash": result.config_hash,
        }
        return result


def _save_npy(path: Path, item_id: str, array: np.ndarray) -> None:
    """Write via a temporary file and rename, so a killed run never leaves a truncated mel under its name."""
    unsafe = unsafe_id_reason(item_id)
    if unsafe:  # sources.py reports these; this guards any other caller
        raise ValueError(f"refusing to write a mel for an unsafe id: {unsafe}")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.save(f, array)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def describe_exception(err: BaseException) -> str:
    """`Type: message (at file:line)` of the innermost frame, so a report line points at the failing code."""
    message = str(err)[:300]
    frame = err.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = f" (at {Path(frame.tb_frame.f_code.co_filename).name}:{frame.tb_lineno})" if frame else ""
    return f"{type(err).__name__}: {message}{where}"


def _skip(result: ItemResult, reason: str, detail: str) -> ItemResult:
    result.reason = reason
    result.detail = detail
    return result


def process_chunk(
    cfg_dict: dict[str, Any], basis: np.ndarray, mel_dir: str, items: list[SourceItem]
) -> list[ItemResult]:
    """Worker entry point: one frontend and mel module per chunk, so they are built once, not per item."""
    import torch

    torch.set_num_threads(1)  # several worker processes share the cores
    processor = ItemProcessor(Config.from_dict(cfg_dict), basis, Path(mel_dir))
    return [processor(item) for item in items]
