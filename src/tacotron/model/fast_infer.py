"""Free-running synthesis with the decoding blocks replayed from CUDA graphs.

Why: at batch 1 a decoder step is dozens of tiny kernels, and eager PyTorch spends far longer
launching them than the GPU spends running them. Here `Decoding.run_block` of
`tacotron.model.inference` (the same k steps of `Decoder.infer_step` and the same stop rule as eager
`Tacotron2.infer`) is captured once per (batch, text bucket, ...) shape with static buffers, and
replayed on the eager loop's block schedule (`block_sizes`: `stop_check_every` steps, a shorter last
block at `max_decoder_steps`) with the host checking "all stopped?" between replays; each replay also
writes its frames into preallocated output buffers at a step counter held in a device tensor. So the
steps run, the lengths and the stop reasons equal the eager `Tacotron2.infer`, and the outputs are
finished by the same `Decoding.finish`. Encoder, style (GST) and memory projection are the eager
path's own `Tacotron2.inference_memory` and run eagerly, as does the postnet.

Bounded shapes for a long-running service: the encoder memory is padded to a text-length bucket
(`bucket_length(L, text_multiple)`) before it reaches the graphs, with the padded positions masked
out (the attention gives them weight exactly 0; alignments are cut back to L), and at most `max_graphs`
shapes are kept, least recently used evicted. The encoder never sees the padding. In the decoder it
changes rounding only: the attention softmax sums its (exactly zero) padded terms in another
vectorised order, about 1e-8 in the mels in the CPU tests, with equal lengths and stop reasons
(tests/model/test_fast_infer.py); a batch already at a bucket length gives bit-identical results.

Prenet dropout at inference uses the default CUDA generator (captured with the graph); a seeded
generator is not supported here (use `Tacotron2.infer(seed=...)`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tacotron.data.batch import bucket_length
from tacotron.model.decoder import EncoderMemory
from tacotron.model.inference import (
    DecoderStep,
    Decoding,
    StopState,
    block_sizes,
    decoding_for,
    stop_reason_names,
    stop_start,
)
from tacotron.model.prepared_step import InferenceWeights, PreparedDecoderStep
from tacotron.model.streaming import DecodedBlock, MelBlock, stream_mel
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
    """`infer(text, text_lengths, ...)` with the same contract and results as `Tacotron2.infer` (no `seed`).

    One set of graphs per (B, text bucket, max_decoder_steps, gate_threshold, prenet dropout, r), at most
    `max_graphs` of them (least recently used evicted); call on a model in eval mode on a CUDA device,
    one call at a time (the graphs share static buffers). The buffers hold `max_decoder_steps` steps.
    """

    def __init__(
        self,
        model: Tacotron2,
        *,
        dtype: torch.dtype = torch.float32,
        capture: bool = True,
        text_multiple: int = 16,
        max_graphs: int = 32,
        compile_step: bool = False,
        prepared_step: bool = False,
    ):
        """capture=False runs the same static-buffer updates without CUDA graphs (any device): the
        CPU tests check this class's bookkeeping that way; capture=True needs the model on CUDA.
        text_multiple: the finest text-length bucket (`bucket_length`); max_graphs: shapes kept.
        compile_step: the step runs through `torch.compile` (`compiled_step`): fewer, fused kernels
        per decoder step on CUDA; each new shape compiles in the warm-up before its capture.
        prepared_step: the step is `PreparedDecoderStep` (merged matmuls, weights derived once in the
        compute dtype, the attention in Triton kernels where they run): fewer kernels per step; its
        weights are re-derived before a synthesis when the model's parameters changed."""
        self.device_type = next(model.parameters()).device.type
        if capture and self.device_type != "cuda":
            raise ValueError("GraphedInference needs the model on a CUDA device")
        if text_multiple < 1 or max_graphs < 1:
            raise ValueError(
                f"GraphedInference: text_multiple and max_graphs must be >= 1, got {text_multiple}, {max_graphs}"
            )
        self.model = model
        self.k = model.stop_check_every
        self.dtype = dtype
        self.capture = capture
        self.text_multiple = text_multiple
        self.max_graphs = max_graphs
        if compile_step and prepared_step:
            raise ValueError(
                "GraphedInference: compile_step and prepared_step are two different steps; pick one"
            )
        self.compile_step = compile_step
        self.prepared_step = prepared_step
        self.inference_weights: InferenceWeights | None = None  # made at the first synthesis
        self.pool = torch.cuda.graph_pool_handle() if capture else None
        self.graphs: OrderedDict[tuple, _StepGraphs] = OrderedDict()  # oldest use first

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
        style_mel: torch.Tensor | None = None,
        style_mel_lengths: torch.Tensor | None = None,
        style_weights: torch.Tensor | None = None,
        speakers: torch.Tensor | None = None,
    ) -> InferenceOutput:
        style = {"style_mel": style_mel, "style_mel_lengths": style_mel_lengths}
        style |= {"style_weights": style_weights, "speakers": speakers}
        g, max_steps, r = self._prepare(
            text, text_lengths, r, max_decoder_steps, gate_threshold, deterministic, style
        )
        n_steps = self._run(g, max_steps)
        ran = [buffer[:, :n_steps].to(torch.float32, copy=True) for buffer in (g.mel, g.gate, g.align)]
        return self._output(g.decoding.finish(*ran, g.stop, n_steps), max_steps, r, text.size(1))

    @torch.no_grad()
    def stream(
        self,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        *,
        r: int,
        max_decoder_steps: int | None = None,
        gate_threshold: float | None = None,
        deterministic: bool = False,
        **style: torch.Tensor | None,
    ) -> Iterator[MelBlock]:
        """`infer` for one utterance as postnet mel blocks handed out between replays
        (`tacotron.model.streaming`); the last block carries what `infer` returns. Arguments as there."""
        g, max_steps, r = self._prepare(
            text, text_lengths, r, max_decoder_steps, gate_threshold, deterministic, style
        )
        length = text.size(1)
        yield from stream_mel(
            g.decoding, self._blocks(g, max_steps), lambda parts: self._output(parts, max_steps, r, length)
        )

    def _prepare(
        self,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        r: int,
        max_decoder_steps: int | None,
        gate_threshold: float | None,
        deterministic: bool,
        style: dict[str, torch.Tensor | None],
    ) -> tuple[_StepGraphs, int, int]:
        """The graphs of this call's shape, loaded with its memory and a fresh state; its step limit and r.
        `style` (speakers included) joins the memory here, so the captured decoder is speaker-agnostic."""
        model = self.model
        r = model.check_r(r)
        if model.training:
            raise RuntimeError("GraphedInference: call model.eval() first")
        max_steps = model.inference_max_steps(max_decoder_steps)
        threshold = model.gate_threshold if gate_threshold is None else gate_threshold
        dropout = model.dropout_at_inference(deterministic)
        if self.prepared_step and self.inference_weights is None:
            self.inference_weights = InferenceWeights(model.decoder, self.dtype)
        elif self.prepared_step:
            self.inference_weights.refresh()  # in place: the captured graphs read the same tensors
        with self._autocast():
            mem = model.inference_memory(text, text_lengths, **style)
        mem = pad_memory(mem, bucket_length(text.size(1), self.text_multiple))
        key = (text.size(0), mem.mask.size(1), max_steps, threshold, dropout, r)
        g = self._graphs_for(key, mem, text_lengths, max_steps)
        self._reset(g, mem, text_lengths)
        return g, max_steps, r

    @staticmethod
    def _output(parts: tuple[torch.Tensor, ...], max_steps: int, r: int, length: int) -> InferenceOutput:
        """`Decoding.finish`'s tuple as an InferenceOutput, alignments cut back from the bucket to `length`."""
        mel, mel_postnet, gate, align, lengths, codes = parts
        reasons = stop_reason_names(codes, max_steps, r)
        return InferenceOutput(mel, mel_postnet, gate, align[:, :, :length], lengths, reasons, r)

    def _blocks(self, g: _StepGraphs, max_steps: int) -> Iterator[DecodedBlock]:
        """`_run`'s replays one at a time, each block's outputs copied out of the static buffers."""
        n = 0
        for size in block_sizes(max_steps, self.k):
            g.graphs[size].replay()
            ran = [
                buffer[:, n : n + size].to(torch.float32, copy=True) for buffer in (g.mel, g.gate, g.align)
            ]
            n += size
            yield DecodedBlock(*ran, StopState(*(t.clone() for t in g.stop)))
            if bool(g.stop.stopped.all()):
                return

    def _graphs_for(
        self, key: tuple, mem: EncoderMemory, text_lengths: torch.Tensor, max_steps: int
    ) -> _StepGraphs:
        """The graphs of this shape: reused (now the most recent), else captured, evicting the oldest."""
        if key in self.graphs:
            self.graphs.move_to_end(key)
            return self.graphs[key]
        while len(self.graphs) >= self.max_graphs:
            self.graphs.popitem(last=False)
        _, _, _, threshold, dropout, r = key
        step = None
        if self.compile_step:
            step = compiled_step(self.model, r, dropout)
        elif self.prepared_step:
            step = PreparedDecoderStep(self.inference_weights, r, dropout_active=dropout)
        decoding = decoding_for(self.model, r, step=step, gate_threshold=threshold, dropout_active=dropout)
        self.graphs[key] = self._capture(decoding, mem, text_lengths, max_steps)
        return self.graphs[key]

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


