"""A free-running decoder step over weights rearranged once per model: fewer kernels per step.

Why: at batch 1 a decoding step is launch- and latency-bound, so the kernel count is the cost.
`DecoderStep` runs `Decoder.infer_step` as written for training; `PreparedDecoderStep` computes the same
function (same interface and outputs, up to the rounding of reassociated sums) with:
- each LSTM cell as one matmul: [W_ih | W_hh] over [input, hidden], both biases summed once (two
  matmuls per cell before);
- the frame and gate projections as one matmul (their weights stacked), the outputs sliced as views;
- the location kernel folded once, not once per step;
- on CUDA with Triton, the attention as two kernels (`fused_attention`) instead of about a dozen;
- the weights in the compute dtype (bf16 copies made once, not cast by autocast in every captured block).
The derived weights are copies: `InferenceWeights.refresh` re-derives them in place (same storage, so
captured CUDA graphs stay valid) when a parameter of the decoder changed since, e.g. a checkpoint loaded
into the same model; `GraphedInference(prepared_step=True)` calls it before every synthesis.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tacotron.model.decoder import Decoder
from tacotron.model.fused_attention import available, folded_kernel, fused_attend, reference_attend
from tacotron.model.lstm_cell import lstm_pointwise


class InferenceWeights:
    """The decoder's weights for `PreparedDecoderStep`, derived in `dtype` (the compute dtype: bf16 for a
    bf16 synthesis) and kept in step with the decoder's parameters by `refresh`."""

    def __init__(self, decoder: Decoder, dtype: torch.dtype):
        self.decoder = decoder
        self.dtype = dtype
        self.tensors = self._derive()
        self._versions = self._parameter_versions()

    @torch.no_grad()
    def _derive(self) -> dict[str, torch.Tensor]:
        d, dtype = self.decoder, self.dtype
        att_rnn, dec_rnn, att = d.attention_rnn, d.decoder_rnn, d.attention
        location = att.location_kernel()
        tensors = {
            "attention_rnn": torch.cat([att_rnn.weight_ih, att_rnn.weight_hh], dim=1),
            "attention_rnn_bias": att_rnn.bias_ih + att_rnn.bias_hh,
            "query": att.query_layer.weight,
            "location": location,
            "location_folded": folded_kernel(location),
            "v": att.v.weight,
            "decoder_rnn": torch.cat([dec_rnn.weight_ih, dec_rnn.weight_hh], dim=1),
            "decoder_rnn_bias": dec_rnn.bias_ih + dec_rnn.bias_hh,
            "projection": torch.cat([d.frame_projection.weight, d.gate_projection.weight]),
            "projection_bias": torch.cat([d.frame_projection.bias, d.gate_projection.bias]),
        }
        return {name: t.detach().to(dtype, copy=True).contiguous() for name, t in tensors.items()}

    def _parameter_versions(self) -> tuple[int, ...]:
        return tuple(p._version for p in self.decoder.parameters())

    def refresh(self) -> bool:
        """Re-derive the weights into the same tensors if a decoder parameter changed; True if it did."""
        versions = self._parameter_versions()
        if versions == self._versions:
            return False
        for name, value in self._derive().items():
            self.tensors[name].copy_(value)
        self._versions = versions
        return True


class PreparedDecoderStep(nn.Module):
    """`DecoderStep`'s contract (inputs and outputs in `DecoderState` order) over `InferenceWeights`.

    fused: the attention in Triton kernels (`fused_attention`); None = where they can run (`available` on
    the weights' device).
    Inference only: refuses a decoder in training mode (its dropout on the LSTM outputs is not here).
    """

    def __init__(
        self,
        weights: InferenceWeights,
        r: int,
        *,
        dropout_active: bool = False,
        generator: torch.Generator | None = None,
        fused: bool | None = None,
    ):
        super().__init__()
        if weights.decoder.training:
            raise ValueError("PreparedDecoderStep is for inference: call model.eval() first")
        self.weights = weights
        self.prenet = weights.decoder.prenet
        self.r = r
        self.n_mels = weights.decoder.n_mels
        self.gate_offset = weights.decoder.max_frames_per_step * self.n_mels
        self.kernel_size = weights.decoder.attention.location_conv.kernel_size[0]
        self.dropout_active = dropout_active
        self.generator = generator
        self.fused = available(weights.tensors["query"].device) if fused is None else fused
        self._zeros: dict[tuple, torch.Tensor] = {}  # recurrent gates of a cell whose matmul has them all

    def forward(self, frame, ah, ac, dh, dc, w, wcum, ctx, memory, processed, mask):  # noqa: ANN001
        t = self.weights.tensors
        prenet = self.prenet(frame, dropout_active=self.dropout_active, generator=self.generator)
        gates = F.linear(torch.cat([prenet, ctx, ah], dim=-1), t["attention_rnn"], t["attention_rnn_bias"])
        ah, ac = lstm_pointwise(gates, self._no_gates(gates), ac)
        ctx, w, wcum = self._attend(F.linear(ah, t["query"]), memory, processed, w, wcum, mask)
        gates = F.linear(torch.cat([ah, ctx, dh], dim=-1), t["decoder_rnn"], t["decoder_rnn_bias"])
        dh, dc = lstm_pointwise(gates, self._no_gates(gates), dc)
        out = F.linear(torch.cat([dh, ctx], dim=-1), t["projection"], t["projection_bias"])
        frames = out[:, : self.r * self.n_mels]
        gate = out[:, self.gate_offset : self.gate_offset + self.r]
        return frames, gate, ah, ac, dh, dc, w, wcum, ctx

    def _attend(self, query, memory, processed, w, wcum, mask):  # noqa: ANN001, ANN202
        t = self.weights.tensors
        if self.fused:
            v = t["v"][0]
            return fused_attend(
                query, memory, processed, w, wcum, mask, t["location_folded"], v, self.kernel_size
            )
        return reference_attend(query, memory, processed, w, wcum, mask, t["location"], t["v"])

    def _no_gates(self, gates: torch.Tensor) -> torch.Tensor:
        """Zeros shaped as `gates` (the fused LSTM cell adds a second gate tensor), made once per shape."""
        key = (gates.shape, gates.dtype, gates.device)
        if key not in self._zeros:
            self._zeros[key] = torch.zeros_like(gates)
        return self._zeros[key]
