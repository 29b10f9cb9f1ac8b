"""Whole training step (forward + masked loss + backward) captured as one CUDA graph per batch shape.

Why: the decoder runs one small step per output frame, so an eager step is thousands of tiny kernel
launches and the GPU waits on Python. A CUDA graph replays all of them with one launch. Graphs need
static shapes and addresses, hence:

- batches are padded to length buckets (`pad_to_bucket`) and each (B, L, T, r) shape gets its own
  graph (in training L follows from T through the corpus's `TextBound`, so shapes repeat across
  epochs); all graphs share one memory pool (they never run concurrently, and their static inputs
  and outputs stay referenced, so pooled intermediates can be reused safely);
- nothing inside syncs with the host: the encoder runs its capturable BiLSTM
  (`Encoder.capturable`); the loss normaliser and the loss weights are device tensors (`LossInputs`)
  copied in before each replay, so a guided-attention decay, a steered weight or a different batch
  never goes stale;
- the loss is the eager one: `Tacotron2Loss.terms` and `tacotron.losses.weighted_total`, so every
  model the eager step trains (GST, DDC) trains here with the same total (`step_losses`, which also
  runs uncaptured, is what the graph records);
- gradients accumulate into `.grad` tensors allocated before capture: call
  `optimizer.zero_grad(set_to_none=False)`; replaying checks the tensors are still the same;
- when a new shape is captured, no autograd graph of an earlier eager step may still be alive (keep
  only detached losses/outputs), or autograd's gradient accumulation syncs streams and capture fails;
- with `train.compile_decoder_step` the compiled attention step compiles (forward and backward) in the
  warm-up iterations, which run the same shapes, grad mode and autocast as the capture, so the capture
  finds nothing left to compile (`decoder.compiled_attention_step`; a recompile at capture would fail it);
- `capture=False` runs the same bookkeeping (static buffers, keys, gradient checks) with the recorded
  body run eagerly at each "replay", on any device: CPU tests exercise the graph step's callers (the
  DDP gradient sync) that way.

The optimizer step, clipping and health checks stay outside the graph (a handful of foreach
kernels), so the trainer keeps its loop. Padding beyond the batch maximum is masked everywhere
except in BatchNorm batch statistics, which (as in eager training) include padded positions.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import accumulate

import torch
import torch.nn.functional as F

from tacotron.data.batch import Batch, bucket_length
from tacotron.losses import LossNorm, Tacotron2Loss, weighted_total
from tacotron.model.tacotron2 import Tacotron2, Tacotron2Output, teacher_forced

logger = logging.getLogger(__name__)


class TextBound:
    """The longest text of any training item whose mel fits in F frames, for every F: the padded text
    length of a batch as a function of its padded mel length.

    Why: text and mel lengths bucketed independently give one graph per (L, T) combination a batch
    meets, and with batch membership reshuffled every epoch new combinations keep appearing for many
    epochs (each one a capture of seconds). Padding text to the bound of the mel bucket instead gives
    one shape per T bucket (per B and r), at the cost of the text padding up to the bound.

    Why it always fits: a batch padded to F frames holds only items of <= F frames, so its longest
    text is <= the longest text of all such items, a prefix maximum over the items sorted by mel
    length (looked up with bisect). A batch whose text is longer anyway (items the table was not built
    from) gets its own text bucket (`bucket_shape` logs it at debug): one more graph, never a crop.
    """

    def __init__(self, text_lengths: Sequence[int], mel_frames: Sequence[int]) -> None:
        if len(text_lengths) != len(mel_frames):
            raise ValueError(f"{len(text_lengths)} text lengths but {len(mel_frames)} mel lengths")
        pairs = sorted(zip(mel_frames, text_lengths, strict=True))
        self.frames = [int(f) for f, _ in pairs]
        self.longest = list(accumulate((int(n) for _, n in pairs), max))

    def __call__(self, frames: int) -> int:
        """Longest text among the items of at most `frames` mel frames (0 when there are none)."""
        i = bisect.bisect_right(self.frames, frames)
        return self.longest[i - 1] if i else 0


def bucket_shape(
    text: int, frames: int, r: int, *, text_multiple: int, mel_multiple: int, bound: TextBound | None = None
) -> tuple[int, int]:
    """(L, T) a batch of longest text `text` and (r-padded) mel length `frames` is padded to.

    Mels go to a multiple of lcm(mel_multiple, r), on the `bucket_length` ladder; text to its own
    ladder bucket, or with `bound` to the bucket of the longest text that mel bucket can hold.
    """
    padded_frames = bucket_length(frames, math.lcm(mel_multiple, r))
    longest = bound(padded_frames) if bound is not None else text
    if text > longest:
        logger.debug(
            "text of %d symbols exceeds the %d of the corpus's items up to %d frames: own text bucket",
            text, longest, padded_frames,
        )  # fmt: skip
    return bucket_length(max(text, longest), text_multiple), padded_frames


def pad_to_bucket(
    batch: Batch, *, text_multiple: int = 16, mel_multiple: int = 16, bound: TextBound | None = None
) -> Batch:
    """Pad the batch to its `bucket_shape` (text by `bound` when given, else by its own length).

    Extra text is pad id 0, extra mel frames are 0 with gate target 1; lengths are unchanged, so the
    masked loss is the same. Fewer distinct shapes means fewer graphs to capture.
    """
    length, frames = bucket_shape(
        batch.text.size(1), batch.mels.size(2), batch.r,
        text_multiple=text_multiple, mel_multiple=mel_multiple, bound=bound,
    )  # fmt: skip
    extra_text, extra_frames = length - batch.text.size(1), frames - batch.mels.size(2)
    if extra_text == 0 and extra_frames == 0:
        return batch
    return replace(
        batch,
        text=F.pad(batch.text, (0, extra_text)),
        mels=F.pad(batch.mels, (0, extra_frames)),
        gate_target=F.pad(batch.gate_target, (0, extra_frames), value=1.0),
    )


@contextlib.contextmanager
def capturable(model: Tacotron2) -> Iterator[None]:
    """Run the model's encoder without host syncs inside the block."""
    previous = model.encoder.capturable
    model.encoder.capturable = True
    try:
        yield
    finally:
        model.encoder.capturable = previous


