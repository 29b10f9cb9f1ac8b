"""report.md for a prepared dataset: what was kept, and every skipped item with its reason.

Why a readable report: "nothing is lost silently" only helps if a person can see, in one page,
which files were dropped and why, and which characters the alphabet lacks.
"""

from __future__ import annotations

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
    "duplicate_id": "the id appears more than once",
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
    path.write_text("\n".join(lines), encoding="utf-8")
