"""Files a synthesis run leaves on disk: NNN.wav, NNN.mel.npy, NNN.align.png and synth.jsonl.

Why a record per line: a listener who hears babble in 007.wav should find, next to it, how many
frames were produced and whether the gate stopped it or the max-steps guard cut it off ("truncated";
a long text split into pieces lists each piece's stop reason).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from tacotron.infer.synthesizer import SynthesisResult

logger = logging.getLogger(__name__)

PEAK_LIMIT = 0.99


def write_wav(path: Path, wav: np.ndarray, sample_rate: int) -> None:
    """16-bit PCM; a waveform whose peak exceeds 0.99 is scaled down (logged) rather than clipped."""
    import soundfile as sf

    peak = float(np.max(np.abs(wav))) if wav.size else 0.0
    if peak > PEAK_LIMIT:
        logger.info("%s: peak %.2f scaled down to %.2f to avoid clipping", path.name, peak, PEAK_LIMIT)
        wav = wav * (PEAK_LIMIT / peak)
    sf.write(str(path), wav.astype(np.float32), sample_rate, subtype="PCM_16")


def save_alignment_png(path: Path, alignment: np.ndarray, title: str = "") -> None:
    """Attention [decoder steps, symbols] as an image: a clean diagonal means the model reads in order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    image = ax.imshow(alignment.T, aspect="auto", origin="lower", interpolation="none", vmin=0.0, vmax=1.0)
    ax.set_xlabel("decoder step")
    ax.set_ylabel("text symbol")
    if title:
        ax.set_title(title[:80], fontsize=8)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def result_record(index: int, result: SynthesisResult) -> dict[str, Any]:
    """The synth.jsonl line of one result (JSON-ready)."""
    return {
        "index": index,
        "name": f"{index:03d}",
        "text": result.text,
        "cleaned": result.cleaned,
        "frames": result.frames,
        "audio_seconds": round(result.audio_seconds, 4),
        "stop_reason": result.stop_reason,
        "truncated": result.truncated,
        "pieces": len(result.pieces) or 1,
        **({"stop_reasons": result.stop_reasons} if len(result.pieces) > 1 else {}),
        "compute_seconds": round(result.seconds, 4),
        "rtf": round(result.seconds / max(result.audio_seconds, 1e-9), 4),
    }


def write_results(results: list[SynthesisResult], out_dir: str | Path, first_index: int = 1) -> Path:
    """Write every result as NNN.* (numbered from `first_index` = line number) plus synth.jsonl; returns the jsonl."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    jsonl = out / "synth.jsonl"
    with open(jsonl, "w", encoding="utf-8") as f:
        for offset, result in enumerate(results):
            index = first_index + offset
            stem = out / f"{index:03d}"
            write_wav(stem.with_suffix(".wav"), result.wav, result.sample_rate)
            np.save(stem.with_suffix(".mel.npy"), result.mel.astype(np.float32))
            save_alignment_png(stem.with_suffix(".align.png"), result.alignment, result.text)
            f.write(json.dumps(result_record(index, result), ensure_ascii=False) + "\n")
    return jsonl
