"""Does double decoder consistency (DDC) speed up alignment? Steps to diagonality >= threshold, with and without.

`PYTHONPATH=src python benchmarks/ddc_alignment.py --work /tmp/ddc_bench --steps 120`

Writes an espeak-ng demo corpus, prepares it, then trains the same small model with the real
`tacotron.train.Trainer`, same seed and data order, once with `model.ddc` off and once on. After every
optimizer step it scores the teacher-forced training alignment with
`tacotron.metrics.attention.attention_health` and reports the first step whose diagonality reaches the
threshold, and the first step from which a 5-step running mean stays there. Preparing the corpus
needs librosa/soundfile (CPU machine); training needs only torch.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", default="ddc_bench", help="folder for corpus, dataset, runs and results")
    parser.add_argument("--steps", type=int, default=120, help="optimizer steps per run")
    parser.add_argument("--n", type=int, default=48, help="demo corpus utterances")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--r", type=int, default=2, help="fine decoder reduction factor")
    parser.add_argument("--ddc-r", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--guided-attn-weight", type=float, default=1.0, help="0 = no guided attention loss")
    parser.add_argument("--threshold", type=float, default=0.5, help="diagonality counted as aligned")
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def prepare(work: Path, n: int, seed: int) -> Path:
    """Demo corpus -> prepared dataset folder (reused when it exists)."""
    from tacotron.config import Config
    from tacotron.data.demo_corpus import write_demo_corpus
    from tacotron.data.prepare import prepare_dataset

    dataset = work / "dataset"
    if (dataset / "manifest.jsonl").is_file():
        return dataset
    corpus = write_demo_corpus(work / "corpus", lang="en", n=n, seed=seed, voices=["en-us"])
    cfg = Config()
    cfg.data.val_fraction = 0.1
    cfg.data.workers = 1
    prepare_dataset(corpus, dataset, cfg)
    return dataset


def small_config(args: argparse.Namespace, ddc: bool) -> Any:
    """A model small enough for a few hundred CPU steps; everything but `model.ddc` identical."""
    from tacotron.config import Config

    cfg = Config()
    m = cfg.model
    m.symbols_embedding_dim = m.encoder_embedding_dim = 64
    m.encoder_n_convolutions = 2
    m.attention_rnn_dim = m.decoder_rnn_dim = 128
    m.attention_dim, m.attention_location_n_filters, m.attention_location_kernel_size = 32, 8, 15
    m.prenet_dim, m.postnet_embedding_dim, m.postnet_n_convolutions = 64, 32, 2
    m.n_frames_per_step = args.r
    m.ddc, m.ddc_r = ddc, args.ddc_r
    t = cfg.train
    t.seed, t.batch_size, t.max_steps, t.lr = args.seed, args.batch_size, args.steps, 2e-3
    t.eval_every = t.checkpoint_every = 10**9  # no validation; the final checkpoint only
    m.max_decoder_steps = 100
    t.loggers, t.n_val_synth, t.log_every = [], 0, 10
    cfg.loss.guided_attn_weight = args.guided_attn_weight
    cfg.health.enabled = False
    cfg.tune.controller = False
    return cfg


def alignment_tracker(threshold: float) -> Any:
    """A Trainer callback recording the teacher-forced training diagonality after every step."""
    from tacotron.frames import decoder_steps
    from tacotron.metrics.attention import attention_health
    from tacotron.train import Callback

    class AlignmentTracker(Callback):
        def __init__(self) -> None:
            self.diagonality: list[float] = []
            self.step_seconds: list[float] = []
            self._last = time.perf_counter()

        def on_train_start(self, trainer: Any) -> None:
            self._last = time.perf_counter()

        def on_step_end(self, trainer: Any, result: Any) -> None:
            now = time.perf_counter()
            self.step_seconds.append(now - self._last)
            self._last = now
            if result.output is None:
                return
            batch = result.batch
            health = attention_health(
                result.output.alignments, batch.text_lengths, decoder_steps(batch.mel_lengths, batch.r)
            )
            self.diagonality.append(float(health["attn/diagonality"]))

    return AlignmentTracker()


def first_step(values: list[float], threshold: float, window: int = 1) -> int | None:
    """1-based step at which the `window`-step running mean first reaches threshold (None if never)."""
    for i in range(window - 1, len(values)):
        if sum(values[i - window + 1 : i + 1]) / window >= threshold:
            return i + 1
    return None


def train_once(args: argparse.Namespace, dataset: Path, ddc: bool) -> dict[str, Any]:
    from tacotron.train import Trainer

    torch.manual_seed(args.seed)
    tracker = alignment_tracker(args.threshold)
    run_dir = Path(args.work) / ("run_ddc" if ddc else "run_plain")
    trainer = Trainer(
        small_config(args, ddc), dataset, run_dir, device=args.device, callbacks=[tracker], resume=False
    )
    trainer.fit()
    d = tracker.diagonality
    seconds = sorted(tracker.step_seconds)[len(tracker.step_seconds) // 2] if tracker.step_seconds else 0.0
    return {
        "ddc": ddc,
        "steps": len(d),
        "first_step_at_threshold": first_step(d, args.threshold),
        "first_step_mean5_at_threshold": first_step(d, args.threshold, window=5),
        "max_diagonality": max(d) if d else None,
        "final_mean5_diagonality": sum(d[-5:]) / max(1, len(d[-5:])),
        "seconds_per_step": seconds,  # median
        "diagonality": d,
    }


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    torch.set_num_threads(1)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    dataset = prepare(work, args.n, args.seed)
    results = [train_once(args, dataset, ddc) for ddc in (False, True)]
    (work / "ddc_alignment.json").write_text(json.dumps({"args": vars(args), "runs": results}, indent=1))
    print(
        f"device {args.device}, r={args.r}, ddc_r={args.ddc_r}, seed {args.seed}, threshold {args.threshold}"
    )
    print(
        f"{'ddc':<5} {'steps':>5} {'first>=thr':>10} {'mean5>=thr':>10} {'max':>6} {'last5':>6} {'s/step':>7}"
    )  # s/step: median
    for r in results:
        print(
            f"{str(r['ddc']):<5} {r['steps']:>5} {r['first_step_at_threshold']!s:>10} "
            f"{r['first_step_mean5_at_threshold']!s:>10} {r['max_diagonality']:>6.3f} "
            f"{r['final_mean5_diagonality']:>6.3f} {r['seconds_per_step']:>7.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
