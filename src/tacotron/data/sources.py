"""Reading a corpus description (LJSpeech `metadata.csv` or a filelist) into items, in a named format.

Formats (`FORMATS`): `ljspeech` (`id|text|normalized` or `id|text`, audio in `wavs/<id>.wav`),
`id-speaker-text` (`id|speaker|text`, audio in `wavs/<id>.wav`), `path-text-speaker`
(`path|text|speaker`, Mellotron/Flowtron filelists), `path-text` (`path|text`), and the folder
formats `vctk` / `vctk-mic2` (no description file: transcripts and audio paired by `tacotron.data.vctk`,
VCTK 0.92 with the mic1 or mic2 recordings, or 0.80). `auto` accepts only layouts that cannot be
misread: why: a `path|text|speaker` file read as `path|text` trains on the speaker id as the
sentence, so an ambiguous 3-field file (or a VCTK folder that also has a metadata.csv) is refused
with the formats that fit.

Why a separate step: a malformed line must become a reported, skipped item with its line number,
never an exception that aborts preparing 13,000 good ones. That includes a line that is not
UTF-8 and an id that is unsafe as a file name: ids name the mel files, so an id such as
`../../x` or `/tmp/x` would write (and a later clean-up delete) outside the dataset folder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tacotron.data import vctk

FORMATS = ("auto", "ljspeech", "id-speaker-text", "path-text-speaker", "path-text", "vctk", "vctk-mic2")
FOLDER_FORMATS = {"vctk": "mic1", "vctk-mic2": "mic2"}  # format -> VCTK 0.92 microphone
LAYOUTS = {
    "ljspeech": "id|text|normalized",
    "id-speaker-text": "id|speaker|text",
    "path-text-speaker": "path|text|speaker",
    "path-text": "path|text",
}
DETECT_LINES = 50  # lines `auto` looks at
MAX_ID_BYTES = 200  # leaves room for ".<hash>.npy" within the usual 255-byte file-name limit
_SAFE_ID = re.compile(r"\w[\w.-]*")  # letters, digits, _ . - (Unicode letters too); no leading dot
_ID_LIKE = re.compile(r"[\w-]{1,32}")  # one short token without spaces or punctuation: "3", "p225", "spk_1"
_AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus")


class CorpusFormatError(ValueError):
    """The description's layout is ambiguous or does not match the format asked for (one line, says what fits)."""


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
    speaker: str = ""  # "" for single-speaker formats


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


def read_corpus(source_dir: Path, filelist: Path | None = None, fmt: str = "auto") -> list[SourceItem]:
    """Items of `filelist` (or `source_dir/metadata.csv`) read in format `fmt` (one of FORMATS).

    Audio is `source_dir/wavs/<id>.wav` for the id formats, the path (relative to `source_dir`
    unless absolute) for the path formats; the folder formats read `source_dir` itself. Raises
    CorpusFormatError when `auto` cannot tell.
    """
    if fmt not in FORMATS:
        raise CorpusFormatError(f"unknown corpus format {fmt!r}; use one of: {', '.join(FORMATS)}")
    if fmt == "auto" and filelist is None and _vctk_audio(source_dir) is not None:
        fmt = _vctk_unless_ambiguous(source_dir)
    if fmt in FOLDER_FORMATS:
        if filelist:
            raise CorpusFormatError(
                f"--format {fmt} reads the folder layout ({vctk.LAYOUT}); drop --filelist"
            )
        return _mark_duplicates(_read_vctk(source_dir, FOLDER_FORMATS[fmt]))
    description = Path(filelist) if filelist else source_dir / "metadata.csv"
    if not description.is_file():
        raise FileNotFoundError(
            f"filelist not found: {description}"
            if filelist
            else f"{source_dir} has no metadata.csv (LJSpeech layout) and is no VCTK folder (txt/ + wav48*/); "
            "pass a filelist with --filelist"
        )
    lines = _lines(description)
    if fmt == "auto":
        fmt = detect_format([line for _, line, problem in lines if not problem], filelist is not None)
    items = [_parse(description, source_dir, fmt, number, line, problem) for number, line, problem in lines]
    return _mark_duplicates(items)


