"""Batched autoregressive decoding with a per-utterance stop rule.

Every item stops on its own: when its gate fires *and* its attention has already reached
`min_text_fraction` of its own text (a gate that fires on the first frames cannot cut a sentence
short), or, optionally, when its attention has sat on its last symbol (EOS) for `eos_steps`
consecutive steps. Stop bookkeeping is kept in tensors; the host checks "all stopped?" only every
`check_every` steps, so a GPU is not synchronised on every step. Items that never stop are cut at
`max_steps`, and a warning names them, instead of looping forever.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch

from tacotron.model.decoder import Decoder, EncoderMemory, assemble_outputs

logger = logging.getLogger(__name__)

STOP_REASONS = ("running", "gate", "end_of_text", "max_steps")
_GATE, _END_OF_TEXT, _MAX_STEPS = 1, 2, 3


class StopTracker:
    """Per-item stop state as tensors. `update` once per decoder step; `finish` once at the end."""

    def __init__(
        self,
        text_lengths: torch.Tensor,
        *,
        r: int,
        gate_threshold: float,
        min_text_fraction: float,
        stop_at_end_of_text: bool,
        eos_steps: int,
    ):
        if not 0.0 < gate_threshold < 1.0:
            raise ValueError(f"gate_threshold must be in (0, 1), got {gate_threshold}")
        self.r = r
        self.gate_logit_threshold = math.log(gate_threshold / (1.0 - gate_threshold))
        self.stop_at_end_of_text = stop_at_end_of_text
        self.eos_steps = eos_steps
        lengths = text_lengths.long()
        self.needed = torch.ceil(min_text_fraction * lengths.double()).long().clamp(min=1)
        self.last_symbol = lengths - 1
        self.max_peak = torch.full_like(lengths, -1)
        self.eos_run = torch.zeros_like(lengths)
        self.stopped = torch.zeros_like(lengths, dtype=torch.bool)
        self.lengths = torch.zeros_like(lengths)
        self.reasons = torch.zeros_like(lengths)

    def update(self, step: int | torch.Tensor, gate_logits: torch.Tensor, weights: torch.Tensor) -> None:
        """gate_logits [B, r] of this step's frames, weights [B, L] this step's alignment."""
        self.update_block(step, gate_logits.unsqueeze(1), weights.unsqueeze(1))

    def update_block(
        self, first_step: int | torch.Tensor, gate_logits: torch.Tensor, weights: torch.Tensor
    ) -> None:
        """gate_logits [B, K, r] and weights [B, K, L] of steps first_step .. first_step + K - 1.

        Leaves exactly the state that K one-step updates would, with the same few dozen small ops
        however large K is: on the CUDA-graph decoding path, updating once per 8 steps instead of every
        step raised batch-1 decoding from ~4.5k to ~6.1k frames/s on an H100 (benchmarks/RESULTS.md).
        Per step t: an item stops when its gate fires and its attention peak has reached
        `needed`, or (if enabled) when its peak has sat on the last symbol for `eos_steps` steps; the
        gate wins a tie; only the first stop of an item counts.
        """
        k = weights.size(1)
        offsets = torch.arange(k, device=weights.device)  # (K,)
        peak = weights.argmax(dim=2)  # (B, K)
        max_peak = torch.maximum(torch.cummax(peak, dim=1).values, self.max_peak.unsqueeze(1))
        reached = max_peak + 1 >= self.needed.unsqueeze(1)
        fires = gate_logits.float() > self.gate_logit_threshold  # (B, K, r)
        gate_candidate = fires.any(dim=2) & reached
        first_fire = fires.int().argmax(dim=2)  # (B, K): first frame of the group above threshold
        # consecutive steps on the last symbol, continuing the run carried in from earlier blocks
        on_eos = peak == self.last_symbol.unsqueeze(1)
        last_off_eos = torch.cummax(torch.where(on_eos, -1, offsets), dim=1).values  # -1: none yet
        eos_run = torch.where(
            last_off_eos < 0, self.eos_run.unsqueeze(1) + offsets + 1, offsets - last_off_eos
        )
        candidate = gate_candidate
        if self.stop_at_end_of_text:
            candidate = candidate | (eos_run >= self.eos_steps)
        stops = candidate.any(dim=1) & ~self.stopped
        first = candidate.int().argmax(dim=1, keepdim=True)  # (B, 1): first step with a stop
        by_gate = gate_candidate.gather(1, first).squeeze(1)
        gate_stop, eos_stop = stops & by_gate, stops & ~by_gate
        stop_step = first.squeeze(1) + first_step
        gate_length = stop_step * self.r + first_fire.gather(1, first).squeeze(1) + 1
        self.lengths = torch.where(gate_stop, gate_length, self.lengths)
        self.lengths = torch.where(eos_stop, (stop_step + 1) * self.r, self.lengths)
        self.reasons = torch.where(gate_stop, torch.full_like(self.reasons, _GATE), self.reasons)
        self.reasons = torch.where(eos_stop, torch.full_like(self.reasons, _END_OF_TEXT), self.reasons)
        self.stopped = self.stopped | stops
        self.max_peak = max_peak[:, -1]
        self.eos_run = eos_run[:, -1]

    def all_stopped(self) -> bool:
        """Host sync: call every few steps, not every step."""
        return bool(self.stopped.all())

    def finish(self, n_steps: int, max_steps: int) -> tuple[torch.Tensor, list[str]]:
        """Items still running get `n_steps * r` frames and reason "max_steps" (with a warning)."""
        running = ~self.stopped
        lengths = torch.where(running, torch.full_like(self.lengths, n_steps * self.r), self.lengths)
        reasons = torch.where(running, torch.full_like(self.reasons, _MAX_STEPS), self.reasons)
        names = [STOP_REASONS[int(code)] for code in reasons.tolist()]
        cut = [i for i, name in enumerate(names) if name == "max_steps"]
        if cut:
            logger.warning(
                "inference: items %s did not stop within max_decoder_steps=%d (%d frames); output cut there",
                cut,
                max_steps,
                max_steps * self.r,
            )
        return lengths, names


@dataclass
class RawDecoding:
    """Un-trimmed decoder outputs: mel [B, n_mels, S*r], gate [B, S*r], alignments [B, S, L]."""

    mel: torch.Tensor
    gate_logits: torch.Tensor
    alignments: torch.Tensor
    lengths: torch.Tensor
    stop_reasons: list[str]


def decode(
    decoder: Decoder,
    mem: EncoderMemory,
    tracker: StopTracker,
    *,
    r: int,
    max_steps: int,
    prenet_dropout: bool,
    generator: torch.Generator | None,
    check_every: int = 8,
) -> RawDecoding:
    """Run decoder steps until every item stopped (checked every `check_every` steps) or `max_steps`."""
    if max_steps < 1:
        raise ValueError(f"max_decoder_steps must be >= 1, got {max_steps}")
    state = decoder.initial_state(mem)
    frame = mem.memory.new_zeros(mem.memory.size(0), decoder.n_mels)  # go frame
    frames, gates, alignments = [], [], []
    n_steps = tracked = 0  # steps run / steps already given to the tracker (in blocks, fewer kernels)
    for step in range(max_steps):
        prenet_frame = decoder.prenet(frame, dropout_active=prenet_dropout, generator=generator)
        state, out, gate = decoder.step(prenet_frame, state, mem, r)
        frames.append(out)
        gates.append(gate)
        alignments.append(state.attention_weights)
        frame = out[:, -decoder.n_mels :]  # last frame of the group feeds the next step
        n_steps = step + 1
        if n_steps % check_every == 0 or n_steps == max_steps:
            tracker.update_block(
                tracked, torch.stack(gates[tracked:], 1), torch.stack(alignments[tracked:], 1)
            )
            tracked = n_steps
            if tracker.all_stopped():
                break
    lengths, reasons = tracker.finish(n_steps, max_steps)
    mel, gate_logits, align = assemble_outputs(frames, gates, alignments, decoder.n_mels)
    return RawDecoding(mel, gate_logits, align, lengths, reasons)