def compiled_step(model: Tacotron2, r: int, dropout_active: bool) -> torch.nn.Module:
    """`DecoderStep` through `torch.compile` (one graph, no breaks: checked by the tests).

    Why: at batch 1 a step is ~45 tiny kernels; Inductor fuses the pointwise chains (LSTM gates,
    attention energies, mask, softmax) so a replayed graph launches fewer. dynamic=True: one compiled
    graph serves every text bucket instead of one compilation per shape (and Dynamo's recompile limit).
    The module shares the model's parameters, so a model loaded later into the same object is used.
    """
    return torch.compile(DecoderStep(model.decoder, r, dropout_active=dropout_active), dynamic=True)


def pad_memory(mem: EncoderMemory, length: int) -> EncoderMemory:
    """`mem` with positions appended up to `length`: memory and projection 0, mask False.

    Masked positions get attention weight exactly 0 (the energies are filled with the dtype's minimum
    before the softmax), so the context, the location features of the real positions (a zero weight
    is what the location convolution's zero padding reads anyway) and the stop rule are unchanged.
    """
    extra = length - mem.mask.size(1)
    if extra <= 0:
        return mem
    return EncoderMemory(
        F.pad(mem.memory, (0, 0, 0, extra)),
        F.pad(mem.processed, (0, 0, 0, extra)),
        F.pad(mem.mask, (0, extra)),
    )
