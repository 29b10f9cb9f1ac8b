"""`tacotron serve`: the HTTP text-to-speech service and web page for one or more checkpoints."""

from __future__ import annotations

import argparse

from tacotron.commands import add_decoding_argument, run_reporting_input_errors

HELP = "serve checkpoints over HTTP: POST /api/tts -> WAV, web page at /, OpenAPI at /docs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        action="append",
        required=True,
        metavar="CKPT",
        help="checkpoint file or run folder; repeat for more voices (e.g. one per language)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto")
    parser.add_argument("--vocoder", default="griffin-lim", choices=["griffin-lim", "hifigan"])
    add_decoding_argument(parser)
    limits = parser.add_argument_group("limits and batching")
    limits.add_argument("--max-text-chars", type=int, default=1000)
    limits.add_argument("--max-sentence-chars", type=int, default=200)
    limits.add_argument("--max-body-bytes", type=int, default=64 * 1024)
    limits.add_argument("--max-concurrent", type=int, default=32, help="requests in flight; more get 503")
    limits.add_argument("--timeout", type=float, default=60.0, help="seconds per request before 504")
    limits.add_argument("--max-batch-size", type=int, default=8, help="sentences per model call")
    limits.add_argument("--batch-wait-ms", type=float, default=10.0, help="how long to gather a batch")
    limits.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")


def settings_from_args(args: argparse.Namespace):
    from tacotron.serve.settings import ServeSettings

    return ServeSettings(
        max_text_chars=args.max_text_chars,
        max_sentence_chars=args.max_sentence_chars,
        max_body_bytes=args.max_body_bytes,
        max_concurrent=args.max_concurrent,
        request_timeout_s=args.timeout,
        max_batch_size=args.max_batch_size,
        batch_wait_ms=args.batch_wait_ms,
    )


def run(args: argparse.Namespace) -> int:
    """Bad input (a missing checkpoint, --decoding fast without CUDA) is one `error:` line, exit 2."""
    return run_reporting_input_errors(_run, args)


def _run(args: argparse.Namespace) -> int:
    import torch

    from tacotron.extras import require

    require("fastapi", "serve", "tacotron serve")
    uvicorn = require("uvicorn", "serve", "tacotron serve")
    from tacotron.infer.synthesizer import fast_for
    from tacotron.serve.app import create_app
    from tacotron.serve.server import load_voices

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    settings = settings_from_args(args)
    voices = load_voices(
        args.checkpoint, device=args.device, vocoder=args.vocoder, fast=fast_for(args.decoding)
    )
    app = create_app(voices, settings)
    print(f"serving {', '.join(v.id for v in voices)} on http://{args.host}:{args.port} (Ctrl-C stops)")
    uvicorn.run(app, host=args.host, port=args.port, log_level=str(args.log_level).lower())
    return 0
