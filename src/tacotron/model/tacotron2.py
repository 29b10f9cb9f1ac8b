"""Tacotron 2 (Shen et al. 2018): encoder, location-sensitive attention decoder, postnet.

`forward` is teacher forcing for training and validation; `infer` is batched free-running synthesis
with per-item stop. Both return dataclasses. The reduction factor r (frames per decoder step) is not
model state: both take it as a required keyword (1..max_frames_per_step, the projection size), and
their outputs carry it (`out.r`), so nothing downstream recovers r from tensor shapes or uses a stale
one. The checkpoint stores r once, at its top level (see `tacotron.model.checkpoint`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from tacotron import frames
from tacotron.config import ModelConfig
from tacotron.data.batch import Batch, lengths_to_mask
from tacotron.model.ddc import DDCOutput, coarse_pass
from tacotron.model.decoder import Decoder, EncoderMemory, compiled_attention_step
from tacotron.model.encoder import Encoder
from tacotron.model.gst import GlobalStyleTokens
from tacotron.model.inference import Decoding, decoding_for, stop_reason_names
from tacotron.model.postnet import Postnet
from tacotron.model.speakers import SpeakerEmbedding
from tacotron.model.streaming import MelBlock, eager_blocks, stream_mel

logger = logging.getLogger(__name__)


@dataclass
class Tacotron2Output:
    """Teacher-forced outputs. mel, mel_postnet [B, n_mels, T]; gate_logits [B, T];
    alignments [B, frames.decoder_steps(T, r), L].

    r: the reduction factor this output was computed with (consumers read it here, never from shapes).
    ddc: the coarse decoder's outputs when the model has one (model.ddc), else None.
    """

    mel: torch.Tensor
    mel_postnet: torch.Tensor
    gate_logits: torch.Tensor
    alignments: torch.Tensor
    r: int
    ddc: DDCOutput | None = None

    def detach(self) -> Tacotron2Output:
        """A copy cut from the graph (for callbacks and plots, so they keep no activations alive)."""
        return Tacotron2Output(
            self.mel.detach(),
            self.mel_postnet.detach(),
            self.gate_logits.detach(),
            self.alignments.detach(),
            self.r,
            None if self.ddc is None else self.ddc.detach(),
        )


@dataclass
class InferenceOutput:
    """Synthesis outputs, zero past each item's length.

    mel, mel_postnet [B, n_mels, T_max]; gate_logits [B, T_max]; alignments [B, T_max // r, L];
    lengths LongTensor [B] in frames; stop_reasons: "gate" | "end_of_text" | "max_steps" per item.
    T_max = frames.padded_frames(longest length, r); r: the reduction factor used.
    """

    mel: torch.Tensor
    mel_postnet: torch.Tensor
    gate_logits: torch.Tensor
    alignments: torch.Tensor
    lengths: torch.Tensor
    stop_reasons: list[str]
    r: int


class Tacotron2(nn.Module):
    """The model; build it with `build_model(cfg, n_symbols, n_mels)`."""

    def __init__(
        self,
        *,
        encoder: Encoder,
        decoder: Decoder,
        postnet: Postnet,
        n_mels: int,
        prenet_dropout_at_inference: bool = True,
        max_decoder_steps: int = 1000,
        gate_threshold: float = 0.5,
        min_text_fraction: float = 0.5,
        stop_at_end_of_text: bool = True,
        eos_stop_steps: int = 3,
        stop_check_every: int = 8,
        gst: GlobalStyleTokens | None = None,
        coarse_decoder: Decoder | None = None,
        speaker_embedding: SpeakerEmbedding | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.postnet = postnet
        # Optional parts are registered only when present, so a model without them has the same
        # state_dict keys (and loads the same checkpoints) as before they existed.
        if gst is not None:
            self.gst = gst
        if coarse_decoder is not None:
            self.coarse_decoder = coarse_decoder
        if speaker_embedding is not None:
            self.speaker_embedding = speaker_embedding
        self.n_mels = n_mels
        self.max_frames_per_step = decoder.max_frames_per_step
        self.prenet_dropout_at_inference = prenet_dropout_at_inference
        self.max_decoder_steps = max_decoder_steps
        self.gate_threshold = gate_threshold
        self.min_text_fraction = min_text_fraction
        self.stop_at_end_of_text = stop_at_end_of_text
        self.eos_stop_steps = eos_stop_steps
        self.stop_check_every = stop_check_every

    def check_r(self, r: object) -> int:
        """r if it is an int in 1..max_frames_per_step (the projection size), else a ValueError."""
        return frames.check_r(r, self.max_frames_per_step)

    def forward(
        self,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        mels: torch.Tensor,
        mel_lengths: torch.Tensor,
        *,
        r: int,
        speakers: torch.Tensor | None = None,
    ) -> Tacotron2Output:
        """Teacher forcing. text [B, L] long, text_lengths [B], mels [B, n_mels, T] with T % r == 0,
        mel_lengths [B] (real frames; the postnet masks the rest); r: frames per decoder step (pass
        `batch.r`: the collate padded the mels for it); speakers LongTensor [B] (`batch.speakers`),
        required by a multi-speaker model and refused by a single-speaker one."""
        r = self.check_r(r)
        self._check_forward_inputs(text, text_lengths, mels, mel_lengths, r)
        style = None
        if self.has_gst:  # standard GST training: the target mel is its own style reference
            style = self.gst.weights_from_reference(mels, mel_lengths)
        memory = self._condition_memory(self.encoder(text, text_lengths), text_lengths, style, speakers)
        text_mask = lengths_to_mask(text_lengths, text.size(1))
        prenet_dropout = self.training or self.prenet_dropout_at_inference
        mel, gate, alignments = self.decoder(memory, text_mask, mels, r, prenet_dropout=prenet_dropout)
        mel_mask = lengths_to_mask(mel_lengths, mels.size(2))
        mel_postnet = mel + self.postnet(mel, mel_mask)
        ddc = None
        if self.has_ddc:
            ddc = coarse_pass(
                self.coarse_decoder, memory, text_mask, mels, self.ddc_r, prenet_dropout=prenet_dropout
            )
        return Tacotron2Output(mel, mel_postnet, gate, alignments, r, ddc)

    @property
    def has_gst(self) -> bool:
        return "gst" in self._modules

    @property
    def has_ddc(self) -> bool:
        return "coarse_decoder" in self._modules

    @property
    def n_speakers(self) -> int:
        """Rows of the speaker embedding; 0 for a single-speaker model."""
        return self.speaker_embedding.n_speakers if "speaker_embedding" in self._modules else 0

    @property
    def ddc_r(self) -> int:
        """The coarse decoder's reduction factor (0 without DDC)."""
        return self.coarse_decoder.max_frames_per_step if self.has_ddc else 0

    def _condition_memory(
        self,
        memory: torch.Tensor,
        text_lengths: torch.Tensor,
        style_weights: torch.Tensor | None,
        speakers: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The one place where speaker and style join the encoder outputs, for `forward` and `infer` alike.

        style_weights: token weights [B, heads, n_tokens] or [B, n_tokens]; None = uniform (GST models)
        or nothing to add (models without GST). speakers: ids [B] or one id (multi-speaker models only).
        """
        memory = self._add_speaker(memory, text_lengths, speakers)
        if not self.has_gst:
            if style_weights is not None:
                raise ValueError("style weights were given but this model has no GST (model.gst is false)")
            return memory
        if style_weights is None:
            style_weights = self.gst.uniform_weights(memory.size(0), memory)
        embedding = self.gst.embedding_from_weights(style_weights)
        return self.gst.condition(memory, text_lengths, embedding)

    def _add_speaker(
        self, memory: torch.Tensor, text_lengths: torch.Tensor, speakers: torch.Tensor | None
    ) -> torch.Tensor:
        """memory plus the speaker's embedding at real positions; unchanged for a single-speaker model."""
        if not self.n_speakers:
            if speakers is not None:
                raise ValueError("speakers were given but this model has one speaker (model.n_speakers is 0)")
            return memory
        if speakers is None:
            raise ValueError(f"this model has {self.n_speakers} speakers: pass speakers (ids [B])")
        return self.speaker_embedding.condition(memory, text_lengths, speakers)

    def _check_forward_inputs(
        self,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        mels: torch.Tensor,
        mel_lengths: torch.Tensor,
        r: int,
    ) -> None:
        shapes = (
            f"text {tuple(text.shape)}, text_lengths {tuple(text_lengths.shape)}, "
            f"mels {tuple(mels.shape)}, mel_lengths {tuple(mel_lengths.shape)}, r={r}"
        )
        if text.dim() != 2 or mels.dim() != 3 or text_lengths.dim() != 1 or mel_lengths.dim() != 1:
            raise ValueError(
                f"Tacotron2.forward expects text [B, L], mels [B, n_mels, T], lengths [B]; got {shapes}"
            )
        b = text.size(0)
        if not (mels.size(0) == text_lengths.size(0) == mel_lengths.size(0) == b):
            raise ValueError(f"Tacotron2.forward: batch sizes differ: {shapes}")
        if mels.size(1) != self.n_mels:
            raise ValueError(f"Tacotron2.forward: mels must have n_mels={self.n_mels} channels; got {shapes}")
        if mels.size(2) == 0 or frames.padded_frames(mels.size(2), r) != mels.size(2):
            raise ValueError(
                f"Tacotron2.forward: mel frames T={mels.size(2)} must be a positive multiple of r={r} "
                f"(pad with TextMelCollate(r)); got {shapes}"
            )

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
        seed: int | None = None,
        style_mel: torch.Tensor | None = None,
        style_mel_lengths: torch.Tensor | None = None,
        style_weights: torch.Tensor | None = None,
        speakers: torch.Tensor | None = None,
    ) -> InferenceOutput:
        """Batched synthesis; call `model.eval()` first (BatchNorm batch statistics would mix items).

        r: frames per decoder step (required: the checkpoint's "r" or the training stage's r).

        deterministic=True turns prenet dropout off; otherwise, with prenet_dropout_at_inference and a
        `seed`, dropout masks come from a seeded generator so results are reproducible.
        Style (GST models only; at most one of): `style_mel` [n_mels, T] or [B or 1, n_mels, T] reference
        mel (real lengths `style_mel_lengths`, default all frames), or `style_weights` token weights
        [n_tokens], [B or 1, n_tokens] or [B or 1, heads, n_tokens]; neither = uniform token weights.
        speakers: ids [B] or one id, for a multi-speaker model (model.n_speakers > 0) only.
        """
        r = self.check_r(r)
        style = {"style_mel": style_mel, "style_mel_lengths": style_mel_lengths}
        style |= {"style_weights": style_weights, "speakers": speakers}
        decoding, mem, max_steps = self._eager_decoding(
            text, text_lengths, r, max_decoder_steps, gate_threshold, deterministic, seed, style
        )
        parts = decoding(mem.memory, mem.processed, mem.mask, text_lengths, max_steps)
        return self._inference_output(parts, max_steps, r)

    @torch.no_grad()
    def infer_stream(
        self,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        *,
        r: int,
        max_decoder_steps: int | None = None,
        gate_threshold: float | None = None,
        deterministic: bool = False,
        seed: int | None = None,
        **style: torch.Tensor | None,
    ) -> Iterator[MelBlock]:
        """`infer` for one utterance ([1, L]) as postnet mel blocks handed out while decoding runs
        (`tacotron.model.streaming`); the last block carries what `infer` returns. Arguments as there."""
        r = self.check_r(r)
        decoding, mem, max_steps = self._eager_decoding(
            text, text_lengths, r, max_decoder_steps, gate_threshold, deterministic, seed, style
        )
        blocks = eager_blocks(decoding, mem, text_lengths, max_steps)
        yield from stream_mel(decoding, blocks, lambda parts: self._inference_output(parts, max_steps, r))

    def _eager_decoding(
        self,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        r: int,
        max_decoder_steps: int | None,
        gate_threshold: float | None,
        deterministic: bool,
        seed: int | None,
        style: dict[str, torch.Tensor | None],
    ) -> tuple[Decoding, EncoderMemory, int]:
        """What `infer` and `infer_stream` decode with: the loop (seeded prenet dropout), memory, step limit."""
        if self.training:
            logger.warning("Tacotron2.infer called in training mode; call model.eval() for synthesis")
        max_steps = self.inference_max_steps(max_decoder_steps)
        prenet_dropout = self.dropout_at_inference(deterministic)
        generator = None
        if prenet_dropout and seed is not None:
            generator = torch.Generator(device=text.device).manual_seed(seed)
        mem = self.inference_memory(text, text_lengths, **style)
        decoding = decoding_for(
            self, r, gate_threshold=gate_threshold, dropout_active=prenet_dropout, generator=generator
        )
        return decoding, mem, max_steps

    @staticmethod
    def _inference_output(parts: tuple[torch.Tensor, ...], max_steps: int, r: int) -> InferenceOutput:
        """`Decoding`'s (mel, mel_postnet, gate, alignments, lengths, stop codes) as an InferenceOutput."""
        mel, mel_postnet, gate, alignments, lengths, codes = parts
        reasons = stop_reason_names(codes, max_steps, r)
        return InferenceOutput(mel, mel_postnet, gate, alignments, lengths, reasons, r)

    def inference_memory(
        self,
        text: torch.Tensor,
        text_lengths: torch.Tensor,
        *,
        style_mel: torch.Tensor | None = None,
        style_mel_lengths: torch.Tensor | None = None,
        style_weights: torch.Tensor | None = None,
        speakers: torch.Tensor | None = None,
    ) -> EncoderMemory:
        """What every inference path attends over: input checks, style (GST), encoder, conditioning and
        the attention's memory projection. `infer` and `GraphedInference` both call this, so a feature
        added between encoder and decoder reaches both paths or neither. Arguments as in `infer`."""
        if text.dim() != 2 or text_lengths.shape != (text.size(0),):
            raise ValueError(
                f"Tacotron2.infer expects text [B, L] and text_lengths [B]; "
                f"got {tuple(text.shape)} and {tuple(text_lengths.shape)}"
            )
        style = self._inference_style(text.size(0), style_mel, style_mel_lengths, style_weights)
        memory = self._condition_memory(self.encoder(text, text_lengths), text_lengths, style, speakers)
        return self.decoder.prepare_memory(memory, lengths_to_mask(text_lengths, text.size(1)))

    def inference_max_steps(self, max_decoder_steps: int | None) -> int:
        """The step limit of one inference call: the argument, else the model's `max_decoder_steps`."""
        max_steps = max_decoder_steps or self.max_decoder_steps
        if max_steps < 1:
            raise ValueError(f"max_decoder_steps must be >= 1, got {max_steps}")
        return max_steps

    def dropout_at_inference(self, deterministic: bool) -> bool:
        """Whether inference draws prenet dropout masks (then a `seed` matters; else nothing is random)."""
        return self.prenet_dropout_at_inference and not deterministic

    def _inference_style(
        self,
        batch_size: int,
        style_mel: torch.Tensor | None,
        style_mel_lengths: torch.Tensor | None,
        style_weights: torch.Tensor | None,
    ) -> torch.Tensor | None:
        """Token weights for `infer` (expanded to the batch), or None (uniform / no GST)."""
        if style_mel is None and style_weights is None:
            return None
        if not self.has_gst:
            raise ValueError("a style (reference mel or token weights) was given but this model has no GST")
        if style_mel is not None and style_weights is not None:
            raise ValueError("give either a style reference mel or style token weights, not both")
        if style_mel is not None:
            if style_mel.dim() == 2:
                style_mel = style_mel.unsqueeze(0)
            if style_mel.dim() != 3 or style_mel.size(1) != self.n_mels or style_mel.size(2) == 0:
                raise ValueError(
                    f"style_mel must be [n_mels={self.n_mels}, T] or [B, n_mels, T], got {tuple(style_mel.shape)}"
                )
            if style_mel_lengths is None:
                style_mel_lengths = torch.full(
                    (style_mel.size(0),), style_mel.size(2), dtype=torch.long, device=style_mel.device
                )
            style_weights = self.gst.weights_from_reference(style_mel, style_mel_lengths)
        elif style_weights.dim() == 1:
            style_weights = style_weights.unsqueeze(0)
        if style_weights.size(0) not in (1, batch_size):
            raise ValueError(f"style for {style_weights.size(0)} items but the text batch has {batch_size}")
        return style_weights.expand(batch_size, *style_weights.shape[1:])


def teacher_forced(net: nn.Module, batch: Batch) -> Tacotron2Output:
    """`net(...)` on a batch's tensors: the one spelling of the teacher-forced call (training steps,
    validation, the captured graph, mel dumps). `net` is a `Tacotron2` or a wrapper that forwards to it
    (DDP), so the wrapper's hooks run."""
    return net(
        batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=batch.r, speakers=batch.speakers
    )


def build_model(cfg: ModelConfig, n_symbols: int, n_mels: int) -> Tacotron2:
    """The one place where `ModelConfig` meets the modules."""
    max_r = frames.check_r(
        cfg.max_frames_per_step or cfg.n_frames_per_step,
        what="model.max_frames_per_step (0 = n_frames_per_step)",
    )
    frames.check_r(cfg.n_frames_per_step, max_r, what="model.n_frames_per_step")
    if cfg.ddc and not 1 <= cfg.ddc_r <= 4 * frames.MAX_R:
        raise ValueError(f"model.ddc_r must be in 1..{4 * frames.MAX_R}, got {cfg.ddc_r}")
    encoder = Encoder(
        n_symbols=n_symbols,
        embedding_dim=cfg.symbols_embedding_dim,
        encoder_dim=cfg.encoder_embedding_dim,
        n_convolutions=cfg.encoder_n_convolutions,
        kernel_size=cfg.encoder_kernel_size,
        dropout=cfg.encoder_dropout,
    )
    decoder = _build_decoder(cfg, n_mels, max_r)
    postnet = Postnet(
        n_mels=n_mels,
        embedding_dim=cfg.postnet_embedding_dim,
        kernel_size=cfg.postnet_kernel_size,
        n_convolutions=cfg.postnet_n_convolutions,
        dropout=cfg.postnet_dropout,
    )
    return Tacotron2(
        encoder=encoder,
        decoder=decoder,
        postnet=postnet,
        n_mels=n_mels,
        prenet_dropout_at_inference=cfg.prenet_dropout_at_inference,
        max_decoder_steps=cfg.max_decoder_steps,
        gate_threshold=cfg.gate_threshold,
        min_text_fraction=cfg.min_text_fraction,
        stop_at_end_of_text=cfg.stop_at_end_of_text,
        gst=_build_gst(cfg, n_mels) if cfg.gst else None,
        coarse_decoder=_build_decoder(cfg, n_mels, cfg.ddc_r) if cfg.ddc else None,
        speaker_embedding=(
            SpeakerEmbedding(cfg.n_speakers, cfg.speaker_embedding_dim, cfg.encoder_embedding_dim)
            if cfg.n_speakers
            else None
        ),
    )


def _build_gst(cfg: ModelConfig, n_mels: int) -> GlobalStyleTokens:
    return GlobalStyleTokens(
        n_mels=n_mels,
        encoder_dim=cfg.encoder_embedding_dim,
        ref_channels=list(cfg.gst_ref_channels),
        ref_gru_dim=cfg.gst_ref_gru_dim,
        n_tokens=cfg.gst_n_tokens,
        token_dim=cfg.gst_token_dim,
        n_heads=cfg.gst_heads,
    )


def use_compiled_decoder_step(model: Tacotron2) -> None:
    """Teacher forcing of the decoder (and of DDC's coarse decoder) runs the `torch.compile`d attention
    step (`decoder.compiled_attention_step`) from now on; inference is unchanged.

    Builds the compiled callable now, so a Python without torch.compile support fails here, at setup,
    with torch's error; compilation itself happens at the first teacher-forced step (errors raise there:
    never a silent eager fallback).
    """
    compiled_attention_step()
    for decoder in (model.decoder, getattr(model, "coarse_decoder", None)):
        if decoder is not None:
            decoder.compile_step = True


def _build_decoder(cfg: ModelConfig, n_mels: int, max_r: int) -> Decoder:
    """The fine decoder (max_r = max_frames_per_step) and the DDC coarse decoder (max_r = ddc_r)."""
    return Decoder(
        n_mels=n_mels,
        max_frames_per_step=max_r,
        encoder_dim=cfg.encoder_embedding_dim,
        attention_rnn_dim=cfg.attention_rnn_dim,
        decoder_rnn_dim=cfg.decoder_rnn_dim,
        prenet_dim=cfg.prenet_dim,
        prenet_n_layers=cfg.prenet_n_layers,
        prenet_dropout=cfg.prenet_dropout,
        attention_dim=cfg.attention_dim,
        attention_location_n_filters=cfg.attention_location_n_filters,
        attention_location_kernel_size=cfg.attention_location_kernel_size,
        p_attention_dropout=cfg.p_attention_dropout,
        p_decoder_dropout=cfg.p_decoder_dropout,
    )
