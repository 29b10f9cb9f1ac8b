"""Whole training step (forward + masked loss + backward) captured as one CUDA graph per batch shape.

Why: the decoder runs one small step per output frame, so an eager step is thousands of tiny kernel
launches and the GPU waits on Python. A CUDA graph replays all of them with one launch. Graphs need
static shapes and addresses, hence:

- batches are padded to length buckets (`pad_to_bucket`) and each (B, L, T, r) shape gets its own
  graph; all graphs share one memory pool (they never run concurrently, and their static inputs
  and outputs stay referenced, so pooled intermediates can be reused safely);
- nothing inside syncs with the host: the encoder runs its capturable BiLSTM
  (`Encoder.capturable`), the loss normaliser and the loss weights are device tensors copied in
  before each replay (so a guided-attention decay or a different batch never goes stale);
- gradients accumulate into `.grad` tensors allocated before capture: call
  `optimizer.zero_grad(set_to_none=False)`; replaying checks the tensors are still the same;
- when a new shape is captured, no autograd graph of an earlier eager step may still be alive (keep
  only detached losses/outputs), or autograd's gradient accumulation syncs streams and capture fails.

The optimizer step, clipping and health checks stay outside the graph (a handful of foreach
kernels), so the trainer keeps its loop. Padding beyond the batch maximum is masked everywhere
except in BatchNorm batch statistics, which (as in eager training) include padded positions.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from tacotron.data.batch import Batch
from tacotron.losses import LossNorm, Tacotron2Loss
from tacotron.model.tacotron2 import Tacotron2, Tacotron2Output

logger = logging.getLogger(__name__)

TERMS = ("mel/before", "mel/after", "gate", "attn/guided")


def bucket_length(length: int, multiple: int) -> int:
    """Smallest multiple of `multiple` that is >= length."""
    return -(-length // multiple) * multiple


def pad_to_bucket(batch: Batch, *, text_multiple: int = 16, mel_multiple: int = 16) -> Batch:
    """Pad text to a multiple of `text_multiple` and mels to a multiple of lcm(mel_multiple, r).

    Extra text is pad id 0, extra mel frames are 0 with gate target 1; lengths are unchanged, so the
    masked loss is the same. Fewer distinct shapes means fewer graphs to capture.
    """
    import math

    mel_step = math.lcm(mel_multiple, batch.r)
    length = bucket_length(batch.text.size(1), text_multiple)
    frames = bucket_length(batch.mels.size(2), mel_step)
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
class _Captured:
    """One captured shape: static inputs (copied into before replay) and static outputs."""

    graph: torch.cuda.CUDAGraph
    batch: Batch  # static device tensors
    denominators: torch.Tensor  # [3] mel_elements, frames, attn_cells
    weights: torch.Tensor  # [4] in TERMS order
    losses: dict[str, torch.Tensor]
    output: Tacotron2Output


class GraphedTrainStep:
    """`step(batch, step, norm)` = forward + `loss_fn` + backward of `model`, replayed from a CUDA graph.

    Gradients are *added* to `.grad` as `loss.backward()` would; returned losses and outputs are static
    tensors overwritten by the next replay (clone what you keep). The model must stay in training
    mode and on one CUDA device; `precision` is "fp32" (TF32 per the global flags) or "bf16".
    """

    def __init__(self, model: Tacotron2, loss_fn: Tacotron2Loss, *, precision: str = "bf16", warmup: int = 1):
        if precision not in ("fp32", "bf16"):
            raise ValueError(f"GraphedTrainStep supports precision 'fp32' or 'bf16', got {precision!r}")
        if model.has_gst or model.has_ddc:  # their extra inputs and loss terms are not in the captured step
            raise ValueError(
                "GraphedTrainStep does not support model.gst or model.ddc; set train.cuda_graphs=false"
            )
        device = next(model.parameters()).device
        if device.type != "cuda":
            raise ValueError(f"GraphedTrainStep needs the model on a CUDA device, got {device}")
        self.model, self.loss_fn, self.precision, self.warmup = model, loss_fn, precision, warmup
        self.device = device
        self.pool = torch.cuda.graph_pool_handle()
        self.graphs: dict[tuple[int, ...], _Captured] = {}
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

    def key(self, batch: Batch) -> tuple[int, ...]:
        """(B, L, T, r): r is part of the key because the captured model call runs with the batch's r."""
        return (batch.size, batch.text.size(1), batch.mels.size(2), batch.r)

    def __call__(
        self, batch: Batch, step: int, norm: LossNorm | None = None
    ) -> tuple[dict[str, torch.Tensor], Tacotron2Output]:
        """Copy `batch` (CPU or device, already bucket-padded) into the graph for its shape and replay."""
        if not self.model.training:
            raise RuntimeError("GraphedTrainStep is for training; call model.train() first")
        norm = norm or LossNorm.from_batch(batch)
        key = self.key(batch)
        captured = self.graphs.get(key)
        if captured is None:
            captured = self._capture(batch, step, norm)
            self.graphs[key] = captured
            logger.info("captured training CUDA graph %d for (B, L, T, r) = %s", len(self.graphs), key)
        self._check_grads()
        self._load(captured, batch, step, norm)
        captured.graph.replay()
        return captured.losses, captured.output

    def _load(self, captured: _Captured, batch: Batch, step: int, norm: LossNorm) -> None:
        s = captured.batch
        for name in ("text", "text_lengths", "mels", "mel_lengths", "gate_target"):
            getattr(s, name).copy_(getattr(batch, name), non_blocking=True)
        denominators = [norm.mel_elements, norm.frames, norm.attn_cells]
        captured.denominators.copy_(torch.tensor(denominators, dtype=torch.float32), non_blocking=True)
        weights = self.loss_fn.weights(step)
        captured.weights.copy_(
            torch.tensor([weights[k] for k in TERMS], dtype=torch.float32), non_blocking=True
        )

    def _compute(
        self, static: Batch, denominators: torch.Tensor, weights: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], Tacotron2Output]:
        """Forward + loss terms; total weighted by the device tensor `weights` (not baked floats)."""
        # The autocast region opens and closes inside the capture, so its weight-cast cache is safe
        # and saves re-casting (and saving for backward) every LSTM weight at every decoder step.
        autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.precision == "bf16")
        with autocast:
            out = self.model(static.text, static.text_lengths, static.mels, static.mel_lengths, r=static.r)
        d = denominators
        norm = LossNorm(mel_elements=d[0], frames=d[1], attn_cells=d[2], items=static.size)  # type: ignore[arg-type]
        terms = self.loss_fn(out, static, step, norm)
        total = sum(weights[i] * terms[k] for i, k in enumerate(TERMS))
        return total, {"loss": total, **{k: terms[k] for k in TERMS}}, out

    def _capture(self, batch: Batch, step: int, norm: LossNorm) -> _Captured:
        static = batch.to(self.device)
        static = replace(
            static,
            **{
                n: getattr(static, n).clone()
                for n in ("text", "text_lengths", "mels", "mel_lengths", "gate_target")
            },
        )
        denominators = torch.zeros(3, device=self.device)
        weights = torch.zeros(len(TERMS), device=self.device)
        captured = _Captured(torch.cuda.CUDAGraph(), static, denominators, weights, {}, None)  # type: ignore[arg-type]
        self._load(captured, batch, step, norm)
        params = [p for p in self.model.parameters() if p.requires_grad]
        with capturable(self.model):
            self._warm_up(static, denominators, weights, step, params)
            with torch.cuda.graph(captured.graph, pool=self.pool):
                total, losses, out = self._compute(static, denominators, weights, step)
                total.backward()
        captured.losses, captured.output = losses, out
        return captured

    def _warm_up(
        self, static: Batch, denominators: torch.Tensor, weights: torch.Tensor, step: int, params: list
    ) -> None:
        """Eager iterations on a side stream (lazy cuBLAS/cuDNN init) that leave no trace: gradients via
        autograd.grad (not accumulated into .grad), BatchNorm running statistics restored."""
        buffers = [b.detach().clone() for b in self.model.buffers()]
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(self.warmup):
                total, _, _ = self._compute(static, denominators, weights, step)
                torch.autograd.grad(total, params, allow_unused=True)
        torch.cuda.current_stream(self.device).wait_stream(stream)
        with torch.no_grad():
            for live, saved in zip(self.model.buffers(), buffers, strict=True):
                live.copy_(saved)
