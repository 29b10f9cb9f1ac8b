"""Load test of `tacotron serve` on loopback: 200 requests, 8 in flight, latency percentiles and errors.

    .venv/bin/python benchmarks/serve_load.py [--checkpoint CKPT] [--requests 200] [--concurrency 8]

Starts the real stack (uvicorn + FastAPI + batcher + Synthesizer + Griffin-Lim) in this process on
127.0.0.1:<free port>, fires a bounded number of requests, prints p50/p90/p99 latency and the error count,
and exits non-zero if any request failed. Without --checkpoint it serves a small random-init model whose
gate is silenced, so every sentence decodes to end-of-text or --max-decoder-steps: a fixed workload
rather than a quality test. Needs the serving extras (fastapi, uvicorn, httpx, librosa, soundfile), so it
runs on the CPU development machine, not on the bare GPU image.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path


def small_config(max_decoder_steps: int):
    """A few-hundred-k-parameter model (the test suite's sizes): per-request cost is decoder-loop bound."""
    from tacotron.config import Config

    cfg = Config()
    m = cfg.model
    m.symbols_embedding_dim = m.encoder_embedding_dim = 32
    m.encoder_n_convolutions = 1
    m.attention_rnn_dim = m.decoder_rnn_dim = 48
    m.attention_dim = 16
    m.attention_location_n_filters = 4
    m.attention_location_kernel_size = 7
    m.prenet_dim = m.postnet_embedding_dim = 32
    m.postnet_n_convolutions = 2
    m.max_decoder_steps = max_decoder_steps
    return cfg


def write_random_checkpoint(path: Path, max_decoder_steps: int, seed: int = 0) -> Path:
    import torch

    from tacotron.model import build_model
    from tacotron.text import TextFrontend

    cfg = small_config(max_decoder_steps)
    frontend = TextFrontend(cfg.text)
    torch.manual_seed(seed)
    model = build_model(cfg.model, len(frontend.symbols), cfg.audio.n_mels)
    state = model.state_dict()
    state["decoder.gate_projection.bias"].fill_(-20.0)  # never fires: a fixed decoding workload
    torch.save(
        {
            "format_version": 1,
            "model": state,
            "config": cfg.to_dict(),
            "symbols": frontend.symbols.to_dict(),
            "r": cfg.model.n_frames_per_step,
            "step": 0,
        },
        path,
    )
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=None, help="default: a small random-init model")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-batch-size", type=int, default=8)
    parser.add_argument("--batch-wait-ms", type=float, default=10.0)
    parser.add_argument("--max-decoder-steps", type=int, default=100, help="for the random-init model")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    parser.add_argument("--json", default=None, help="also write the report here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import torch
    from load_client import run_load

    from tacotron.serve.app import create_app
    from tacotron.serve.server import BackgroundServer, load_voices
    from tacotron.serve.settings import ServeSettings

    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the random model's max-steps warnings are expected
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = args.checkpoint or write_random_checkpoint(
            Path(tmp) / "random.pt", args.max_decoder_steps
        )
        settings = ServeSettings(
            max_batch_size=args.max_batch_size,
            batch_wait_ms=args.batch_wait_ms,
            max_concurrent=max(32, args.concurrency),
            max_per_client=max(32, args.concurrency),  # every request comes from this one client
            allow_truncated=args.checkpoint is None,  # the random model never stops: measure, do not refuse
            request_timeout_s=300.0,
        )
        app = create_app(load_voices([checkpoint]), settings)
        with BackgroundServer(app) as url:
            report = run_load(url, args.requests, args.concurrency)
            service = app.state.service
            batches = sum(v.batcher.stats.batches for v in service.voices.values())
            sentences = sum(v.batcher.stats.sentences for v in service.voices.values())
    print(report.summary())
    print(
        f"model calls: {batches}, mean batch size {sentences / max(batches, 1):.2f} sentences, torch threads {torch.get_num_threads()}"
    )
    for example in report.error_examples:
        print(f"error: {example}")
    if args.json:
        Path(args.json).write_text(json.dumps(report.as_dict(), indent=2), encoding="utf-8")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