@dataclass
class LossInputs:
    """The loss's host numbers as one device tensor that a captured graph reads at every replay.

    values [3 + len(active)]: the `LossNorm` counts (mel_elements, frames, attn_cells), then the weight
    of each active term in `active` order. A Python float would be baked into the graph at capture.

    active: the terms whose weight was non-zero when the graph was captured; the other names get the
    number 0, which `weighted_total` leaves out of the total, exactly as the eager step does. The
    alternative, keeping every term with a 0 weight tensor, would let a non-finite switched-off term
    poison the total (0 * NaN = NaN) and would run its backward for nothing; so a change of the
    active set captures a new graph instead (it is part of the graph key). That is rare: steering
    changes a weight's value, not whether it is 0, and a decaying guided-attention weight reaches 0
    only at a 0 loss.guided_attn_min_weight after float underflow (one more capture, once). Names
    without a term in the model (DDC weights of a model without DDC) only cost an unused slot.
    """

    names: tuple[str, ...]  # every weight name, in `Tacotron2Loss.weights` order
    active: tuple[str, ...]
    values: torch.Tensor

    @classmethod
    def allocate(cls, weights: Mapping[str, float], device: torch.device | str) -> LossInputs:
        active = active_terms(weights)
        return cls(tuple(weights), active, torch.zeros(3 + len(active), device=device))

    def load(self, norm: LossNorm, weights: Mapping[str, float]) -> None:
        """Copy this step's counts and weights in (one host-to-device copy, no sync)."""
        if active_terms(weights) != self.active:
            raise ValueError(f"weights {dict(weights)} switch terms on or off; captured with {self.active}")
        host = [norm.mel_elements, norm.frames, norm.attn_cells, *(weights[k] for k in self.active)]
        self.values.copy_(torch.tensor(host, dtype=torch.float32), non_blocking=True)

    def norm(self, items: int) -> LossNorm:
        v = self.values
        return LossNorm(mel_elements=v[0], frames=v[1], attn_cells=v[2], items=items)  # type: ignore[arg-type]

    def weights(self) -> dict[str, float | torch.Tensor]:
        """Every weight name: active ones as 0-dim views of `values`, the others the number 0."""
        slots = {k: self.values[3 + i] for i, k in enumerate(self.active)}
        return {k: slots.get(k, 0.0) for k in self.names}


