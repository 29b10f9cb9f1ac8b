"""Free-running batched decoding: the one step, stop rule, loop and finishing of every inference path.

Eager `Tacotron2.infer`, `GraphedInference` (CUDA graphs) and the TorchScript export run this code, so
they cannot drift apart (the numpy ONNX runner, which may not import torch, mirrors it; see there):
- the step: `Decoder.infer_step` (prenet -> attention LSTM -> attention -> decoder LSTM -> projections),
  reached through `DecoderStep`, a module with tensor-only inputs and outputs, so export can trace it;
- the stop rule: `stop_start` / `stop_update` / `stop_finish`, pure tensor functions (TorchScript
  compiles them). Every item stops on its own: when its gate fires *and* its attention has reached
  `min_text_fraction` of its own text (a gate that fires on the first frames cannot cut a sentence
  short), or, optionally, when its attention has sat on its last symbol for `eos_steps` consecutive
  steps; items that never stop are cut at `max_steps` (and `stop_reason_names` warns, naming them);
- the loop: `Decoding.forward` runs blocks of `check_every` steps (`Decoding.run_block`: k steps, then
  the stop rule once for the block) and asks the host "all stopped?" only between blocks, so a GPU is
  not synchronised on every step. `GraphedInference` captures `run_block` in CUDA graphs and replays
  it on the same block schedule; the TorchScript export scripts `Decoding` around traced parts;
- the finishing: `Decoding.finish` (lengths and stop codes, trim to the longest item, zero frames past
  each length, postnet on the real frames, mask the alignments).
"""

# No `from __future__ import annotations` here: TorchScript must see StopState's field types as types.
import logging
import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from tacotron.frames import decoder_steps_tensor
from tacotron.model.decoder import Decoder, DecoderState, EncoderMemory

logger = logging.getLogger(__name__)

# index = stop code; the stop functions write the codes as literals (TorchScript cannot read globals)
STOP_REASONS = ("running", "gate", "end_of_text", "max_steps")


class StopState(NamedTuple):
    """Per-item stop bookkeeping, all [B] tensors, carried from block to block (TorchScript-friendly)."""

    needed: Tensor  # symbols attention must have reached before the gate may stop the item (>= 1)
    last_symbol: Tensor  # index of the item's last real symbol (EOS)
    max_peak: Tensor  # furthest attention peak so far (-1: no step yet)
    eos_run: Tensor  # consecutive steps whose peak sat on the last symbol
    stopped: Tensor  # bool
    lengths: Tensor  # frames of the items that stopped (0 while running)
    reasons: Tensor  # stop code (index into STOP_REASONS) of the items that stopped


def gate_logit(gate_threshold: float) -> float:
    """The gate probability threshold as a logit (the rule compares logits, so no sigmoid per step)."""
    if not 0.0 < gate_threshold < 1.0:
        raise ValueError(f"gate_threshold must be in (0, 1), got {gate_threshold}")
    return math.log(gate_threshold / (1.0 - gate_threshold))


def stop_start(text_lengths: Tensor, min_text_fraction: float) -> StopState:
    """The stop state before the first step, for texts of `text_lengths` symbols."""
    lengths = text_lengths.long()
    needed = torch.ceil(min_text_fraction * lengths.double()).long().clamp(min=1)
    return StopState(  # separate tensors: the CUDA-graph path updates them in place
        needed=needed,
        last_symbol=lengths - 1,
        max_peak=torch.full_like(lengths, -1),
        eos_run=torch.zeros_like(lengths),
        stopped=torch.zeros_like(lengths, dtype=torch.bool),
        lengths=torch.zeros_like(lengths),
        reasons=torch.zeros_like(lengths),
    )


