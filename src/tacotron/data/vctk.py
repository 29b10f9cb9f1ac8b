"""Finding the utterances of a VCTK-like folder: transcripts and audio paired by speaker and utterance.

Layouts: VCTK 0.92 (`txt/<speaker>/<speaker>_<n>.txt`, audio `wav48_silence_trimmed/<speaker>/
<speaker>_<n>_mic1.flac`, or `_mic2`) and VCTK 0.80 (audio `wav48/<speaker>/<speaker>_<n>.wav`).
Why a scan of its own: VCTK has no description file; the pairing itself is the description, so a
transcript without audio and audio without a transcript must come out as entries (reported by
`prepare`), not vanish in a glob. This module only walks folders; `sources` turns entries into items.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TRANSCRIPTS = "txt"
AUDIO_092 = "wav48_silence_trimmed"  # VCTK 0.92: <id>_mic1.flac / <id>_mic2.flac
AUDIO_080 = "wav48"  # VCTK 0.80: <id>.wav
MICS = ("mic1", "mic2")
LAYOUT = f"{TRANSCRIPTS}/<speaker>/<id>.txt + {AUDIO_092}/<speaker>/<id>_mic1.flac or {AUDIO_080}/<speaker>/<id>.wav"


@dataclass(frozen=True)
class VctkEntry:
    """One utterance: `transcript` or `audio` is None when that half is missing from the tree."""

    speaker: str
    id: str
    transcript: Path | None
    audio: Path | None


def audio_dir(source_dir: Path) -> Path | None:
    """The audio folder of a VCTK-like tree (0.92 or 0.80), None when `source_dir` is not one.

    Raises ValueError when both audio folders are present: which one to train on is the user's call.
    """
    if not (source_dir / TRANSCRIPTS).is_dir():
        return None
    found = [source_dir / name for name in (AUDIO_092, AUDIO_080) if (source_dir / name).is_dir()]
    if len(found) > 1:
        raise ValueError(
            f"{source_dir} has both {AUDIO_092}/ (VCTK 0.92) and {AUDIO_080}/ (VCTK 0.80); move one away"
        )
    return found[0] if found else None


def scan(source_dir: Path, mic: str = "mic1") -> list[VctkEntry]:
    """Every utterance of the tree, sorted by speaker and id; raises ValueError when it is no VCTK tree."""
    if mic not in MICS:
        raise ValueError(f"unknown VCTK microphone {mic!r}; use one of: {', '.join(MICS)}")
    audio_root = audio_dir(source_dir)
    if audio_root is None:
        raise ValueError(f"{source_dir} is not a VCTK-like folder ({LAYOUT})")
    suffix = f"_{mic}.flac" if audio_root.name == AUDIO_092 else ".wav"
    transcripts = _by_id(source_dir / TRANSCRIPTS, ".txt")
    audio = _by_id(audio_root, suffix)
    keys = sorted(set(transcripts) | set(audio))
    return [VctkEntry(key[0], key[1], transcripts.get(key), audio.get(key)) for key in keys]


def expected_audio(source_dir: Path, speaker: str, item_id: str, mic: str = "mic1") -> Path:
    """Where the audio of a transcript should be (named in the report of a missing one)."""
    root = audio_dir(source_dir)
    if root is not None and root.name == AUDIO_080:
        return root / speaker / f"{item_id}.wav"
    return source_dir / AUDIO_092 / speaker / f"{item_id}_{mic}.flac"


def _by_id(root: Path, suffix: str) -> dict[tuple[str, str], Path]:
    """(speaker folder, utterance id) -> file, for files `root/<speaker>/<id><suffix>`."""
    found = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.name.endswith(suffix) and len(path.name) > len(suffix):
                found[(folder.name, path.name[: -len(suffix)])] = path
    return found
