"""Free-running synthesis with the decoder step replayed from CUDA graphs.

Why: at batch 1 a decoder step is dozens of tiny kernels, and eager PyTorch spends far longer
launching them than the GPU spends running them. Here `k` consecutive steps (prenet, decoder step,
stop bookkeeping, writing the frames into preallocated output buffers at a step counter held in a
device tensor) are captured once per (batch, text length) shape with static state buffers, and
replayed; the outputs and the stop bookkeeping of the k steps are written once per replay
(`StopTracker.update_block`) instead of once per step. The host checks "all stopped?" only between
replays, exactly where `decode` checks every `check_every` steps, so the number of steps run, the
lengths and the stop reasons equal the eager `Tacotron2.infer` (`k` must equal the model's
`stop_check_every`; a 1-step graph runs any remainder up to `max_decoder_steps`). The encoder and
postnet run eagerly, once per call.

Prenet dropout at inference uses the default CUDA generator (captured with the graph); a seeded
generator is not supported here (use `Tacotron2.infer(seed=...)`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from tacotron.data.batch import lengths_to_mask
from tacotron.model.decoder import DecoderState, EncoderMemory
from tacotron.model.inference import StopTracker
from tacotron.model.tacotron2 import InferenceOutput, Tacotron2

_TRACKED = ("max_peak", "eos_run", "stopped", "lengths", "reasons", "needed", "last_symbol")


@dataclass
class _StepGraphs:
    """Static buffers of one shape and the graphs that advance them by k steps and by 1 step."""

    r: int  # frames per decoder step the graphs were captured for
    mem: EncoderMemory
    state: DecoderState
    frame: torch.Tensor  # [B, n_mels] input of the next step
    step: torch.Tensor  # 0-dim long: index of the next step
    tracker: StopTracker
    mel: torch.Tensor  # [B, S_max, r * n_mels]
    gate: torch.Tensor  # [B, S_max, r]
    align: torch.Tensor  # [B, S_max, L]
    graph_k: torch.cuda.CUDAGraph
    graph_1: torch.cuda.CUDAGraph


class GraphedInference:
    """`infer(text, text_lengths, ...)` with the same contract and results as `Tacotron2.infer`.

    One set of graphs per (B, L, max_decoder_steps, gate_threshold, prenet dropout, r); call on a model
    in eval mode on a CUDA device. The buffers hold `max_decoder_steps` steps of output.
    """

    def __init__(self, model: Tacotron2, *, dtype: torch.dtype = torch.float32):
        if next(model.parameters()).device.type != "cuda":
            raise ValueError("GraphedInference needs the model on a CUDA device")
        self.model = model
        self.k = model.stop_check_every
        self.dtype = dtype
        self.pool = torch.cuda.graph_pool_handle()
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
        tracker = self._tracker(text_lengths, threshold, r)
        key = (text.size(0), text.size(1), max_steps, threshold, dropout, r)
        if key not in self.graphs:
            self.graphs[key] = self._capture(mem, tracker, max_steps, dropout, r)
        g = self.graphs[key]
        self._reset(g, mem, tracker)
        n_steps = self._run(g, max_steps)
        lengths, reasons = g.tracker.finish(n_steps, max_steps)
        mel, gate, align = _assemble(g, n_steps, model.n_mels)
        return model._finish_inference(mel.float(), gate.float(), align.float(), lengths, reasons, r)

    def _autocast(self) -> torch.autocast:
        """A top-level autocast region (opened and closed inside a capture, so its cast cache is safe)."""
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.dtype == torch.bfloat16)

    def _tracker(self, text_lengths: torch.Tensor, threshold: float, r: int) -> StopTracker:
        m = self.model
        return StopTracker(
            text_lengths,
            r=r,
            gate_threshold=threshold,
            min_text_fraction=m.min_text_fraction,
            stop_at_end_of_text=m.stop_at_end_of_text,
            eos_steps=m.eos_stop_steps,
        )

    def _run(self, g: _StepGraphs, max_steps: int) -> int:
        """Replay k-step graphs with a stop check after each, then 1-step graphs up to max_steps."""
        n = 0
        while n + self.k <= max_steps:
            g.graph_k.replay()
            n += self.k
            if g.tracker.all_stopped():
                return n
        while n < max_steps:
            g.graph_1.replay()
            n += 1
        return n

    def _advance(self, g: _StepGraphs, n: int, dropout: bool) -> None:
        """n decoder steps on the static buffers (the captured body); writes results back in place."""
        dec, r = self.model.decoder, g.r
        state, frame = g.state, g.frame
        outs, gates, weights = [], [], []
        with self._autocast():  # one region for all n steps: weights are cast once, not per step
            for _ in range(n):
                prenet_frame = dec.prenet(frame, dropout_active=dropout)
                state, out, gate = dec.step(prenet_frame, state, g.mem, r)
                outs.append(out)
                gates.append(gate)
                weights.append(state.attention_weights)
                frame = out[:, -dec.n_mels :]
        # outputs and stop bookkeeping once per n steps: fewer kernels than per step (same results)
        index = g.step + torch.arange(n, device=g.step.device)
        gates_block, weights_block = torch.stack(gates, 1), torch.stack(weights, 1)
        g.mel.index_copy_(1, index, torch.stack(outs, 1).to(g.mel.dtype))
        g.gate.index_copy_(1, index, gates_block.to(g.gate.dtype))
        g.align.index_copy_(1, index, weights_block.to(g.align.dtype))
        g.tracker.update_block(g.step, gates_block, weights_block)
        for f in fields(DecoderState):
            getattr(g.state, f.name).copy_(getattr(state, f.name))
        g.frame.copy_(frame)
        g.step.add_(n)

    def _capture(
        self, mem: EncoderMemory, tracker: StopTracker, max_steps: int, dropout: bool, r: int
    ) -> _StepGraphs:
        dec = self.model.decoder
        b, length, _ = mem.memory.shape
        static_mem = EncoderMemory(mem.memory.clone(), mem.processed.clone(), mem.mask.clone())
        state = dec.initial_state(static_mem)
        width = r * dec.n_mels
        zeros = mem.memory.new_zeros
        g = _StepGraphs(
            r=r,
            mem=static_mem,
            state=state,
            frame=zeros(b, dec.n_mels),
            step=torch.zeros((), dtype=torch.long, device=mem.memory.device),
            tracker=tracker,
            mel=zeros(b, max_steps, width),
            gate=zeros(b, max_steps, r),
            align=zeros(b, max_steps, length),
            graph_k=torch.cuda.CUDAGraph(),
            graph_1=torch.cuda.CUDAGraph(),
        )
        for graph, n in ((g.graph_k, self.k), (g.graph_1, 1)):
            self._reset(g, mem, tracker)
            self._with_static_tracker(g, lambda n=n: self._advance(g, n, dropout))  # warm-up
            torch.cuda.synchronize()
            self._reset(g, mem, tracker)
            with torch.cuda.graph(graph, pool=self.pool):
                self._with_static_tracker(g, lambda n=n: self._advance(g, n, dropout))
        return g

    def _with_static_tracker(self, g: _StepGraphs, body) -> None:
        """Run body with the tracker's fields as views of the static buffers, then write back."""
        static = {name: getattr(g.tracker, name) for name in _TRACKED}
        body()
        for name in _TRACKED:
            static[name].copy_(getattr(g.tracker, name))
            setattr(g.tracker, name, static[name])

    def _reset(self, g: _StepGraphs, mem: EncoderMemory, tracker: StopTracker) -> None:
        """Load this call's memory and fresh initial state / stop state into the static buffers."""
        g.mem.memory.copy_(mem.memory)
        g.mem.processed.copy_(mem.processed)
        g.mem.mask.copy_(mem.mask)
        for f in fields(DecoderState):
            getattr(g.state, f.name).zero_()
        g.frame.zero_()
        g.step.zero_()
        for name in _TRACKED:
            getattr(g.tracker, name).copy_(getattr(tracker, name))


def _assemble(g: _StepGraphs, n_steps: int, n_mels: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Static buffers -> mel [B, n_mels, S*r], gate [B, S*r], alignments [B, S, L] for the steps run."""
    mel = g.mel[:, :n_steps]
    b = mel.size(0)
    return (
        mel.reshape(b, -1, n_mels).transpose(1, 2).clone(),
        g.gate[:, :n_steps].reshape(b, -1).clone(),
        g.align[:, :n_steps].clone(),
    )
