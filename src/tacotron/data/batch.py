"""Typed records that flow from the dataset to the model: one `Utterance`, one padded `Batch`.

Why dataclasses: named fields, because a swapped pair of same-shaped tensors in a positional tuple
(text lengths for mel lengths) would train silently on wrong targets. Named fields rule that out, and
`Batch.to()` / `Batch.pin_memory()` let a `DataLoader(pin_memory=True)` and the trainer move one
object instead of seven. Torch only: this module is on the GPU machine's import path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from tacotron import frames


@dataclass
class Utterance:
    """One prepared item.

    text_ids: LongTensor [L] symbol ids (ends with EOS, no padding).
    mel: FloatTensor [n_mels, T] natural-log mel magnitudes.
    speaker: the speaker's id in the dataset's speaker table; None for a single-speaker dataset.
    """

    id: str
    text_ids: torch.Tensor
    mel: torch.Tensor
    speaker: int | None = None


def lengths_to_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """Bool mask [B, max_len], True where the position index is < the item's length (real data)."""
    positions = torch.arange(max_len, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def bucket_length(length: int, multiple: int, per_octave: int = 8) -> int:
    """Smallest bucket >= length: a multiple of `multiple`, and of a step that grows with the length so
    that there are at most about `per_octave` buckets between n and 2n.

    Why a ladder: every distinct padded shape is one more captured CUDA graph (the training step's
    text and mel lengths, the inference decoder's text length), and with batch membership reshuffled
    every epoch, or request texts of any length, a fixed step keeps meeting new shapes. With steps
    proportional to the length the number of shapes grows with log(length) while padding stays below
    1/per_octave of the length (short inputs keep the fine `multiple`).
    """
    step = max(multiple, (1 << max(length.bit_length() - 1, 0)) // per_octave)
    step = -(-step // multiple) * multiple
    return -(-length // step) * step


@dataclass
class Batch:
    """A padded batch as produced by `TextMelCollate(r)`.

    ids: item ids, in batch order (sorted by text length, longest first).
    text: LongTensor [B, L], padded with 0 (the pad symbol).
    text_lengths: LongTensor [B], real symbols per item.
    mels: FloatTensor [B, n_mels, T], T = frames.padded_frames(max mel length, r), padded with 0.
    mel_lengths: LongTensor [B], real frames per item (before rounding up to r).
    gate_target: FloatTensor [B, T], 1 from each item's last real frame onward.
    r: reduction factor the batch was padded for.
    speakers: LongTensor [B] speaker ids (a static input like text); None for a single-speaker dataset.
    """

    ids: list[str]
    text: torch.Tensor
    text_lengths: torch.Tensor
    mels: torch.Tensor
    mel_lengths: torch.Tensor
    gate_target: torch.Tensor
    r: int
    speakers: torch.Tensor | None = None

    @property
    def size(self) -> int:
        """Number of items B."""
        return len(self.ids)

    @property
    def text_mask(self) -> torch.Tensor:
        """Bool [B, L], True = real symbol."""
        return lengths_to_mask(self.text_lengths, self.text.size(1))

    @property
    def mel_mask(self) -> torch.Tensor:
        """Bool [B, T], True = real frame."""
        return lengths_to_mask(self.mel_lengths, self.mels.size(2))

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Batch:
        """A copy with every tensor on `device` (ids and r unchanged)."""
        return replace(
            self,
            text=self.text.to(device, non_blocking=non_blocking),
            text_lengths=self.text_lengths.to(device, non_blocking=non_blocking),
            mels=self.mels.to(device, non_blocking=non_blocking),
            mel_lengths=self.mel_lengths.to(device, non_blocking=non_blocking),
            gate_target=self.gate_target.to(device, non_blocking=non_blocking),
            speakers=None if self.speakers is None else self.speakers.to(device, non_blocking=non_blocking),
        )

    def pin_memory(self) -> Batch:
        """Called by `DataLoader(pin_memory=True)` for custom batch types; pins every tensor."""
        return replace(
            self,
            text=self.text.pin_memory(),
            text_lengths=self.text_lengths.pin_memory(),
            mels=self.mels.pin_memory(),
            mel_lengths=self.mel_lengths.pin_memory(),
            gate_target=self.gate_target.pin_memory(),
            speakers=None if self.speakers is None else self.speakers.pin_memory(),
        )

    def select(self, index: slice | list[int]) -> Batch:
        """A sub-batch (e.g. a micro-batch for gradient accumulation), trimmed to its own padded length.

        The mel length is re-rounded to a multiple of r for the items kept, so a micro-batch is exactly
        what `TextMelCollate(r)` would produce for those items.
        """
        if isinstance(index, slice):
            index = list(range(self.size))[index]
        if not index:
            raise ValueError("Batch.select: empty index")
        idx = torch.tensor(index, dtype=torch.long)
        text_lengths = self.text_lengths[idx.to(self.text_lengths.device)]
        mel_lengths = self.mel_lengths[idx.to(self.mel_lengths.device)]
        max_text = int(text_lengths.max())
        max_mel = int(mel_lengths.max())
        t_pad = frames.padded_frames(max_mel, self.r)
        return Batch(
            ids=[self.ids[i] for i in index],
            text=self.text[idx.to(self.text.device), :max_text],
            text_lengths=text_lengths,
            mels=self.mels[idx.to(self.mels.device), :, :t_pad],
            mel_lengths=mel_lengths,
            gate_target=self.gate_target[idx.to(self.gate_target.device), :t_pad],
            r=self.r,
            speakers=None if self.speakers is None else self.speakers[idx.to(self.speakers.device)],
        )
