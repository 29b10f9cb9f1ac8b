"""Incremental decoding: postnet mel frames handed out in blocks while the decoder keeps running.

Why: a streaming service can vocode and send the start of an utterance while its end is still being
decoded. Nothing here decodes differently: the blocks are the ones `Decoding.forward` (eager) or
`GraphedInference` (replayed graphs) run anyway, on the same `block_sizes` schedule with the same stop
rule, and the call ends with the same `Decoding.finish`, so the final `InferenceOutput` is the one-shot
call's. Only the postnet needs care: it is a stack of centred convolutions, so its output at frame t
reads `postnet_halo` frames on either side. A frame is handed out once `halo` frames after it are
decoded and the item is still running (every frame decoded so far is then a real frame, so the postnet
window equals the one-shot one); the frames after that are handed out from the finished output when the
item stops. Handed-out frames equal the one-shot `mel_postnet` up to convolution rounding (the window is
shorter, so the convolution may sum in another order: ~1e-7 here); the last block is taken from the
one-shot output itself. Batch size 1 only: a stream is one utterance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from tacotron.model.inference import Decoding, StopState, block_sizes, stop_start

if TYPE_CHECKING:
    from tacotron.model.decoder import EncoderMemory
    from tacotron.model.tacotron2 import InferenceOutput


class DecodedBlock:
    """One block of decoder steps as the loop produced it: frames [1, k, r * n_mels], gate logits
    [1, k, r], attention weights [1, k, L] and the stop state after the block."""

    def __init__(self, frames: Tensor, gates: Tensor, weights: Tensor, stop: StopState):
        self.frames, self.gates, self.weights, self.stop = frames, gates, weights, stop


@dataclass
class MelBlock:
    """Postnet mel frames start .. start + n of the utterance, [n_mels, n]; the last block of a call
    also carries the whole call's `output` (what the one-shot inference would have returned)."""

    mel: Tensor
    start: int
    output: InferenceOutput | None = None


def postnet_halo(postnet: nn.Module) -> int:
    """Frames on either side that the postnet's output at one frame reads (sum of its conv radii)."""
    return sum((conv.kernel_size[0] - 1) // 2 * conv.dilation[0] for conv in postnet.convs)


def eager_blocks(decoding: Decoding, mem: EncoderMemory, text_lengths: Tensor, max_steps: int):
    """The blocks of `Decoding.forward`, one at a time, until the item stopped or `max_steps`."""
    memory = mem.memory
    frame = memory.new_zeros([memory.size(0), decoding.n_mels])  # go frame
    state = decoding.initial_state(memory)
    stop = stop_start(text_lengths, decoding.min_text_fraction)
    step = torch.zeros((), dtype=torch.long, device=memory.device)
    for k in block_sizes(max_steps, decoding.check_every):
        frame, state, stop, out, gate, weights = decoding.run_block(
            k, step, frame, state, stop, memory, mem.processed, mem.mask
        )
        step = step + k
        yield DecodedBlock(out, gate, weights, stop)
        if bool(stop.stopped.all()):
            return


def stream_mel(
    decoding: Decoding,
    blocks: Iterator[DecodedBlock],
    output_of: Callable[[tuple[Tensor, ...]], InferenceOutput],
) -> Iterator[MelBlock]:
    """Postnet mel blocks of one utterance as `blocks` are decoded (see the module docstring).

    output_of: `Decoding.finish`'s tuple -> the caller's `InferenceOutput` (stop names, alignment crop).
    """
    halo = postnet_halo(decoding.postnet)
    frames: list[Tensor] = []
    gates: list[Tensor] = []
    weights: list[Tensor] = []
    sent = n_steps = 0
    stop: StopState | None = None
    for block in blocks:
        if block.frames.size(0) != 1:
            raise ValueError(f"streamed decoding is for one utterance, got a batch of {block.frames.size(0)}")
        frames.append(block.frames)
        gates.append(block.gates)
        weights.append(block.weights)
        n_steps += block.frames.size(1)
        stop = block.stop
        if bool(stop.stopped.all()):
            break
        ready = n_steps * decoding.r - halo  # frames whose postnet window is decoded and real
        if ready > sent:
            yield MelBlock(_postnet_window(decoding, frames, sent, ready, halo), sent)
            sent = ready
    assert stop is not None, "block_sizes gives at least one block"
    output = output_of(
        decoding.finish(torch.cat(frames, 1), torch.cat(gates, 1), torch.cat(weights, 1), stop, n_steps)
    )
    length = int(output.lengths[0])
    yield MelBlock(output.mel_postnet[0, :, sent:length], sent, output)


def _postnet_window(decoding: Decoding, frames: list[Tensor], start: int, end: int, halo: int) -> Tensor:
    """Postnet mel of frames start .. end - 1, computed on the decoded frames within `halo` of them."""
    mel = torch.cat(frames, 1).reshape(1, -1, decoding.n_mels).transpose(1, 2)  # (1, n_mels, S * r)
    left = max(0, start - halo)
    window = mel[:, :, left : end + halo]
    mask = torch.ones(1, window.size(2), dtype=torch.bool, device=window.device)
    out = window + decoding.postnet(window, mask)
    return out[0, :, start - left : end - left]
