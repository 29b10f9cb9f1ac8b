"""report.md for a prepared dataset: what was kept, and every skipped item with its reason.

Why a readable report: "nothing is lost silently" only helps if a person can see, in one page,
which files were dropped and why, and which characters the alphabet lacks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REASON_HELP = {
    "missing_file": "the audio file does not exist",
    "empty_file": "the audio file is 0 bytes",
    "corrupt_audio": "the audio file cannot be decoded",
    "silent": "peak level below data.silence_db",
    "too_short": "shorter than data.min_seconds after trimming",
    "too_long": "longer than data.max_seconds after trimming",
    "empty_text": "the transcript is empty",
    "unknown_characters": "the transcript has characters outside the symbol table",
    "implausible_text_ratio": "characters per second outside data.min/max_chars_per_second",
    "malformed_line": "the metadata line cannot be parsed",
    "undecodable_line": "the metadata line (or VCTK transcript file) is not UTF-8",
    "missing_transcript": "audio without a transcript file (VCTK layout)",
    "unsafe_id": "the id is not a safe file name (letters, digits, _ - . only)",
    "duplicate_id": "the id appears more than once",
    "text_frontend_error": "cleaning or encoding the transcript raised an exception",
    "unexpected_error": "processing the item raised an exception",
    "worker_error": "the worker process handling the item failed",
}

RECOMPUTE_HELP = {
    "settings_changed": "audio/text/data settings differ from the run that made it",
    "text_changed": "the transcript changed",
    "audio_changed": "the audio file changed (size or mtime)",
    "mel_missing": "its mel file is missing",
    "earlier_error": "it failed with an exception before",
    "earlier_format": "it was made by an earlier version of prepare",
}


@dataclass
class PrepareReport:
    """What `prepare_dataset` did. `processed` counts items recomputed this run, `reused` those kept from before."""

    out_dir: str
    kept: int
    train: int
    val: int
    seconds: float
    processed: int
    reused: int
    skipped: list[dict[str, Any]] = field(default_factory=list)
    unknown_characters: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    recomputed: dict[str, int] = field(default_factory=dict)  # why earlier results were not reused

    def reasons_line(self, limit: int = 4) -> str:
        """The skip reasons in one line, most frequent first, e.g. '9 x missing_file, 3 x unsafe_id'."""
        parts = [f"{n} x {r}" for r, n in list(self.reasons.items())[:limit]]
        rest = sum(list(self.reasons.values())[limit:])
        return (
            ", ".join(parts + ([f"{rest} x other reasons"] if rest else []))
            or "no items in the corpus description"
        )

    def recomputed_line(self) -> str:
        """Why earlier results were recomputed, e.g. '23 settings_changed (audio/text/data settings ...)'."""
        return ", ".join(f"{n} {r} ({RECOMPUTE_HELP.get(r, '')})" for r, n in self.recomputed.items())

    @property
    def report_md(self) -> Path:
        return Path(self.out_dir) / "report.md"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_report_md(path: Path, report: PrepareReport) -> None:
    """Render `report` as Markdown to `path`."""
    lines = [
        "# Dataset preparation report",
        "",
        f"- kept: **{report.kept}** items ({report.seconds / 60:.1f} min): train {report.train}, val {report.val}",
        f"- skipped: **{len(report.skipped)}**",
        f"- this run: {report.processed} items computed, {report.reused} reused from an earlier run",
        *([f"- recomputed from an earlier run: {report.recomputed_line()}"] if report.recomputed else []),
        "",
    ]
    if report.reasons:
        lines += ["## Skipped by reason", "", "| reason | count | meaning |", "|---|---|---|"]
        lines += [f"| {r} | {n} | {REASON_HELP.get(r, '')} |" for r, n in report.reasons.items()]
        lines += ["", "## Skipped items", "", "| id | reason | detail | path |", "|---|---|---|---|"]
        lines += [
            f"| {_md_cell(s['id'])} | {s['reason']} | {_md_cell(s['detail'])} | {_md_cell(s['path'])} |"
            for s in report.skipped
        ]
        lines.append("")
    if report.unknown_characters:
        lines += [
            "## Characters outside the symbol table",
            "",
            "| char | code point | count |",
            "|---|---|---|",
        ]
        lines += [f"| `{c}` | U+{ord(c):04X} | {n} |" for c, n in report.unknown_characters.items()]
        lines.append("")
    atomic_write(path, "\n".join(lines).encode("utf-8"))


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` all at once: temporary file, fsync, rename.

    A kill or a full disk mid-write leaves the earlier file intact (and no temporary file behind
    when Python gets to clean up), never a truncated one that breaks every later run.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the rename has still happened
    finally:
        os.close(fd)
