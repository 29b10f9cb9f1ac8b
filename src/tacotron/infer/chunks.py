"""Vocoding a mel that arrives in blocks: overlapping chunks, centre samples kept, seams crossfaded.

Why: a streamed utterance is vocoded while its mel is still being decoded. Vocoding each block alone
would put seams at the block edges: a convolutional vocoder (HiFi-GAN) reads frames on both sides of
every output sample, and Griffin-Lim estimates phases per call. So each chunk is vocoded with
`vocoder.context_frames` frames of context on both sides and only its centre samples are kept: the
audio of frame t is rendered once `context_frames` frames after t are known. For HiFi-GAN the context
covers the receptive field (`hifigan.receptive_frames`), so the kept samples are the whole-utterance
vocoding's up to convolution rounding, and `crossfade_frames` is 0. Griffin-Lim's phases differ from
chunk to chunk whatever the context, so consecutive chunks overlap by `vocoder.crossfade_frames` and
are crossfaded there (raised cosine): the audio is not the whole-utterance Griffin-Lim's, but its
magnitude spectrogram is close to it (tests/infer/test_chunks.py states the bound).

Chunk sizes: the first chunk renders `chunk_frames` new frames (the time to first audio), each next one at
least twice as many as the one before, up to `max_chunk_frames`. Why: every chunk costs its context frames
again (and Griffin-Lim a fixed number of iterations), so many small chunks make the whole utterance slower
than vocoding it at once (benchmarks/stream_latency.py measures both); once the first audio is out, later
chunks only have to keep ahead of playback.

The last chunk is vocoded with the same silent frames after the utterance that the batched path pads
it with (`pad_tail_with_silence` up to the decoder's whole last step), so the end matches too.
"""

from __future__ import annotations

import numpy as np
import torch

CHUNK_FRAMES = 32  # new frames of the first chunk (~0.37 s at 22050 Hz, hop 256)
MAX_CHUNK_FRAMES = 128  # chunks double in size up to this


class ChunkVocoder:
    """Feed mel blocks with `push` (each returns the audio that became ready, maybe none), end with
    `finish`; the returned pieces, concatenated, are the utterance's waveform (frames * hop samples).

    `vocoder` is a batch vocoder (`tacotron.infer.vocoders.Vocoder`) with `context_frames`,
    `crossfade_frames` and `cfg` (its AudioConfig); `chunk_frames`: new frames of the first chunk, each
    next one at least twice the one before, up to `max_chunk_frames` (see the module docstring).
    """

    def __init__(self, vocoder, chunk_frames: int = CHUNK_FRAMES, max_chunk_frames: int = MAX_CHUNK_FRAMES):
        if not 1 <= chunk_frames <= max_chunk_frames:
            raise ValueError(
                f"need 1 <= chunk_frames <= max_chunk_frames, got {chunk_frames}, {max_chunk_frames}"
            )
        self.vocoder = vocoder
        self.chunk_frames = chunk_frames  # new frames the next chunk needs
        self.max_chunk_frames = max_chunk_frames
        self.context = int(vocoder.context_frames)
        self.fade = int(vocoder.crossfade_frames)
        self.hop = int(vocoder.cfg.hop_length)
        self.blocks: list[torch.Tensor] = []
        self.frames = 0  # mel frames received
        self.sent = 0  # frames whose audio was returned
        self.held = np.zeros(0, dtype=np.float32)  # audio of frames sent .. sent + fade, to crossfade

    def push(self, mel: torch.Tensor) -> list[np.ndarray]:
        """Take mel frames [n_mels, n] that follow the ones pushed before; the audio now ready, if any."""
        self.blocks.append(mel)
        self.frames += mel.size(1)
        ready = self.frames - self.context  # frames whose right context is known
        if ready - self.fade - self.sent < self.chunk_frames:
            return []
        self.chunk_frames = min(2 * self.chunk_frames, self.max_chunk_frames)
        return [self._render(ready, padding=0, last=False)]

    def finish(self, padding: int = 0) -> np.ndarray:
        """The rest of the utterance's audio; `padding` silent frames follow it in the vocoder's input,
        as in the batched path (`lengths` < the mel's frames)."""
        if self.frames == 0:
            raise ValueError("ChunkVocoder.finish: no mel frames were pushed")
        return self._render(self.frames, padding, last=True)

    def _render(self, end: int, padding: int, last: bool) -> np.ndarray:
        """Audio of frames sent .. end (the held crossfade included); holds back the last `fade` frames."""
        mel = torch.cat(self.blocks, 1)
        self.blocks = [mel]
        start = max(0, self.sent - self.context)
        window = mel[:, start:]
        if padding:
            window = torch.nn.functional.pad(window, (0, padding))  # set to silence by the vocoder
        [wav] = self.vocoder(window.unsqueeze(0), [self.frames - start])
        piece = np.asarray(wav[(self.sent - start) * self.hop : (end - start) * self.hop], dtype=np.float32)
        piece = crossfade(self.held, piece)
        if last:
            self.sent, self.held = end, np.zeros(0, dtype=np.float32)
            return piece
        keep = len(piece) - self.fade * self.hop
        self.sent, self.held = end - self.fade, piece[keep:]
        return piece[:keep]


def crossfade(held: np.ndarray, piece: np.ndarray) -> np.ndarray:
    """`piece` whose first len(held) samples fade in over `held` fading out (raised cosine, sums to 1)."""
    n = len(held)
    if n == 0:
        return piece
    fade_in = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)
    out = piece.copy()
    out[:n] = held * (1.0 - fade_in) + piece[:n] * fade_in
    return out