def active_terms(weights: Mapping[str, float]) -> tuple[str, ...]:
    """Names of the non-zero weights, in order."""
    return tuple(k for k, w in weights.items() if w != 0)


def step_losses(
    model: Tacotron2, loss_fn: Tacotron2Loss, batch: Batch, inputs: LossInputs, *, precision: str
) -> tuple[torch.Tensor, dict[str, torch.Tensor], Tacotron2Output]:
    """Forward, loss terms and their weighted total, every host number read from `inputs`.

    What a capture records (and, uncaptured, what the tests compare with the eager step). Returns
    (total, {"loss": total, **terms}, model output).
    """
    # The autocast region opens and closes inside the capture, so its weight-cast cache is safe
    # and saves re-casting (and saving for backward) every LSTM weight at every decoder step.
    device_type = batch.text.device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        out = teacher_forced(model, batch)
    terms = loss_fn.terms(out, batch, inputs.norm(batch.size))
    total = weighted_total(terms, inputs.weights())
    return total, {"loss": total, **terms}, out


class _EagerBody:
    """Stands in for a CUDA graph when capture is off: `replay` runs the body eagerly."""

    def __init__(self, body: Callable[[], None]) -> None:
        self.replay = body


@dataclass
class _Captured:
    """One captured graph: static inputs (copied into before replay) and static outputs."""

    graph: torch.cuda.CUDAGraph | _EagerBody
    batch: Batch  # static device tensors
    inputs: LossInputs
    losses: dict[str, torch.Tensor]
    output: Tacotron2Output


BATCH_FIELDS = ("text", "text_lengths", "mels", "mel_lengths", "gate_target")


def static_fields(batch: Batch) -> tuple[str, ...]:
    """The batch tensors a graph copies in before replay: BATCH_FIELDS, plus `speakers` (a static input
    like text) for a multi-speaker batch."""
    return BATCH_FIELDS if batch.speakers is None else (*BATCH_FIELDS, "speakers")


