"""Time to first audio of streamed synthesis (`Synthesizer.stream`, what `POST /api/tts/stream` runs per
piece) against the full-response latency (`Synthesizer.synthesize`, what `POST /api/tts` waits for).

Both are measured side by side in one run on the same checkpoint, text, seed and device, alternating, and
reported as medians over `--repeats` (after one warm-up of each). Usage:

    PYTHONPATH=src python3 benchmarks/stream_latency.py CHECKPOINT [--vocoder hifigan] [--device cpu]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time

import torch

from tacotron.infer.synthesizer import Synthesizer

TEXT = "The quick brown fox jumps over the lazy dog, and then it runs back home."


def measure(synth: Synthesizer, text: str, seed: int = 0, chunk_frames: int | None = None) -> dict:
    """One full response and one stream of `text`: seconds to the whole audio, to the first streamed
    audio and to the end of the stream, the audio length, the number of streamed chunks, and `stall_s`:
    the longest gap a player that starts at the first chunk would hear (0 = each chunk came in time)."""
    started = time.perf_counter()
    [whole] = synth.synthesize([text], seed=seed)
    full_s = time.perf_counter() - started
    arrivals: list[tuple[float, int]] = []  # (seconds since the start, samples)
    kw = {} if chunk_frames is None else {"chunk_frames": chunk_frames}
    started = time.perf_counter()
    result = synth.stream(
        text, lambda wav: arrivals.append((time.perf_counter() - started, len(wav))), seed=seed, **kw
    )
    return {
        "full_s": full_s,
        "first_audio_s": arrivals[0][0],
        "stall_s": stall(arrivals, result.sample_rate),
        "stream_total_s": time.perf_counter() - started,
        "audio_s": result.audio_seconds,
        "frames": result.frames,
        "stop_reason": result.stop_reason,
        "chunks": len(arrivals),
        "same_frames": result.frames == whole.frames,
    }


def stall(arrivals: list[tuple[float, int]], sample_rate: int) -> float:
    """The longest wait for a chunk past the moment its audio is due, playback starting at the first."""
    due, worst = arrivals[0][0], 0.0
    for arrived, samples in arrivals:
        late = arrived - due
        worst = max(worst, late)
        due = max(due, arrived) + samples / sample_rate
    return worst


def summary(runs: list[dict]) -> dict:
    """Medians of the timings; the rest from the first run (equal in all, the seed being fixed)."""
    out = dict(runs[0])
    for key in ("full_s", "first_audio_s", "stream_total_s", "stall_s"):
        out[key] = statistics.median(run[key] for run in runs)
    out["first_audio_vs_full"] = out["first_audio_s"] / out["full_s"]
    out["repeats"] = len(runs)
    return out


def cpu_name() -> str:
    """The CPU's model name (Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        return f"{names[0]} x{len(names)}" if names else platform.machine()
    except OSError:
        return platform.processor() or platform.machine()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--vocoder", default="griffin-lim", choices=["griffin-lim", "hifigan"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--text", default=TEXT)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", help="write the result as JSON here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)  # on a shared CPU, 1 thread avoids waiting for a busy core
    synth = Synthesizer.from_checkpoint(args.checkpoint, device=args.device, vocoder=args.vocoder)
    measure(synth, args.text)  # warm-up
    result = summary([measure(synth, args.text) for _ in range(args.repeats)])
    result |= {
        "vocoder": args.vocoder,
        "device": args.device,
        "cpu": cpu_name(),
        "load_average_1m": os.getloadavg()[0],
        "threads": torch.get_num_threads(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
        "checkpoint": args.checkpoint,
        "text": args.text,
    }
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
