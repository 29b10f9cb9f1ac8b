"""`SpeakerEmbedding`: one learned vector per speaker, projected to the encoder size.

Why added to the encoder outputs (not concatenated): the attention and decoder keep their sizes, so a
multi-speaker model differs from a single-speaker one only by this module, and `model.n_speakers: 0`
builds none of it (same parameters and state_dict keys as before speakers existed).
"""

from __future__ import annotations

import torch
from torch import nn

from tacotron.model.gst import GlobalStyleTokens


class SpeakerEmbedding(nn.Module):
    """speakers LongTensor [B] (ids 0..n_speakers-1) -> [B, encoder_dim]."""

    def __init__(self, n_speakers: int, embedding_dim: int, encoder_dim: int) -> None:
        super().__init__()
        self.n_speakers = n_speakers
        self.embedding = nn.Embedding(n_speakers, embedding_dim)
        self.projection = nn.Linear(embedding_dim, encoder_dim)

    def forward(self, speakers: torch.Tensor) -> torch.Tensor:
        return self.projection(self.embedding(speakers))

    def condition(
        self, memory: torch.Tensor, text_lengths: torch.Tensor, speakers: torch.Tensor
    ) -> torch.Tensor:
        """memory [B, L, E] plus each item's speaker vector at its real positions. One owner for the model
        and the exported encoder (`tacotron.export.EncoderPart`), so exports condition exactly as training."""
        speakers = self.check(speakers.to(memory.device), memory.size(0))
        return GlobalStyleTokens.condition(memory, text_lengths, self(speakers))

    def check(self, speakers: torch.Tensor, batch_size: int) -> torch.Tensor:
        """speakers as LongTensor [B] (a single id is expanded); ValueError naming the valid range otherwise."""
        if speakers.dim() == 0:
            speakers = speakers.unsqueeze(0)
        if speakers.dim() != 1 or speakers.size(0) not in (1, batch_size):
            raise ValueError(
                f"speakers must be [B={batch_size}] or one id, got shape {tuple(speakers.shape)}"
            )
        if speakers.dtype.is_floating_point:
            raise ValueError(f"speakers must be integer ids, got dtype {speakers.dtype}")
        return speakers.long().expand(batch_size)


def check_speaker_table(names: list[str], n_speakers: int, where: object) -> None:
    """ValueError (one line, naming the fix) unless `n_speakers` rows can hold the speakers `names` of `where`.

    Why spare rows are allowed: a model may be built for more speakers than one dataset has (e.g. to
    fine-tune on new voices later); a dataset with speakers never trains a single-speaker model silently.
    """
    if names and not n_speakers:
        raise ValueError(
            f"{where} has {len(names)} speakers ({', '.join(names[:10])}): "
            f"set model.n_speakers to at least {len(names)} (--set model.n_speakers={len(names)})"
        )
    if n_speakers and not names:
        raise ValueError(
            f"model.n_speakers is {n_speakers} but {where} has no speakers: prepare it with a speaker "
            "format (--format id-speaker-text or path-text-speaker) or set model.n_speakers=0"
        )
    if len(names) > n_speakers:
        raise ValueError(f"{where} has {len(names)} speakers but model.n_speakers is {n_speakers}")
