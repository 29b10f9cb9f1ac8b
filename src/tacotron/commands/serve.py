"""`tacotron serve`: the HTTP text-to-speech service and web page for one or more checkpoints.

Access: loopback only by default. An API key comes from $TACOTRON_API_KEY or --api-key-file (there is no
--api-key VALUE: a secret on the command line is visible to every user in `ps` and kept in shell history).
Binding another address without a key prints a warning. Host headers other than --allowed-hosts get 421.
"""

from __future__ import annotations

import argparse
import sys

from tacotron.commands import add_decoding_argument, add_hifigan_weights_argument, run_reporting_input_errors

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
    access = parser.add_argument_group("access")
    access.add_argument("--api-key", nargs="?", action=_RefuseSecretArgument, help=argparse.SUPPRESS)
    access.add_argument(
        "--api-key-file",
        default=None,
        metavar="PATH",
        help="file holding the API key (chmod 600); or set $TACOTRON_API_KEY. Clients send "
        "'Authorization: Bearer KEY' or 'X-API-Key: KEY'; default: no key",
    )
    access.add_argument(
        "--allowed-hosts",
        default="",
        metavar="NAMES",
        help="comma-separated Host header names to serve besides localhost, 127.0.0.1, [::1] and the "
        "--host address (e.g. tts.example.org,192.168.1.5); '*' = any (no DNS-rebinding protection)",
    )
    access.add_argument(
        "--max-per-client", type=int, default=4, help="requests in flight per client address; more get 429"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or auto")
    parser.add_argument("--vocoder", default="griffin-lim", choices=["griffin-lim", "hifigan"])
    add_hifigan_weights_argument(parser)
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
    limits.add_argument(
        "--allow-truncated",
        action="store_true",
        help="answer 200 (header X-Truncated: true) for audio cut at max_decoder_steps; default 422",
    )


class _RefuseSecretArgument(argparse.Action):
    """`--api-key VALUE` is refused without echoing VALUE: a secret on a command line is readable by every
    user in `ps` and stays in shell history. (Declared so it is not taken as an abbreviation of
    --api-key-file, which would then print the value as a missing file name.)"""

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(
            f"{option_string} is not accepted: a key on the command line is visible in `ps` and shell "
            "history; put it in $TACOTRON_API_KEY or a file given with --api-key-file"
        )


def settings_from_args(args: argparse.Namespace, api_key: str | None = None):
    from tacotron.serve.security import allowed_hosts_for
    from tacotron.serve.settings import ServeSettings

    extra = [h for h in args.allowed_hosts.split(",") if h.strip()]
    return ServeSettings(
        max_text_chars=args.max_text_chars,
        max_sentence_chars=args.max_sentence_chars,
        max_body_bytes=args.max_body_bytes,
        max_concurrent=args.max_concurrent,
        request_timeout_s=args.timeout,
        max_batch_size=args.max_batch_size,
        batch_wait_ms=args.batch_wait_ms,
        max_per_client=args.max_per_client,
        allow_truncated=args.allow_truncated,
        allowed_hosts=allowed_hosts_for(args.host, extra),
        api_key=api_key,
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
    from tacotron.serve.security import bind_warnings, load_api_key
    from tacotron.serve.server import load_voices

    try:
        settings = settings_from_args(args, load_api_key(args.api_key_file))
    except ValueError as err:  # ApiKeyError, a limit out of range: never echoes the key
        print(f"error: {err}", file=sys.stderr)
        return 2
    for warning in bind_warnings(args.host, settings.api_key, settings.allowed_hosts):
        print(f"warning: {warning}", file=sys.stderr)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    voices = load_voices(
        args.checkpoint,
        device=args.device,
        vocoder=args.vocoder,
        fast=fast_for(args.decoding),
        hifigan_weights=args.hifigan_weights,
    )
    app = create_app(voices, settings)
    key = "API key required" if settings.api_key else "no API key"
    print(
        f"serving {', '.join(v.id for v in voices)} on http://{args.host}:{args.port} ({key}; Host names: "
        f"{', '.join(settings.allowed_hosts)}) (Ctrl-C stops)"
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=str(args.log_level).lower())
    return 0