class GraphedTrainStep:
    """`step(batch, step, norm, guided_attn_weight=None)` = forward + loss + backward, replayed from a CUDA graph.

    Gradients are *added* to `.grad` as `loss.backward()` would; returned losses and outputs are static
    tensors overwritten by the next replay (clone what you keep). The model (plain, GST or DDC) must
    stay in training mode and on one CUDA device; `precision` is "fp32" (TF32 per the global flags) or
    "bf16". One graph per (B, L, T, r, active loss terms); see `LossInputs` for the last.
    capture=False: no CUDA graphs, the body runs eagerly at every replay (any device; for tests).
    """

    def __init__(
        self,
        model: Tacotron2,
        loss_fn: Tacotron2Loss,
        *,
        precision: str = "bf16",
        warmup: int = 1,
        capture: bool = True,
    ):
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"GraphedTrainStep supports precision 'fp32' or 'bf16', got {precision!r}")
        device = next(model.parameters()).device
        if capture and device.type != "cuda":
            raise ValueError(f"GraphedTrainStep needs the model on a CUDA device, got {device}")
        self.model, self.loss_fn, self.precision, self.warmup = model, loss_fn, precision, warmup
        self.device, self.capture = device, capture
        self.pool = torch.cuda.graph_pool_handle() if capture else None
        self.graphs: dict[tuple, _Captured] = {}
        self._grads = self._allocate_grads()

    def _allocate_grads(self) -> list[torch.Tensor]:
        grads = []
        for p in self.model.parameters():
            if p.requires_grad:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
                grads.append(p.grad)
        return grads

    def _check_grads(self) -> None:
        live = [p.grad for p in self.model.parameters() if p.requires_grad]
        if len(live) != len(self._grads) or any(a is not b for a, b in zip(live, self._grads, strict=True)):
            raise RuntimeError(
                "GraphedTrainStep: parameter .grad tensors were replaced or set to None after capture; "
                "use optimizer.zero_grad(set_to_none=False) with CUDA-graph training"
            )

    def key(self, batch: Batch, weights: Mapping[str, float]) -> tuple:
        """(B, L, T, r, active terms, has speakers): what a captured graph is specific to (the model runs
        with the batch's r)."""
        return (
            batch.size, batch.text.size(1), batch.mels.size(2), batch.r, active_terms(weights),
            batch.speakers is not None,
        )  # fmt: skip

    def __call__(
        self,
        batch: Batch,
        step: int,
        norm: LossNorm | None = None,
        *,
        guided_attn_weight: float | None = None,
    ) -> tuple[dict[str, torch.Tensor], Tacotron2Output]:
        """Copy `batch` (CPU or device, already bucket-padded) into the graph for its shape and replay.

        step and guided_attn_weight give the loss weights as in `Tacotron2Loss.weights`.
        """
        if not self.model.training:
            raise RuntimeError("GraphedTrainStep is for training; call model.train() first")
        norm = norm or LossNorm.from_batch(batch)
        weights = self.loss_fn.weights(step, guided_attn_weight=guided_attn_weight)
        key = self.key(batch, weights)
        captured = self.graphs.get(key)
        if captured is None:
            captured = self._capture(batch, norm, weights)
            self.graphs[key] = captured
            what = "captured training CUDA graph" if self.capture else "uncaptured training step"
            logger.info("%s %d for (B, L, T, r, terms) = %s", what, len(self.graphs), key)
        self._check_grads()
        self._load(captured, batch, norm, weights)
        captured.graph.replay()
        return captured.losses, captured.output

    def _load(self, captured: _Captured, batch: Batch, norm: LossNorm, weights: Mapping[str, float]) -> None:
        for name in static_fields(captured.batch):
            getattr(captured.batch, name).copy_(getattr(batch, name), non_blocking=True)
        captured.inputs.load(norm, weights)

    def _capture(self, batch: Batch, norm: LossNorm, weights: Mapping[str, float]) -> _Captured:
        static = batch.to(self.device)
        static = replace(static, **{n: getattr(static, n).clone() for n in static_fields(static)})
        inputs = LossInputs.allocate(weights, self.device)
        if not self.capture:
            captured = _Captured(None, static, inputs, {}, None)  # type: ignore[arg-type]
            captured.graph = _EagerBody(lambda: self._run_eagerly(captured))
            return captured
        captured = _Captured(torch.cuda.CUDAGraph(), static, inputs, {}, None)  # type: ignore[arg-type]
        self._load(captured, batch, norm, weights)
        params = [p for p in self.model.parameters() if p.requires_grad]
        with capturable(self.model):
            self._warm_up(static, inputs, params)
            with torch.cuda.graph(captured.graph, pool=self.pool):
                total, losses, out = step_losses(
                    self.model, self.loss_fn, static, inputs, precision=self.precision
                )
                total.backward()
        captured.losses, captured.output = losses, out
        return captured

    def _run_eagerly(self, captured: _Captured) -> None:
        """What a capture records, run now on the static inputs; results land where a replay's would."""
        with capturable(self.model):
            total, losses, out = step_losses(
                self.model, self.loss_fn, captured.batch, captured.inputs, precision=self.precision
            )
            total.backward()
        captured.losses, captured.output = {k: v.detach() for k, v in losses.items()}, out

    def _warm_up(self, static: Batch, inputs: LossInputs, params: list) -> None:
        """Eager iterations on a side stream (lazy cuBLAS/cuDNN init) that leave no trace: gradients via
        autograd.grad (not accumulated into .grad), BatchNorm running statistics restored."""
        buffers = [b.detach().clone() for b in self.model.buffers()]
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(self.warmup):
                total, _, _ = step_losses(self.model, self.loss_fn, static, inputs, precision=self.precision)
                torch.autograd.grad(total, params, allow_unused=True)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        with torch.no_grad():
            for live, saved in zip(self.model.buffers(), buffers, strict=True):
                live.copy_(saved)
