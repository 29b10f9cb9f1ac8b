"""A 5,000-character paragraph spoken in full by a trained model: `tacotron synth` (which splits long text
at sentences, clauses, then words) against an espeak-ng rendering of the same text at the demo corpus's
mean speed. "In full" means: no piece cut at max_decoder_steps, and an audio length close to espeak-ng's
(a dropped sentence would show as a ratio well below 1).

    python benchmarks/long_text.py --checkpoint demo/en/run --out /tmp/long --device cpu

The paragraph is made of held-out demo sentences (never in the demo's training text), so the demo model
can read it; with `--file` any text.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import wave
from pathlib import Path

from tacotron.data.demo_corpus import SPEED_RANGE, heldout_sentences


def paragraph(chars: int, seed: int) -> str:
    """Held-out demo sentences joined until `chars` characters (whole sentences only)."""
    out: list[str] = []
    for sentence in heldout_sentences("en", 2000, seed):
        if sum(len(s) + 1 for s in out) + len(sentence) > chars:
            break
        out.append(sentence)
    return " ".join(out)


def seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--chars", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--file", type=Path, help="read the text from here instead")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    text = (
        args.file.read_text(encoding="utf-8").replace("\n", " ")
        if args.file
        else paragraph(args.chars, args.seed)
    )
    (args.out / "paragraph.txt").write_text(text + "\n", encoding="utf-8")
    synth = subprocess.run(
        [sys.executable, "-m", "tacotron", "synth", "--checkpoint", args.checkpoint, "--file",
         str(args.out / "paragraph.txt"), "--out", str(args.out / "model"), "--device", args.device, "--no-progress"],
        capture_output=True, text=True,
    )  # fmt: skip
    if synth.returncode not in (0, 3):  # 3 = written, but some piece was cut (reported below)
        raise SystemExit(f"tacotron synth failed (exit {synth.returncode}): {synth.stderr.strip()[-500:]}")
    records = [json.loads(line) for line in (args.out / "model" / "synth.jsonl").read_text().splitlines()]
    speed = sum(SPEED_RANGE) // 2
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", str(speed), "-w", str(args.out / "espeak.wav"), text], check=True
    )
    model_s = sum(r["audio_seconds"] for r in records)
    summary = {
        "characters": len(text),
        "synth_exit_code": synth.returncode,  # 3 = some piece cut at max_decoder_steps
        "records": len(records),
        "truncated": sum(bool(r.get("truncated")) for r in records),
        "pieces": sum(r.get("pieces", 1) for r in records),
        "pieces_stopped_by_gate": sum(
            reason == "gate" for r in records for reason in r.get("stop_reasons", [])
        ),
        "rtf": records[0].get("rtf"),
        "model_seconds": round(model_s, 2),
        "espeak_seconds": round(seconds(args.out / "espeak.wav"), 2),
    }
    summary["length_ratio"] = round(summary["model_seconds"] / summary["espeak_seconds"], 3)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
