"""Free-running synthesis with the decoding blocks replayed from CUDA graphs.

Why: at batch 1 a decoder step is dozens of tiny kernels, and eager PyTorch spends far longer
launching them than the GPU spends running them. Here `Decoding.run_block` of
`tacotron.model.inference` (the same k steps of `Decoder.infer_step` and the same stop rule as eager
`Tacotron2.infer`) is captured once per (batch, text length, ...) shape with static buffers, and
replayed on the eager loop's block schedule (`block_sizes`: `stop_check_every` steps, a shorter last
block at `max_decoder_steps`) with the host checking "all stopped?" between replays; each replay also
writes its frames into preallocated output buffers at a step counter held in a device tensor. So the
steps run, the lengths and the stop reasons equal the eager `Tacotron2.infer`, and the outputs are
finished by the same `Decoding.finish`. The encoder and postnet run eagerly, once per call.

Prenet dropout at inference uses the default CUDA generator (captured with the graph); a seeded
generator is not supported here (use `Tacotron2.infer(seed=...)`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from tacotron.data.batch import lengths_to_mask
from tacotron.model.decoder import EncoderMemory
from tacotron.model.inference import (
    Decoding,
    StopState,
    block_sizes,
    decoding_for,
    stop_reason_names,
    stop_start,
)
from tacotron.model.tacotron2 import InferenceOutput, Tacotron2


@dataclass
class _StepGraphs:
    """Static buffers of one shape and the graphs that advance them, one per block size."""

    decoding: Decoding
    memory: torch.Tensor  # [B, L, E]
    processed: torch.Tensor  # [B, L, A]
    mask: torch.Tensor  # [B, L] bool
    frame: torch.Tensor  # [B, n_mels] input of the next step
    state: list[torch.Tensor]  # decoder state, `DecoderState` field order
    stop: StopState
    step: torch.Tensor  # 0-dim long: index of the next step
    mel: torch.Tensor  # [B, S_max, r * n_mels]
    gate: torch.Tensor  # [B, S_max, r]
    align: torch.Tensor  # [B, S_max, L]
    graphs: dict[int, torch.cuda.CUDAGraph | _Uncaptured]  # block size -> graph advancing that many steps


class _Uncaptured:
    """Stands in for a CUDA graph when capture is off: `replay` runs the body eagerly."""

    def __init__(self, body: Callable[[], None]):
        self.replay = body


class GraphedInference:
    """`infer(text, text_lengths, ...)` with the same contract and results as `Tacotron2.infer`.

    One set of graphs per (B, L, max_decoder_steps, gate_threshold, prenet dropout, r); call on a model
    in eval mode on a CUDA device. The buffers hold `max_decoder_steps` steps of output.
    """

    def __init__(self, model: Tacotron2, *, dtype: torch.dtype = torch.float32, capture: bool = True):
        """capture=False runs the same static-buffer updates without CUDA graphs (any device): the
        CPU tests check this class's bookkeeping that way; capture=True needs the model on CUDA."""
        self.device_type = next(model.parameters()).device.type
        if capture and self.device_type != "cuda":
            raise ValueError("GraphedInference needs the model on a CUDA device")
        self.model = model
        self.k = model.stop_check_every
        self.dtype = dtype
        self.capture = capture
        self.pool = torch.cuda.graph_pool_handle() if capture else None
        self.graphs: dict[tuple, _StepGraphs] = {}

    @torch.no_grad()
    def infer(
        self,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        *,
        r: int,
        max_decoder_steps: int | None = None,
        gate_threshold: float | None = None,
        deterministic: bool = False,
    ) -> InferenceOutput:
        model = self.model
        r = model.check_r(r)
        if model.training:
            raise RuntimeError("GraphedInference: call model.eval() first")
        max_steps = max_decoder_steps or model.max_decoder_steps
        threshold = model.gate_threshold if gate_threshold is None else gate_threshold
        dropout = model.prenet_dropout_at_inference and not deterministic
        with self._autocast():
            memory = model.encoder(text, text_lengths)
            mem = model.decoder.prepare_memory(memory, lengths_to_mask(text_lengths, text.size(1)))
        key = (text.size(0), text.size(1), max_steps, threshold, dropout, r)
        if key not in self.graphs:
            decoding = decoding_for(model, r, gate_threshold=threshold, dropout_active=dropout)
            self.graphs[key] = self._capture(decoding, mem, text_lengths, max_steps)
        g = self.graphs[key]
        self._reset(g, mem, text_lengths)
        n_steps = self._run(g, max_steps)
        ran = [buffer[:, :n_steps].to(torch.float32, copy=True) for buffer in (g.mel, g.gate, g.align)]
        mel, mel_postnet, gate, align, lengths, codes = g.decoding.finish(*ran, g.stop, n_steps)
        reasons = stop_reason_names(codes, max_steps, r)
        return InferenceOutput(mel, mel_postnet, gate, align, lengths, reasons, r)

    def _autocast(self) -> torch.autocast:
        """A top-level autocast region (opened and closed inside a capture, so its cast cache is safe)."""
        return torch.autocast(self.device_type, dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16)

    def _run(self, g: _StepGraphs, max_steps: int) -> int:
        """Replay the block graphs on `Decoding.forward`'s schedule, with a stop check after each."""
        n = 0
        for size in block_sizes(max_steps, self.k):
            g.graphs[size].replay()
            n += size
            if bool(g.stop.stopped.all()):
                break
        return n

    def _advance(self, g: _StepGraphs, k: int) -> None:
        """k decoder steps on the static buffers (the captured body); writes results back in place."""
        with self._autocast():  # one region for all k steps: weights are cast once, not per step
            frame, state, stop, out, gate, weights = g.decoding.run_block(
                k, g.step, g.frame, g.state, g.stop, g.memory, g.processed, g.mask
            )
        index = g.step + torch.arange(k, device=g.step.device)
        g.mel.index_copy_(1, index, out.to(g.mel.dtype))
        g.gate.index_copy_(1, index, gate.to(g.gate.dtype))
        g.align.index_copy_(1, index, weights.to(g.align.dtype))
        for static, new in (*zip(g.state, state, strict=True), *zip(g.stop, stop, strict=True)):
            static.copy_(new)
        g.frame.copy_(frame)
        g.step.add_(k)

    def _capture(
        self, decoding: Decoding, mem: EncoderMemory, text_lengths: torch.Tensor, max_steps: int
    ) -> _StepGraphs:
        b, length, _ = mem.memory.shape
        zeros = mem.memory.new_zeros
        g = _StepGraphs(
            decoding=decoding,
            memory=mem.memory.clone(),
            processed=mem.processed.clone(),
            mask=mem.mask.clone(),
            frame=zeros(b, decoding.n_mels),
            state=decoding.initial_state(mem.memory),
            stop=stop_start(text_lengths, decoding.min_text_fraction),
            step=torch.zeros((), dtype=torch.long, device=mem.memory.device),
            mel=zeros(b, max_steps, decoding.r * decoding.n_mels),
            gate=zeros(b, max_steps, decoding.r),
            align=zeros(b, max_steps, length),
            graphs={},
        )
        for size in sorted(set(block_sizes(max_steps, self.k))):
            if not self.capture:
                g.graphs[size] = _Uncaptured(lambda size=size: self._advance(g, size))
                continue
            self._reset(g, mem, text_lengths)
            self._advance(g, size)  # warm-up
            torch.cuda.synchronize()
            self._reset(g, mem, text_lengths)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=self.pool):
                self._advance(g, size)
            g.graphs[size] = graph
        return g

    def _reset(self, g: _StepGraphs, mem: EncoderMemory, text_lengths: torch.Tensor) -> None:
        """Load this call's memory and fresh initial state / stop state into the static buffers."""
        g.memory.copy_(mem.memory)
        g.processed.copy_(mem.processed)
        g.mask.copy_(mem.mask)
        for tensor in (*g.state, g.frame, g.step):
            tensor.zero_()
        for static, fresh in zip(g.stop, stop_start(text_lengths, g.decoding.min_text_fraction), strict=True):
            static.copy_(fresh)
