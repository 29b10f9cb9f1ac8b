"""Reading a corpus description (LJSpeech `metadata.csv` or a `path|text` filelist) into items.

Why a separate step: a malformed line must become a reported, skipped item with its line number,
never an exception that aborts preparing 13,000 good ones. That includes a line that is not
UTF-8 and an id that is unsafe as a file name: ids name the mel files, so an id such as
`../../x` or `/tmp/x` would write (and a later clean-up delete) outside the dataset folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MAX_ID_BYTES = 200  # leaves room for ".<hash>.npy" within the usual 255-byte file-name limit
_SAFE_ID = re.compile(r"\w[\w.-]*")  # letters, digits, _ . - (Unicode letters too); no leading dot


@dataclass(frozen=True)
class SourceItem:
    """One line of the corpus description.

    error: a reason code when the line itself is unusable ("malformed_line", "undecodable_line",
    "unsafe_id", "duplicate_id"), in which case `prepare` reports it without looking at the audio;
    `path` is then the description file itself, never a path derived from the id.
    """

    id: str
    path: Path
    text: str
    line: int
    error: str = ""
    detail: str = ""


def unsafe_id_reason(item_id: str) -> str:
    """Why `item_id` cannot name a file inside the dataset folder, or "" when it can.

    Allowed: letters, digits, `_`, `-` and `.`, not starting with `.`, at most MAX_ID_BYTES bytes
    in UTF-8. So no `/`, `\\`, `..` component, absolute path, drive letter, space or control character.
    """
    if not item_id:
        return "the id is empty"
    if not _SAFE_ID.fullmatch(item_id):
        return (
            f"id {item_id[:80]!r} is not a safe file name: use letters, digits, '_', '-' and '.', "
            "not starting with '.'"
        )
    if len(item_id.encode("utf-8")) > MAX_ID_BYTES:
        return f"id is {len(item_id.encode('utf-8'))} bytes long, more than {MAX_ID_BYTES}"
    return ""


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
    for number, line, problem in _lines(meta):
        if problem:
            items.append(_bad_line(meta, number, "undecodable_line", problem))
            continue
        fields = line.split("|")
        if len(fields) < 2 or not fields[0].strip():
            items.append(_malformed(meta, number, line, "expected id|text|normalized"))
            continue
        item_id = fields[0].strip()
        text = fields[2] if len(fields) > 2 and fields[2].strip() else fields[1]
        unsafe = unsafe_id_reason(item_id)
        if unsafe:
            items.append(_unsafe(meta, number, unsafe))
            continue
        items.append(SourceItem(item_id, source_dir / "wavs" / f"{item_id}.wav", text.strip(), number))
    return _mark_duplicates(items)


def read_filelist(filelist: Path, source_dir: Path) -> list[SourceItem]:
    """Lines `path|text`; relative paths are resolved against `source_dir`. The id is the file stem."""
    if not filelist.is_file():
        raise FileNotFoundError(f"filelist not found: {filelist}")
    items = []
    for number, line, problem in _lines(filelist):
        if problem:
            items.append(_bad_line(filelist, number, "undecodable_line", problem))
            continue
        fields = line.split("|")
        if len(fields) < 2 or not fields[0].strip():
            items.append(_malformed(filelist, number, line, "expected path|text"))
            continue
        path = Path(fields[0].strip())
        path = path if path.is_absolute() else source_dir / path
        unsafe = unsafe_id_reason(path.stem)
        if unsafe:
            items.append(_unsafe(filelist, number, unsafe))
            continue
        items.append(SourceItem(path.stem, path, fields[-1].strip(), number))
    return _mark_duplicates(items)


def _lines(path: Path) -> list[tuple[int, str, str]]:
    """(line number, text, problem) of each non-blank line; `problem` says why a line is not UTF-8.

    Decoded line by line, so one byte of Latin-1 costs one item, not the whole corpus.
    """
    raw = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    found = []
    for i, chunk in enumerate(raw.split(b"\n")):
        if not chunk.strip():
            continue
        try:
            found.append((i + 1, chunk.decode("utf-8").rstrip("\r"), ""))
        except UnicodeDecodeError as err:
            found.append((i + 1, "", f"line {i + 1} of {path} is not UTF-8 ({type(err).__name__}: {err})"))
    return found


def _bad_line(path: Path, number: int, error: str, detail: str) -> SourceItem:
    return SourceItem(id=f"{path.name}:{number}", path=path, text="", line=number, error=error, detail=detail)


def _malformed(path: Path, number: int, line: str, expected: str) -> SourceItem:
    detail = f"line {number} of {path}: {expected}, got {line[:80]!r}"
    return _bad_line(path, number, "malformed_line", detail)


def _unsafe(path: Path, number: int, reason: str) -> SourceItem:
    """Reported under `file:line`: the id itself appears only as text in the detail, never as a path."""
    return _bad_line(path, number, "unsafe_id", f"line {number} of {path}: {reason}")


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