def stop_update(
    s: StopState,
    first_step: Tensor,
    gate_logits: Tensor,
    weights: Tensor,
    r: int,
    gate_logit_threshold: float,
    stop_at_end_of_text: bool,
    eos_steps: int,
) -> StopState:
    """The state after steps first_step .. first_step + K - 1: gate_logits [B, K, r], weights [B, K, L].

    first_step: 0-dim long tensor (a device counter on the CUDA-graph path, so no host sync).
    Per step t: an item stops when a frame's gate logit exceeds the threshold and its attention peak
    has reached `needed` (length: up to that frame), or (if enabled) when its peak has sat on the last
    symbol for `eos_steps` steps (length: the whole step); the gate wins a tie; only an item's first
    stop counts. Any K leaves the state that K one-step updates would, with the same few dozen small
    ops: updating once per block of steps, instead of every step, is what makes batch-1 CUDA-graph
    decoding fast (benchmarks/RESULTS.md).
    """
    k = weights.size(1)
    offsets = torch.arange(k, device=weights.device)  # (K,)
    peak = weights.argmax(dim=2)  # (B, K)
    max_peak = torch.maximum(torch.cummax(peak, dim=1).values, s.max_peak.unsqueeze(1))
    reached = max_peak + 1 >= s.needed.unsqueeze(1)
    fires = gate_logits.float() > gate_logit_threshold  # (B, K, r)
    gate_candidate = fires.any(dim=2) & reached
    first_fire = fires.int().argmax(dim=2)  # (B, K): first frame of the group above threshold
    # consecutive steps on the last symbol, continuing the run carried in from earlier blocks
    on_eos = peak == s.last_symbol.unsqueeze(1)
    last_off_eos = torch.cummax(torch.where(on_eos, -1, offsets), dim=1).values  # -1: none yet
    eos_run = torch.where(last_off_eos < 0, s.eos_run.unsqueeze(1) + offsets + 1, offsets - last_off_eos)
    candidate = gate_candidate
    if stop_at_end_of_text:
        candidate = candidate | (eos_run >= eos_steps)
    stops = candidate.any(dim=1) & ~s.stopped
    first = candidate.int().argmax(dim=1, keepdim=True)  # (B, 1): first step with a stop
    by_gate = gate_candidate.gather(1, first).squeeze(1)
    gate_stop, eos_stop = stops & by_gate, stops & ~by_gate
    stop_step = first.squeeze(1) + first_step
    gate_length = stop_step * r + first_fire.gather(1, first).squeeze(1) + 1
    lengths = torch.where(gate_stop, gate_length, s.lengths)
    lengths = torch.where(eos_stop, (stop_step + 1) * r, lengths)
    reasons = torch.where(gate_stop, torch.full_like(s.reasons, 1), s.reasons)  # 1: gate
    reasons = torch.where(eos_stop, torch.full_like(reasons, 2), reasons)  # 2: end_of_text
    return StopState(
        s.needed, s.last_symbol, max_peak[:, -1], eos_run[:, -1], s.stopped | stops, lengths, reasons
    )


def stop_finish(s: StopState, n_steps: int, r: int) -> tuple[Tensor, Tensor]:
    """(lengths [B] in frames, stop codes [B]) after `n_steps` steps: items still running get all
    `n_steps * r` frames and code 3 (max_steps)."""
    lengths = torch.where(s.stopped, s.lengths, torch.full_like(s.lengths, n_steps * r))
    reasons = torch.where(s.stopped, s.reasons, torch.full_like(s.reasons, 3))  # 3: max_steps
    return lengths, reasons


def stop_reason_names(codes: Tensor, max_steps: int, r: int) -> list[str]:
    """Stop codes -> "gate" | "end_of_text" | "max_steps", with a warning naming the items that were cut."""
    names = [STOP_REASONS[int(code)] for code in codes.tolist()]
    cut = [i for i, name in enumerate(names) if name == "max_steps"]
    if cut:
        logger.warning(
            "inference: items %s did not stop within max_decoder_steps=%d (%d frames); output cut there",
            cut,
            max_steps,
            max_steps * r,
        )
    return names


def block_sizes(max_steps: int, check_every: int) -> list[int]:
    """The block schedule of every path: blocks of `check_every` steps, a shorter last one at max_steps."""
    return [min(check_every, max_steps - n) for n in range(0, max_steps, check_every)]