def read_ljspeech(source_dir: Path) -> list[SourceItem]:
    """`metadata.csv` lines `id|text|normalized` with audio in `wavs/<id>.wav`.

    The normalized (third) column is used when present and non-empty, as in LJSpeech recipes;
    otherwise the raw text; the text frontend expands numbers either way.
    """
    return read_corpus(source_dir, None, "ljspeech")


def read_filelist(filelist: Path, source_dir: Path) -> list[SourceItem]:
    """Lines `path|text`; relative paths are resolved against `source_dir`. The id is the file stem."""
    return read_corpus(source_dir, filelist, "path-text")


def detect_format(lines: list[str], is_filelist: bool) -> str:
    """The one format the first DETECT_LINES lines can only mean, else CorpusFormatError naming those that fit.

    2 fields: `path-text` for a filelist or path-like first fields, else `ljspeech` (`id|text`).
    3 fields: `ljspeech` only when no text field looks like an id (a speaker column: "3", "p225");
    anything else is ambiguous and must be named with --format.
    """
    sample = [f for f in (line.split("|") for line in lines[:DETECT_LINES]) if len(f) > 1]  # 1: malformed
    counts = sorted({len(f) for f in sample})
    if not sample:
        return "path-text" if is_filelist else "ljspeech"
    if counts == [2]:
        return "path-text" if is_filelist or any(_path_like(f[0]) for f in sample) else "ljspeech"
    three = [f for f in sample if len(f) == 3]
    if counts in ([3], [2, 3]) and _plainly_ljspeech(three):
        return "ljspeech"
    fits = _formats_that_fit(three) if counts in ([3], [2, 3]) else []
    shape = "/".join(map(str, counts))
    if not fits:
        raise CorpusFormatError(
            f"{shape} fields per line: no known format fits ({_known_layouts()}); pass --format"
        )
    named = " or ".join(f"{name} ({LAYOUTS[name]})" for name in fits)
    raise CorpusFormatError(f"{shape} fields per line: could be {named}; pass --format")


def _plainly_ljspeech(rows: list[list[str]]) -> bool:
    """Every non-empty text field a sentence rather than an id-like token (which may be a speaker column)."""
    texts = [x for f in rows for x in f[1:] if x.strip()]
    return bool(texts) and not any(_id_like(x) for x in texts)


def _formats_that_fit(rows: list[list[str]]) -> list[str]:
    """3-field formats each of whose columns is plausible on every row (for the refusal message)."""
    fits = []
    if all(not _path_like(f[0]) for f in rows):
        fits.append("ljspeech")
        if all(_id_like(f[1]) for f in rows):
            fits.append("id-speaker-text")
    if all(_id_like(f[2]) for f in rows):
        fits.append("path-text-speaker")
    return fits


def _known_layouts() -> str:
    return ", ".join(f"{name} ({layout})" for name, layout in LAYOUTS.items())


def _id_like(field: str) -> bool:
    return bool(_ID_LIKE.fullmatch(field.strip()))


def _path_like(field: str) -> bool:
    field = field.strip()
    return "/" in field or "\\" in field or field.lower().endswith(_AUDIO_SUFFIXES)


