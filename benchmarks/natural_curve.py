"""Helpers of `benchmarks/gpu_natural.sh` (the voice's own ceiling, one curve row per evaluation, the table)
and of `benchmarks/gpu_vocoder_compare.sh` (one row per vocoder, its table rewritten after every row).

    natural_curve.py voice CORPUS [--workers N] --out voice_ceiling.json
    natural_curve.py row EVAL_JSON METRICS_JSONL --start UNIX_SECONDS --out PREFIX   (appends PREFIX.jsonl/.tsv)
    natural_curve.py table CURVE_JSONL
    natural_curve.py vocoder EVAL_JSON --name NAME [--note TEXT] [--voice voice_ceiling.json] --out PREFIX
                     (appends PREFIX.jsonl, rewrites PREFIX.md)

Minutes are wall-clock from the launch of `tacotron train` to the time the evaluated step was logged,
so start-up, the mean-mel pass and CUDA-graph capture count against the budget.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COLUMNS = (
    "minutes",
    "step",
    "val_diagonality",
    "val_infer_diagonality",
    "wer",
    "wer_ceiling",
    "wer_gap",
    "wer_gap_ci95",
    "cer",
    "cer_ceiling",
    "mcd_db",
    "length_ratio",
    "share_stop_gate",
)


# One row per vocoder on the same acoustic checkpoint and held-out sentences (`tacotron eval` summary keys):
# "tts" is the model's own mels through the vocoder, "copy" the held-out recordings' mels through it (the
# vocoder alone); MCDs re-analyse the rendered audio against the recording, mel_mcd is the vocoder-blind one.
VOCODER_SUMMARY = {
    "tts_wer": "wer",
    "tts_cer": "cer",
    "tts_mcd_db": "mcd_audio_db",
    "copy_wer": "wer_ceiling",
    "wer_gap": "wer_gap",
    "wer_gap_ci95": "wer_gap_ci95",
    "copy_cer": "cer_ceiling",
    "copy_mcd_db": "mcd_ceiling_db",
    "mel_mcd_db": "mcd_db",
    "length_ratio": "length_ratio",
}
VOCODER_COLUMNS = ("vocoder", "note", *VOCODER_SUMMARY)


def voice_ceiling(corpus: Path, workers: int) -> dict:
    """Open-vocabulary WER/CER of the voice's own held-out audio (no mel, no vocoder)."""
    from tacotron.config import TextConfig
    from tacotron.infer.evaluate import score_audio
    from tacotron.infer.judge import SphinxJudge
    from tacotron.text import TextFrontend

    texts = (corpus / "heldout.txt").read_text(encoding="utf-8").splitlines()
    wavs = [corpus / "heldout_wavs" / f"{i:03d}.wav" for i in range(1, len(texts) + 1)]
    normalize = TextFrontend(TextConfig(language="en")).normalize
    scores = score_audio(texts, wavs, normalize, SphinxJudge.open_vocabulary(), workers)
    return {"wer": scores["wer"], "cer": scores["cer"], "words": scores["words"], "sentences": len(texts)}


def _metrics_at(metrics: Path, step: int) -> tuple[dict, float | None]:
    """(latest validation record at or before `step`, time `step` was logged)."""
    val, when = {}, None
    for line in metrics.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("step", 0) > step:
            break
        when = record.get("time", when)
        if record.get("split") == "val":
            val = record
    return val, when


def curve_row(eval_json: Path, metrics: Path, start: float) -> dict:
    report = json.loads(eval_json.read_text(encoding="utf-8"))
    summary, step = report["summary"], int(report["step"])
    val, when = _metrics_at(metrics, step)
    return {
        "minutes": round((when - start) / 60, 2) if when else None,
        "step": step,
        "val_diagonality": val.get("val/attn/diagonality"),
        "val_infer_diagonality": val.get("val/infer/attn/diagonality"),
        **{key: summary.get(key) for key in COLUMNS[4:]},
    }


def _cell(value) -> str:
    if isinstance(value, list):  # an interval
        return "[" + ", ".join(_cell(v) for v in value) + "]"
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def markdown_table(rows: list[dict], columns) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def vocoder_row(eval_json: Path, name: str, note: str) -> dict:
    summary = json.loads(eval_json.read_text(encoding="utf-8"))["summary"]
    return {"vocoder": name, "note": note} | {
        column: summary.get(key) for column, key in VOCODER_SUMMARY.items()
    }


def vocoder_table(rows: list[dict], voice: Path | None) -> str:
    """The rows so far, and the voice's own held-out audio (no mel, no vocoder) when its ceiling exists."""
    text = markdown_table(rows, VOCODER_COLUMNS)
    if voice is not None and voice.is_file():
        own = json.loads(voice.read_text(encoding="utf-8"))
        text += f"\nThe voice's own held-out recordings: WER {own['wer']:.3f}, CER {own['cer']:.3f}.\n"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("voice")
    p.add_argument("corpus", type=Path)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("row")
    p.add_argument("eval_json", type=Path)
    p.add_argument("metrics", type=Path)
    p.add_argument("--start", type=float, required=True)
    p.add_argument("--out", required=True, help="prefix: appends PREFIX.jsonl and PREFIX.tsv")
    p = sub.add_parser("table")
    p.add_argument("curve", type=Path)
    p = sub.add_parser("vocoder")
    p.add_argument("eval_json", type=Path)
    p.add_argument("--name", required=True)
    p.add_argument("--note", default="")
    p.add_argument("--voice", type=Path, default=None, help="voice_ceiling.json of the `voice` command")
    p.add_argument("--out", required=True, help="prefix: appends PREFIX.jsonl, rewrites PREFIX.md")
    args = parser.parse_args(argv)
    if args.cmd == "voice":
        result = voice_ceiling(args.corpus, args.workers)
        args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(
            f"voice's own held-out audio: WER {result['wer']:.3f}, CER {result['cer']:.3f} ({result['words']} words)"
        )
    elif args.cmd == "row":
        row = curve_row(args.eval_json, args.metrics, args.start)
        with open(f"{args.out}.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        tsv = Path(f"{args.out}.tsv")
        with open(tsv, "a", encoding="utf-8") as f:
            if tsv.stat().st_size == 0:
                f.write("\t".join(COLUMNS) + "\n")
            f.write("\t".join(_cell(row[c]) for c in COLUMNS) + "\n")
        print("curve: " + "  ".join(f"{c}={_cell(row[c])}" for c in COLUMNS))
    elif args.cmd == "vocoder":
        with open(f"{args.out}.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(vocoder_row(args.eval_json, args.name, args.note)) + "\n")
        rows = _read_rows(Path(f"{args.out}.jsonl"))
        table = vocoder_table(rows, args.voice)
        Path(f"{args.out}.md").write_text(table, encoding="utf-8")
        print(table, end="")
    else:
        rows = sorted(_read_rows(args.curve), key=lambda row: row["step"])  # final is evaluated first
        print(markdown_table(rows, COLUMNS), end="")
    return 0


def _read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


if __name__ == "__main__":
    sys.exit(main())
