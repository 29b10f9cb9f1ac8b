"""How many CUDA-graph shapes does graph-mode training meet? Text bucketed by itself vs by its mel bucket.

`PYTHONPATH=src python benchmarks/graph_shapes.py [--dataset DATASET_DIR] [--epochs 1 5 20]`

A CPU simulation, no training: epochs of the real `BucketBatchSampler` (as `BatchStream` draws them)
over per-item (text length, mel frames), each batch padded by the real rule (`graphs.bucket_shape`),
once with text bucketed by its own length ("old") and once by the corpus's `TextBound` ("new"). It
counts distinct (B, L, T) keys, each one a captured graph of ~2 s on an H200, and the padding both
rules cost (share of padded text symbols and mel frames). Lengths are synthetic (demo-like: 1,140
items, text 20-120, frames about 5.5 x text +- 20%; LJSpeech-like: 13,100 items, text 20-190, frames
100-870) or, with --dataset, a prepared folder's training split (read from its manifest only).
Batch size, bucket size, r and the graph multiples come from the shipped config (--config).
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from tacotron.config import load_config
from tacotron.data.sampler import BucketBatchSampler
from tacotron.frames import padded_frames
from tacotron.train.graphs import TextBound, bucket_shape


@dataclass
class Corpus:
    """Per-item lengths in item order: symbols (EOS included) and mel frames."""

    name: str
    text: list[int]
    frames: list[int]


@dataclass
class Padding:
    """Real and padded element counts over all simulated batches."""

    real_text: int = 0
    padded_text: int = 0
    real_frames: int = 0
    padded_frames: int = 0

    def add(self, text: Sequence[int], frames: Sequence[int], shape: tuple[int, int, int]) -> None:
        b, length, t = shape
        self.real_text += sum(text)
        self.padded_text += b * length
        self.real_frames += sum(frames)
        self.padded_frames += b * t

    def text_share(self) -> float:
        return 1.0 - self.real_text / self.padded_text

    def mel_share(self) -> float:
        return 1.0 - self.real_frames / self.padded_frames


@dataclass
class RuleResult:
    """One rule's shapes: distinct keys after each reported epoch, padding, and fallbacks to own buckets."""

    keys_after: dict[int, int] = field(default_factory=dict)
    keys: set[tuple[int, int, int]] = field(default_factory=set)
    padding: Padding = field(default_factory=Padding)
    too_long: int = 0  # batches whose text exceeded the bound (never, when the table is the corpus's)


def demo_like(n: int = 1140, seed: int = 0) -> Corpus:
    """Demo-like lengths: text uniform in 20-120 symbols, frames 5.5 x text with +-20% noise."""
    rng = random.Random(seed)
    text = [rng.randint(20, 120) for _ in range(n)]
    return Corpus("demo-like", text, [round(5.5 * t * rng.uniform(0.8, 1.2)) for t in text])


def ljspeech_like(n: int = 13100, seed: int = 0) -> Corpus:
    """LJSpeech-like lengths: text 20-190 (mode ~110), frames 4.6 x text with +-20% noise, in 100-870."""
    rng = random.Random(seed)
    text = [round(rng.triangular(20, 190, 110)) for _ in range(n)]
    frames = [min(870, max(100, round(4.6 * t * rng.uniform(0.8, 1.2)))) for t in text]
    return Corpus("LJSpeech-like", text, frames)


def from_dataset(path: str) -> Corpus:
    """A prepared folder's training split (manifest only, no mel is loaded)."""
    from tacotron.data.dataset import PreparedDataset

    data = PreparedDataset(path, "train")
    return Corpus(f"dataset {path}", list(data.text_lengths), list(data.lengths))


def simulate(
    corpus: Corpus,
    *,
    batch_size: int,
    bucket_size: int,
    r: int,
    text_multiple: int,
    mel_multiple: int,
    epochs: Sequence[int],
    bounded: bool,
    seed: int = 0,
) -> RuleResult:
    """Distinct (B, L, T) keys met after each epoch count in `epochs` (1-based), one rule."""
    sampler = BucketBatchSampler(corpus.frames, batch_size, bucket_size, shuffle=True, seed=seed)
    bound = TextBound(corpus.text, corpus.frames) if bounded else None
    result = RuleResult()
    for epoch in range(max(epochs)):
        sampler.set_epoch(epoch)
        for batch in sampler.batches():
            text = [corpus.text[i] for i in batch]
            frames = [corpus.frames[i] for i in batch]
            length, t = bucket_shape(
                max(text), padded_frames(max(frames), r), r,
                text_multiple=text_multiple, mel_multiple=mel_multiple, bound=bound,
            )  # fmt: skip
            result.too_long += bound is not None and max(text) > bound(t)
            result.keys.add((len(batch), length, t))
            result.padding.add(text, frames, (len(batch), length, t))
        if epoch + 1 in epochs:
            result.keys_after[epoch + 1] = len(result.keys)
    return result


def batch_sizes_per_epoch(corpus: Corpus, *, batch_size: int, bucket_size: int, seed: int = 0) -> list[int]:
    """Distinct batch sizes of the first epoch (full batches and each bucket's leftover)."""
    sampler = BucketBatchSampler(corpus.frames, batch_size, bucket_size, shuffle=True, seed=seed)
    return sorted({len(b) for b in sampler.batches()})


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", help="a prepared dataset folder (default: the two synthetic corpora)")
    parser.add_argument(
        "--config", default=None, help="config for batch/bucket/r/multiples (default per corpus)"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="override the config's train.batch_size")
    parser.add_argument("--epochs", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def report(corpus: Corpus, config: str, args: argparse.Namespace) -> None:
    cfg = load_config(config)
    batch_size = args.batch_size or cfg.train.batch_size
    settings = dict(
        batch_size=batch_size,
        bucket_size=cfg.data.bucket_size,
        r=cfg.model.n_frames_per_step,
        text_multiple=cfg.train.graph_text_multiple,
        mel_multiple=cfg.train.graph_mel_multiple,
        epochs=args.epochs,
        seed=args.seed,
    )
    sizes = batch_sizes_per_epoch(
        corpus, batch_size=batch_size, bucket_size=cfg.data.bucket_size, seed=args.seed
    )
    print(f"{corpus.name}: {len(corpus.text)} items, {config} {settings}, batch sizes per epoch {sizes}")
    for name, bounded in (("old (text by itself)", False), ("new (text by mel bucket)", True)):
        res = simulate(corpus, bounded=bounded, **settings)
        by_size = {b: sum(k[0] == b for k in res.keys) for b in sizes}
        counts = ", ".join(f"{e} ep: {n}" for e, n in res.keys_after.items())
        print(
            f"  {name}: keys {counts} (per B {by_size}); padding text {res.padding.text_share():.1%}, "
            f"mel {res.padding.mel_share():.1%}; batches over the bound {res.too_long}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.dataset:
        report(from_dataset(args.dataset), args.config or "demo-cuda.yaml", args)
        return 0
    report(demo_like(seed=args.seed), args.config or "demo-cuda.yaml", args)
    report(ljspeech_like(seed=args.seed), args.config or "ljspeech.yaml", args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
