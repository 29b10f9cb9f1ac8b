"""`TextMelCollate(r)`: a list of `Utterance` -> one padded `Batch`.

Why this exists as its own piece: mels padded to the longest item rather than to a multiple of r
fail in the reshape that groups r frames per decoder step (`shape '[32, 215, -1]' is invalid for input of size 1103360` for
431 frames at r = 2), and papering over that by reshaping into zeros trains on garbage.
So every mel is padded to `frames.padded_frames(max_len, r)`, the real lengths travel with the batch, and any
other inconsistency raises an error that names the tensors, their shapes and r.
Torch only: on the GPU machine's import path.
"""

from __future__ import annotations

import torch

from tacotron.data.batch import Batch, Utterance
from tacotron.frames import check_r, padded_frames


class TextMelCollate:
    """Pads text with 0 and mels with 0 to a multiple of r; sorts items by text length (longest first).

    The gate target is 1 from each item's last real frame onward, so the padded frames agree with
    "stop"; the loss still masks them (see `tacotron.losses`).
    """

    def __init__(self, r: int = 1):
        self.r = check_r(r, what="reduction factor r (n_frames_per_step)")

    def __call__(self, items: list[Utterance]) -> Batch:
        if not items:
            raise ValueError("TextMelCollate: empty list of utterances")
        n_mels = self._check_items(items)
        order = sorted(range(len(items)), key=lambda i: int(items[i].text_ids.numel()), reverse=True)
        items = [items[i] for i in order]
        text_lengths = torch.tensor([u.text_ids.numel() for u in items], dtype=torch.long)
        mel_lengths = torch.tensor([u.mel.size(1) for u in items], dtype=torch.long)
        max_text = int(text_lengths.max())
        max_frames = padded_frames(int(mel_lengths.max()), self.r)

        text = torch.zeros(len(items), max_text, dtype=torch.long)
        mels = torch.zeros(len(items), n_mels, max_frames, dtype=torch.float32)
        gate = torch.zeros(len(items), max_frames, dtype=torch.float32)
        for i, utt in enumerate(items):
            text[i, : utt.text_ids.numel()] = utt.text_ids
            frames = utt.mel.size(1)
            mels[i, :, :frames] = utt.mel
            gate[i, frames - 1 :] = 1.0
        return Batch(
            ids=[u.id for u in items],
            text=text,
            text_lengths=text_lengths,
            mels=mels,
            mel_lengths=mel_lengths,
            gate_target=gate,
            r=self.r,
            speakers=self._speakers(items),
        )

    def _speakers(self, items: list[Utterance]) -> torch.Tensor | None:
        """Speaker ids [B] in batch order, None when no item has one; a mix is an error naming an item."""
        missing = [u.id for u in items if u.speaker is None]
        if len(missing) == len(items):
            return None
        if missing:
            raise ValueError(
                f"TextMelCollate(r={self.r}): item {missing[0]!r} has no speaker but others do: "
                "a batch is all multi-speaker or all single-speaker"
            )
        return torch.tensor([u.speaker for u in items], dtype=torch.long)

    def _check_items(self, items: list[Utterance]) -> int:
        """Validate shapes; return n_mels. Errors name the item, the tensor, its shape and r."""
        n_mels = items[0].mel.size(0) if items[0].mel.dim() == 2 else -1
        for utt in items:
            if utt.text_ids.dim() != 1 or utt.text_ids.numel() == 0:
                raise ValueError(
                    f"TextMelCollate(r={self.r}): item {utt.id!r} text_ids must be a non-empty 1-D "
                    f"tensor [L], got shape {tuple(utt.text_ids.shape)}"
                )
            if utt.text_ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
                raise ValueError(
                    f"TextMelCollate(r={self.r}): item {utt.id!r} text_ids must be integer ids, "
                    f"got dtype {utt.text_ids.dtype}"
                )
            if utt.mel.dim() != 2 or utt.mel.size(1) == 0:
                raise ValueError(
                    f"TextMelCollate(r={self.r}): item {utt.id!r} mel must be [n_mels, T] with T > 0, "
                    f"got shape {tuple(utt.mel.shape)}"
                )
            if utt.mel.size(0) != n_mels:
                raise ValueError(
                    f"TextMelCollate(r={self.r}): item {utt.id!r} mel has shape {tuple(utt.mel.shape)} "
                    f"but item {items[0].id!r} has {tuple(items[0].mel.shape)}: n_mels differ"
                )
        return n_mels
