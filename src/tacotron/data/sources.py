"""Reading a corpus description (LJSpeech `metadata.csv` or a `path|text` filelist) into items.

Why a separate step: a malformed line must become a reported, skipped item with its line number,
never an exception that aborts preparing 13,000 good ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SourceItem:
    """One line of the corpus description.

    error: a reason code when the line itself is unusable ("malformed_line", "duplicate_id"),
    in which case `prepare` reports it without looking at the audio.
    """

    id: str
    path: Path
    text: str
    line: int
    error: str = ""
    detail: str = ""


def read_ljspeech(source_dir: Path) -> list[SourceItem]:
    """`metadata.csv` lines `id|text|normalized` with audio in `wavs/<id>.wav`.

    The normalized (third) column is used when present and non-empty, as in LJSpeech recipes;
    otherwise the raw text; the text frontend expands numbers either way.
    """
    meta = source_dir / "metadata.csv"
    if not meta.is_file():
        raise FileNotFoundError(
            f"{source_dir} has no metadata.csv (LJSpeech layout); pass a `path|text` filelist instead"
        )
    items = []
    for number, line in _lines(meta):
        fields = line.split("|")
        if len(fields) < 2 or not fields[0].strip():
            items.append(_malformed(meta, number, line, "expected id|text|normalized"))
            continue
        item_id = fields[0].strip()
        text = fields[2] if len(fields) > 2 and fields[2].strip() else fields[1]
        items.append(SourceItem(item_id, source_dir / "wavs" / f"{item_id}.wav", text.strip(), number))
    return _mark_duplicates(items)


def read_filelist(filelist: Path, source_dir: Path) -> list[SourceItem]:
    """Lines `path|text`; relative paths are resolved against `source_dir`. The id is the file stem."""
    if not filelist.is_file():
        raise FileNotFoundError(f"filelist not found: {filelist}")
    items = []
    for number, line in _lines(filelist):
        fields = line.split("|")
        if len(fields) < 2 or not fields[0].strip():
            items.append(_malformed(filelist, number, line, "expected path|text"))
            continue
        path = Path(fields[0].strip())
        path = path if path.is_absolute() else source_dir / path
        items.append(SourceItem(path.stem, path, fields[-1].strip(), number))
    return _mark_duplicates(items)


def _lines(path: Path) -> list[tuple[int, str]]:
    text = path.read_text(encoding="utf-8-sig")
    return [(i + 1, ln.rstrip("\r")) for i, ln in enumerate(text.split("\n")) if ln.strip()]


def _malformed(path: Path, number: int, line: str, expected: str) -> SourceItem:
    return SourceItem(
        id=f"{path.name}:{number}",
        path=path,
        text="",
        line=number,
        error="malformed_line",
        detail=f"line {number} of {path}: {expected}, got {line[:80]!r}",
    )


def _mark_duplicates(items: list[SourceItem]) -> list[SourceItem]:
    """Keep the first occurrence of an id; later ones are reported (their mel file would collide)."""
    seen: dict[str, int] = {}
    out = []
    for item in items:
        if not item.error and item.id in seen:
            item = SourceItem(
                id=f"{item.id}@{item.line}",
                path=item.path,
                text=item.text,
                line=item.line,
                error="duplicate_id",
                detail=f"id {item.id!r} already used on line {seen[item.id]}",
            )
        elif not item.error:
            seen[item.id] = item.line
        out.append(item)
    return out