class DecoderStep(nn.Module):
    """`Decoder.infer_step` with tensor-only inputs and outputs (traceable for export):
    (last frame [B, n_mels], 7 state tensors in `DecoderState` order, memory [B, L, E],
    processed [B, L, A], mask [B, L] bool) -> (frames [B, r * n_mels], gate logits [B, r], 7 state tensors).
    """

    def __init__(
        self,
        decoder: Decoder,
        r: int,
        *,
        dropout_active: bool = False,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.decoder = decoder
        self.r = r
        self.dropout_active = dropout_active
        self.generator = generator

    def forward(self, frame, ah, ac, dh, dc, w, wcum, ctx, memory, processed, mask):  # noqa: ANN001
        state, frames, gate = self.decoder.infer_step(
            frame,
            DecoderState(ah, ac, dh, dc, w, wcum, ctx),
            EncoderMemory(memory, processed, mask),
            self.r,
            dropout_active=self.dropout_active,
            generator=self.generator,
        )
        s = state
        return (frames, gate, s.attention_hidden, s.attention_cell, s.decoder_hidden, s.decoder_cell,
                s.attention_weights, s.attention_weights_cum, s.attention_context)  # fmt: skip


class Decoding(nn.Module):
    """The decoding loop around a step module and a postnet; build it with `decoding_for`.

    Holds no parameters of its own: `step` is a `DecoderStep` (eager, graphed) or its trace (export),
    `postnet` maps (mel [B, n_mels, T], mask [B, T]) to the residual that is added to the mel.
    `forward` returns mel, mel_postnet [B, n_mels, T_max], gate logits [B, T_max], alignments
    [B, T_max // r, L], lengths [B] and stop codes [B] (index into STOP_REASONS).
    """

    def __init__(
        self,
        step: nn.Module,
        postnet: nn.Module,
        *,
        r: int,
        n_mels: int,
        attention_rnn_dim: int,
        decoder_rnn_dim: int,
        gate_threshold: float,
        min_text_fraction: float,
        stop_at_end_of_text: bool,
        eos_steps: int,
        check_every: int,
    ):
        super().__init__()
        self.step = step
        self.postnet = postnet
        self.r = r
        self.n_mels = n_mels
        self.attention_rnn_dim = attention_rnn_dim
        self.decoder_rnn_dim = decoder_rnn_dim
        self.gate_logit = gate_logit(gate_threshold)
        self.min_text_fraction = float(min_text_fraction)
        self.stop_at_end_of_text = bool(stop_at_end_of_text)
        self.eos_steps = int(eos_steps)
        self.check_every = int(check_every)

    def forward(
        self, memory: Tensor, processed: Tensor, mask: Tensor, text_lengths: Tensor, max_steps: int
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Decode until every item stopped (checked between blocks) or `max_steps`, then finish."""
        frame = memory.new_zeros([memory.size(0), self.n_mels])  # go frame
        state = self.initial_state(memory)
        stop = stop_start(text_lengths, self.min_text_fraction)
        step = torch.zeros((), dtype=torch.long, device=memory.device)
        frames: list[Tensor] = []
        gates: list[Tensor] = []
        alignments: list[Tensor] = []
        n_steps = 0
        while n_steps < max_steps:
            k = min(self.check_every, max_steps - n_steps)  # = block_sizes(max_steps, check_every)
            frame, state, stop, out, gate, weights = self.run_block(
                k, step, frame, state, stop, memory, processed, mask
            )
            frames.append(out)
            gates.append(gate)
            alignments.append(weights)
            n_steps += k
            step = step + k
            if bool(stop.stopped.all()):
                break
        return self.finish(torch.cat(frames, 1), torch.cat(gates, 1), torch.cat(alignments, 1), stop, n_steps)

    def initial_state(self, memory: Tensor) -> list[Tensor]:
        """All-zero decoder state (as `Decoder.initial_state`) in `DecoderState` field order."""
        b, length, e = memory.size(0), memory.size(1), memory.size(2)
        a, d = self.attention_rnn_dim, self.decoder_rnn_dim
        sizes = [[b, a], [b, a], [b, d], [b, d], [b, length], [b, length], [b, e]]
        return [memory.new_zeros(size) for size in sizes]

    def run_block(
        self,
        k: int,
        first_step: Tensor,
        frame: Tensor,
        state: list[Tensor],
        stop: StopState,
        memory: Tensor,
        processed: Tensor,
        mask: Tensor,
    ) -> tuple[Tensor, list[Tensor], StopState, Tensor, Tensor, Tensor]:
        """k steps from `frame` and `state`, then the stop rule once for all of them.

        -> (next input frame, state, stop state, frames [B, k, r * n_mels], gates [B, k, r],
        alignments [B, k, L]). The last frame of each step's group feeds the next step.
        """
        frames: list[Tensor] = []
        gates: list[Tensor] = []
        weights: list[Tensor] = []
        for _ in range(k):
            out, gate, ah, ac, dh, dc, w, wcum, ctx = self.step(
                frame, state[0], state[1], state[2], state[3], state[4], state[5], state[6],
                memory, processed, mask,
            )  # fmt: skip
            state = [ah, ac, dh, dc, w, wcum, ctx]
            frames.append(out)
            gates.append(gate)
            weights.append(w)
            frame = out[:, out.size(1) - self.n_mels :]
        gate_block, weight_block = torch.stack(gates, 1), torch.stack(weights, 1)
        stop = stop_update(
            stop, first_step, gate_block, weight_block, self.r, self.gate_logit,
            self.stop_at_end_of_text, self.eos_steps,
        )  # fmt: skip
        return frame, state, stop, torch.stack(frames, 1), gate_block, weight_block

    def finish(
        self, frames: Tensor, gates: Tensor, alignments: Tensor, stop: StopState, n_steps: int
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """frames [B, S, r * n_mels], gates [B, S, r], alignments [B, S, L] of the S = n_steps steps run
        -> trimmed to the longest item, zero past each length, postnet on the real frames (see class)."""
        lengths, codes = stop_finish(stop, n_steps, self.r)
        b = frames.size(0)
        mel = frames.reshape(b, -1, self.n_mels).transpose(1, 2)  # (B, n_mels, S * r)
        steps = decoder_steps_tensor(lengths, self.r)
        s_max = int(steps.max())
        t_max = s_max * self.r
        mask = torch.arange(t_max, device=mel.device).unsqueeze(0) < lengths.unsqueeze(1)  # (B, T_max)
        mel = mel[:, :, :t_max] * mask.unsqueeze(1).to(mel.dtype)
        mel_postnet = mel + self.postnet(mel, mask)
        step_mask = torch.arange(s_max, device=mel.device).unsqueeze(0) < steps.unsqueeze(1)  # (B, S)
        align = alignments[:, :s_max] * step_mask.unsqueeze(2).to(alignments.dtype)
        return mel, mel_postnet, gates.reshape(b, -1)[:, :t_max], align, lengths, codes


def decoding_for(
    model: nn.Module,
    r: int,
    *,
    step: nn.Module | None = None,
    postnet: nn.Module | None = None,
    gate_threshold: float | None = None,
    dropout_active: bool = False,
    generator: torch.Generator | None = None,
) -> Decoding:
    """The `Decoding` of a `Tacotron2` at reduction factor r, with the model's stop settings.

    step / postnet: replacements of the model's own (export passes their traces); dropout_active and
    generator: prenet dropout of the model's own step (off by default: deterministic).
    """
    d = model.decoder
    return Decoding(
        step if step is not None else DecoderStep(d, r, dropout_active=dropout_active, generator=generator),
        postnet if postnet is not None else model.postnet,
        r=r,
        n_mels=model.n_mels,
        attention_rnn_dim=d.attention_rnn.hidden_size,
        decoder_rnn_dim=d.decoder_rnn.hidden_size,
        gate_threshold=model.gate_threshold if gate_threshold is None else gate_threshold,
        min_text_fraction=model.min_text_fraction,
        stop_at_end_of_text=model.stop_at_end_of_text,
        eos_steps=model.eos_stop_steps,
        check_every=model.stop_check_every,
    )
