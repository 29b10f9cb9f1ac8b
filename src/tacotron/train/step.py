"""Step runners: forward + loss + backward of one optimizer step's micro-batches, eager or graphed.

Why two strategies behind one interface: `train.cuda_graphs` replays captured CUDA graphs per length
bucket (no autograd bookkeeping, a few launches per step; under DDP `GradientSync` all-reduces after
the last micro-batch, outside the graphs), everything else runs eager autograd, with DDP's gradient
all-reduce on the last micro-batch only; either way every rank ends with the global loss's gradient.
The trainer picks one at setup (`build_runner`) and calls `run(...)` the same way; unscaling,
clipping, the skip decision and the update stay in the trainer, which is the same for both.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from tacotron.config import ConfigError, TrainConfig
from tacotron.data.batch import Batch
from tacotron.losses import LossNorm
from tacotron.model.tacotron2 import teacher_forced
from tacotron.train.distributed import DistInfo
from tacotron.train.loader import move
from tacotron.train.precision import Precision

if TYPE_CHECKING:
    from tacotron.train.grad_sync import GradientSync
    from tacotron.train.graphs import TextBound

log = logging.getLogger(__name__)


@dataclass
class StepOutputs:
    """Loss terms summed over the micro-batches (device tensors), the last batch and its detached output."""

    totals: dict[str, torch.Tensor]
    batch: Batch
    output: Any


def _accumulate(totals: dict[str, torch.Tensor], losses: dict[str, torch.Tensor]) -> None:
    for name, value in losses.items():
        value = value.detach().float()
        totals[name] = totals[name] + value if name in totals else value


class EagerStep:
    """Autograd on every micro-batch; under DDP (`ddp` = the wrapped model) gradients sync on the last."""

    uses_cuda_graphs = False

    def __init__(
        self,
        model: torch.nn.Module,
        loss_fn: Any,
        precision: Precision,
        device: torch.device,
        *,
        ddp: torch.nn.Module | None = None,
        world_size: int = 1,
    ):
        self.model, self.loss_fn, self.precision, self.device = model, loss_fn, precision, device
        self.ddp, self.world_size = ddp, world_size

    def run(
        self, micro: list[Batch], norm: LossNorm, step: int, guided_attn_weight: float | None
    ) -> StepOutputs:
        net = self.ddp if self.ddp is not None else self.model
        totals: dict[str, torch.Tensor] = {}
        batch = out = None
        for i, host_batch in enumerate(micro):
            batch = move(host_batch, self.device)
            last = i == len(micro) - 1
            sync = contextlib.nullcontext() if self.ddp is None or last else self.ddp.no_sync()
            with sync:
                with self.precision.autocast():
                    out = teacher_forced(net, batch)
                    losses = self.loss_fn(out, batch, step, norm, guided_attn_weight=guided_attn_weight)
                # the loss is normalised by all ranks' counts and DDP averages: scale back to a sum
                self.precision.scaler.scale(losses["loss"] * self.world_size).backward()
            _accumulate(totals, losses)
        return StepOutputs(totals, batch, out.detach())

    @staticmethod
    def zero_grad(optimizer: torch.optim.Optimizer) -> None:
        optimizer.zero_grad(set_to_none=True)


class GraphedStep:
    """Replays one captured CUDA graph per (batch, text, mel, r) bucket; fp32 or bf16.

    Under DDP (`sync`) the graphs compute this rank's gradients and `GradientSync` does DDP's part
    outside them: rank 0's buffers in before the first micro-batch, gradients summed after the last.
    capture=False runs the same steps with the graph bodies eager (any device: the CPU tests of the sync).
    Batches are padded to length buckets (masked: the loss is unchanged); with `text_bound` (the
    training corpus's) the text bucket follows from the mel bucket, so there is one graph per mel bucket
    and batch size instead of one per (text, mel) combination met. A precision switch (the Debug
    Reporter's fp16 fallback cannot happen here, but bf16 <-> fp32 can) captures anew, since a graph bakes
    its dtypes in. The graph's outputs are static buffers the next replay overwrites: what leaves is cloned.
    """

    uses_cuda_graphs = True

    def __init__(
        self,
        model: torch.nn.Module,
        loss_fn: Any,
        precision: Precision,
        device: torch.device,
        *,
        text_multiple: int,
        mel_multiple: int,
        text_bound: TextBound | None = None,
        sync: GradientSync | None = None,
        capture: bool = True,
    ):
        self.model, self.loss_fn, self.precision, self.device = model, loss_fn, precision, device
        self.text_multiple, self.mel_multiple, self.text_bound = text_multiple, mel_multiple, text_bound
        self.sync, self.capture = sync, capture
        self._graphed = None
        self._captured_precision: str | None = None

    def _graphs(self) -> Any:
        from tacotron.train.graphs import GraphedTrainStep

        check_graph_precision(self.precision.name)
        if self._graphed is None or self._captured_precision != self.precision.name:
            self._graphed = GraphedTrainStep(
                self.model, self.loss_fn, precision=self.precision.name, capture=self.capture
            )
            self._captured_precision = self.precision.name
        return self._graphed

    def run(
        self, micro: list[Batch], norm: LossNorm, step: int, guided_attn_weight: float | None
    ) -> StepOutputs:
        from tacotron.train.graphs import pad_to_bucket

        graphed = self._graphs()
        if self.sync is not None:
            self.sync.broadcast_buffers()
        totals: dict[str, torch.Tensor] = {}
        padded = out = None
        for host_batch in micro:
            padded = pad_to_bucket(
                host_batch,
                text_multiple=self.text_multiple,
                mel_multiple=self.mel_multiple,
                bound=self.text_bound,
            )
            losses, out = graphed(padded, step, norm, guided_attn_weight=guided_attn_weight)
            _accumulate(totals, {k: v.clone() for k, v in losses.items()})
        if self.sync is not None:
            self.sync.all_reduce()
        return StepOutputs(totals, move(padded, self.device), _clone_output(out))

    @staticmethod
    def zero_grad(optimizer: torch.optim.Optimizer) -> None:
        """Captured graphs accumulate into .grad tensors allocated before capture: zero them, keep them."""
        optimizer.zero_grad(set_to_none=False)


def _clone_output(out: Any) -> Any:
    """A copy of a graph's static output tensors (and the DDC coarse decoder's) that replays cannot overwrite."""
    fields = ("mel", "mel_postnet", "gate_logits", "alignments")
    copied = replace(out, **{name: getattr(out, name).detach().clone() for name in fields})
    ddc = getattr(out, "ddc", None)
    if ddc is not None:
        coarse = ("mel", "gate_logits", "alignments")
        copied = replace(
            copied, ddc=replace(ddc, **{name: getattr(ddc, name).detach().clone() for name in coarse})
        )
    return copied


def check_graph_precision(name: str) -> None:
    """CUDA graphs bake the dtypes in, and fp16's GradScaler scale is host state: fp32 or bf16 only."""
    if name == "fp16":
        raise ConfigError("train.cuda_graphs supports precision fp32 or bf16, not fp16")


def build_runner(
    t: TrainConfig,
    model: torch.nn.Module,
    loss_fn: Any,
    precision: Precision,
    device: torch.device,
    dist: DistInfo,
    *,
    lengths: tuple[Sequence[int], Sequence[int]] | None = None,
) -> EagerStep | GraphedStep:
    """`train.cuda_graphs` on a CUDA device -> GraphedStep, else EagerStep (DDP-wrapped when distributed).

    lengths: the training items' (text lengths, mel frames); with graphs they fix each mel bucket's
    text bucket (`TextBound`), without them text is bucketed by itself (more shapes, more captures).

    Under DDP the graphs run unwrapped (DDP's gradient hooks cannot run inside a captured graph) and a
    `GradientSync` built here, once the model is final, does DDP's broadcasts and all-reduce around them.
    Graphs refuse fp16 (the GradScaler's dynamic scale is host state): a clear error, never a fallback.
    """
    if t.cuda_graphs and device.type == "cuda":
        check_graph_precision(precision.name)
        from tacotron.train.graphs import TextBound

        sync = None
        if dist.enabled:
            from tacotron.train.grad_sync import GradientSync

            sync = GradientSync(model, dist)
        return GraphedStep(
            model,
            loss_fn,
            precision,
            device,
            text_multiple=t.graph_text_multiple,
            mel_multiple=t.graph_mel_multiple,
            text_bound=TextBound(*lengths) if lengths is not None else None,
            sync=sync,
        )
    if t.cuda_graphs:
        log.warning("train.cuda_graphs needs a CUDA device; training eagerly on %s", device)
    ddp = None
    if dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        ddp = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    return EagerStep(model, loss_fn, precision, device, ddp=ddp, world_size=dist.world_size)


# ---- after backward: the same for both runners ------------------------------------------------------
def global_norm(norm: LossNorm, dist: DistInfo, device: torch.device) -> LossNorm:
    """Under DDP the loss is normalised by the counts of all ranks' micro-batches together, so the
    summed update over ranks equals one process training on the union (one extra sync under DDP)."""
    if not dist.enabled:
        return norm
    from tacotron.train.distributed import all_sum

    counts = torch.tensor(
        [norm.mel_elements, norm.frames, norm.attn_cells, norm.items], dtype=torch.float64, device=device
    )
    mel_elements, frames, attn_cells, items = all_sum(counts, dist).tolist()
    return LossNorm(mel_elements, frames, attn_cells, int(items))


def clip_gradients(model: torch.nn.Module, max_norm: float) -> torch.Tensor:
    """Global grad norm before clipping (clipping off when max_norm <= 0), as a 0-dim device tensor."""
    params = [p for p in model.parameters() if p.grad is not None]
    if max_norm > 0:
        return torch.nn.utils.clip_grad_norm_(params, max_norm).float()
    return torch.nn.utils.get_total_norm([p.grad for p in params]).float()


def apply_update(
    optimizer: torch.optim.Optimizer, precision: Precision, *, skipped: bool, vetoed: bool
) -> None:
    """skipped: no update this step; vetoed: skipped by a callback although the gradients are finite."""
    scaler = precision.scaler
    if scaler.is_enabled():
        if not vetoed:
            scaler.step(optimizer)  # skips by itself: unscale_ recorded the same inf/nan
        scaler.update()  # also after a veto: it closes the unscale_ of this step
    elif not skipped:
        optimizer.step()