def _parse(description: Path, source_dir: Path, fmt: str, number: int, line: str, problem: str) -> SourceItem:
    """One line in format `fmt`: an item, or a bad item saying what the line should look like."""
    if problem:
        return _bad_line(description, number, "undecodable_line", problem)
    fields = [f.strip() for f in line.split("|")]
    expected = {"ljspeech": (2, 3), "path-text": (2,)}.get(fmt, (3,))
    if len(fields) not in expected or not fields[0]:
        return _malformed(description, number, line, f"expected {LAYOUTS[fmt]} (--format {fmt})")
    if fmt == "ljspeech":
        item_id, speaker, text = fields[0], "", fields[2] if len(fields) > 2 and fields[2] else fields[1]
    elif fmt == "id-speaker-text":
        item_id, speaker, text = fields
    else:
        path = Path(fields[0])
        path = path if path.is_absolute() else source_dir / path
        item_id, speaker, text = path.stem, fields[2] if fmt == "path-text-speaker" else "", fields[1]
    if fmt in ("ljspeech", "id-speaker-text"):
        path = source_dir / "wavs" / f"{item_id}.wav"
    unsafe = unsafe_id_reason(item_id)
    if unsafe:
        return _unsafe(description, number, unsafe)
    if fmt in ("id-speaker-text", "path-text-speaker") and not speaker:
        return _malformed(description, number, line, f"expected {LAYOUTS[fmt]} with a speaker")
    return SourceItem(item_id, path, text, number, speaker=speaker)


def _vctk_audio(source_dir: Path) -> Path | None:
    try:
        return vctk.audio_dir(Path(source_dir))
    except ValueError as err:
        raise CorpusFormatError(str(err)) from err


def _vctk_unless_ambiguous(source_dir: Path) -> str:
    """`vctk` for a VCTK-like folder, unless a metadata.csv beside it could describe the corpus too."""
    if (Path(source_dir) / "metadata.csv").is_file():
        raise CorpusFormatError(
            f"{source_dir} has metadata.csv and a VCTK layout: could be {_known_layouts()} or "
            f"vctk ({vctk.LAYOUT}); pass --format"
        )
    return "vctk"


def _read_vctk(source_dir: Path, mic: str) -> list[SourceItem]:
    """One item per utterance of the VCTK-like tree; an unpaired half is a reported bad item."""
    source_dir = Path(source_dir)
    _vctk_audio(source_dir)  # both audio folders present: the one-line CorpusFormatError
    try:
        entries = vctk.scan(source_dir, mic)
    except ValueError as err:
        raise CorpusFormatError(str(err)) from err
    return [_vctk_item(source_dir, number, entry, mic) for number, entry in enumerate(entries, start=1)]


def _vctk_item(source_dir: Path, number: int, entry: vctk.VctkEntry, mic: str) -> SourceItem:
    """The item of one utterance; errors name the file that is there and the one that is missing."""
    found = entry.transcript or entry.audio
    assert found is not None  # a scanned entry has at least one half
    unsafe = unsafe_id_reason(entry.id)
    if unsafe:  # reported under its file's relative path: the id never becomes a path
        rel = found.relative_to(source_dir).as_posix()
        return SourceItem(rel, found, "", number, "unsafe_id", f"{found}: {unsafe}", entry.speaker)
    if entry.audio is None:
        expected = vctk.expected_audio(source_dir, entry.speaker, entry.id, mic)
        detail = f"no audio for transcript {entry.transcript}: expected {expected}"
        return SourceItem(entry.id, expected, "", number, "missing_file", detail, entry.speaker)
    if entry.transcript is None:
        expected = source_dir / vctk.TRANSCRIPTS / entry.speaker / f"{entry.id}.txt"
        detail = f"no transcript for audio {entry.audio}: expected {expected}"
        return SourceItem(entry.id, entry.audio, "", number, "missing_transcript", detail, entry.speaker)
    try:
        text = entry.transcript.read_bytes().removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as err:
        detail = f"transcript {entry.transcript} is not UTF-8 ({err})"
        return SourceItem(entry.id, entry.transcript, "", number, "undecodable_line", detail, entry.speaker)
    return SourceItem(entry.id, entry.audio, " ".join(text.split()), number, speaker=entry.speaker)


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
                speaker=item.speaker,
            )
        elif not item.error:
            seen[item.id] = item.line
        out.append(item)
    return out
