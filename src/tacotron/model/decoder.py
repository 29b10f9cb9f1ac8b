"""Autoregressive decoder: prenet -> attention LSTM -> attention -> decoder LSTM -> frames + gate.

The recurrent state lives in `DecoderState` (a value passed in and returned, never kept on `self`), so
teacher forcing, batched inference and future fused/compiled loops share one `step`.
Each step emits r frames: the projection has `max_frames_per_step * n_mels` outputs (and as many gate
logits) of which the first r are used, so the reduction factor can change during training
(gradual training) without changing the parameters. The input to step s is the last frame of the
group emitted at step s - 1 (zeros for the first step).

Speed (teacher forcing): the prenet runs once over all steps, the memory projection once per batch,
and the loop has no host syncs or branches on tensor values; outputs are stacked once at the end. The
attention loop's body is one pure function, `attention_step`, which `Decoder.compile_step`
(train.compile_decoder_step) runs `torch.compile`d for fewer kernels per step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from tacotron.frames import decoder_steps
from tacotron.model.attention import LocationSensitiveAttention, attend
from tacotron.model.dropout import apply_keep_mask, dropout, dropout_keep_masks
from tacotron.model.lstm_cell import lstm_pointwise
from tacotron.model.prenet import Prenet
from tacotron.model.step_matmul import StepMatmul, defer_weight_grad, step_matmul
from tacotron.model.step_shared import defer_shared_grad, read


@dataclass
class DecoderState:
    """Recurrent state after a step. Shapes: hidden/cell [B, rnn_dim]; weights [B, L]; context [B, E]."""

    attention_hidden: torch.Tensor
    attention_cell: torch.Tensor
    decoder_hidden: torch.Tensor
    decoder_cell: torch.Tensor
    attention_weights: torch.Tensor
    attention_weights_cum: torch.Tensor
    attention_context: torch.Tensor


@dataclass
class EncoderMemory:
    """What every step attends over: memory [B, L, E], its projection [B, L, A], mask [B, L] (True = real)."""

    memory: torch.Tensor
    processed: torch.Tensor
    mask: torch.Tensor


class Decoder(nn.Module):
    """Tacotron 2 decoder; see the module docstring for the reduction-factor layout."""

    def __init__(
        self,
        *,
        n_mels: int,
        max_frames_per_step: int,
        encoder_dim: int,
        attention_rnn_dim: int,
        decoder_rnn_dim: int,
        prenet_dim: int,
        prenet_n_layers: int,
        prenet_dropout: float,
        attention_dim: int,
        attention_location_n_filters: int,
        attention_location_kernel_size: int,
        p_attention_dropout: float,
        p_decoder_dropout: float,
    ):
        super().__init__()
        self.n_mels = n_mels
        self.max_frames_per_step = max_frames_per_step
        self.prenet = Prenet(in_dim=n_mels, sizes=[prenet_dim] * prenet_n_layers, dropout=prenet_dropout)
        self.attention_rnn = nn.LSTMCell(prenet_dim + encoder_dim, attention_rnn_dim)
        self.attention = LocationSensitiveAttention(
            query_dim=attention_rnn_dim,
            memory_dim=encoder_dim,
            attention_dim=attention_dim,
            n_filters=attention_location_n_filters,
            kernel_size=attention_location_kernel_size,
        )
        self.decoder_rnn = nn.LSTMCell(attention_rnn_dim + encoder_dim, decoder_rnn_dim)
        self.frame_projection = nn.Linear(decoder_rnn_dim + encoder_dim, max_frames_per_step * n_mels)
        self.gate_projection = nn.Linear(decoder_rnn_dim + encoder_dim, max_frames_per_step)
        self.p_attention_dropout = p_attention_dropout
        self.p_decoder_dropout = p_decoder_dropout
        # teacher forcing runs `compiled_attention_step` instead of `attention_step` (set by the trainer
        # from train.compile_decoder_step; not saved: a run setting, not part of the model)
        self.compile_step = False

    # --- setup -------------------------------------------------------------------------------
    @torch.no_grad()
    def init_frame_bias(self, mean_mel: torch.Tensor) -> None:
        """Start every predicted frame at the corpus's mean log-mel [n_mels] instead of 0.

        Why: log-mel targets sit around -5 (silence at ln(1e-5) = -11.5), so with a zero bias the first
        ~50 steps of a fresh run only learn this offset (train mel loss ~35 -> ~8) while attention
        gets no useful signal.
        """
        if mean_mel.shape != (self.n_mels,):
            raise ValueError(f"mean_mel must have shape ({self.n_mels},), got {tuple(mean_mel.shape)}")
        bias = self.frame_projection.bias
        bias.copy_(mean_mel.to(bias).repeat(self.max_frames_per_step))  # frame-major, as frames_to_mel

    def prepare_memory(self, memory: torch.Tensor, mask: torch.Tensor) -> EncoderMemory:
        return EncoderMemory(memory, self.attention.process_memory(memory), mask)

    def initial_state(self, mem: EncoderMemory) -> DecoderState:
        """All-zero state (NVIDIA reference), on the memory's device and dtype."""
        b, length, e = mem.memory.shape
        new = mem.memory.new_zeros
        return DecoderState(
            attention_hidden=new(b, self.attention_rnn.hidden_size),
            attention_cell=new(b, self.attention_rnn.hidden_size),
            decoder_hidden=new(b, self.decoder_rnn.hidden_size),
            decoder_cell=new(b, self.decoder_rnn.hidden_size),
            attention_weights=new(b, length),
            attention_weights_cum=new(b, length),
            attention_context=new(b, e),
        )

    def teacher_inputs(self, mels: torch.Tensor, r: int) -> torch.Tensor:
        """mels [B, n_mels, T] (T % r == 0) -> step inputs [B, T // r, n_mels]: go frame, then the last
        frame of each group except the final one."""
        b, n_mels, t = mels.shape
        last_of_group = mels.transpose(1, 2).reshape(b, decoder_steps(t, r), r, n_mels)[
            :, :, -1
        ]  # (B, S, n_mels)
        go = mels.new_zeros(b, 1, n_mels)
        return torch.cat([go, last_of_group[:, :-1]], dim=1)

    # --- one step, in named parts ------------------------------------------------------------
    def _run_attention_rnn(self, prenet_frame: torch.Tensor, state: DecoderState) -> DecoderState:
        cell_input = torch.cat([prenet_frame, state.attention_context], dim=-1)
        hidden, cell = self.attention_rnn(cell_input, (state.attention_hidden, state.attention_cell))
        hidden = dropout(hidden, self.p_attention_dropout, self.training)
        return replace(state, attention_hidden=hidden, attention_cell=cell)

    def _attend(self, state: DecoderState, mem: EncoderMemory) -> DecoderState:
        weights_cat = torch.stack([state.attention_weights, state.attention_weights_cum], dim=1)  # (B, 2, L)
        context, weights = self.attention(
            state.attention_hidden, mem.memory, mem.processed, weights_cat, mem.mask
        )
        return replace(
            state,
            attention_context=context,
            attention_weights=weights,
            attention_weights_cum=state.attention_weights_cum + weights,
        )

    def _run_decoder_rnn(self, state: DecoderState) -> DecoderState:
        cell_input = torch.cat([state.attention_hidden, state.attention_context], dim=-1)
        hidden, cell = self.decoder_rnn(cell_input, (state.decoder_hidden, state.decoder_cell))
        hidden = dropout(hidden, self.p_decoder_dropout, self.training)
        return replace(state, decoder_hidden=hidden, decoder_cell=cell)

    def _project(
        self, decoder_hidden: torch.Tensor, context: torch.Tensor, r: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """[..., D], [..., E] -> frames [..., r * n_mels] (frame-major: r groups of n_mels), gate logits [..., r]."""
        features = torch.cat([decoder_hidden, context], dim=-1)
        frames = self.frame_projection(features)[..., : r * self.n_mels]
        gate = self.gate_projection(features)[..., :r]
        return frames, gate

    def _recur(self, prenet_frame: torch.Tensor, state: DecoderState, mem: EncoderMemory) -> DecoderState:
        """The recurrent part of a step: attention LSTM -> attention -> decoder LSTM."""
        state = self._run_attention_rnn(prenet_frame, state)
        state = self._attend(state, mem)
        return self._run_decoder_rnn(state)

    def step(
        self, prenet_frame: torch.Tensor, state: DecoderState, mem: EncoderMemory, r: int
    ) -> tuple[DecoderState, torch.Tensor, torch.Tensor]:
        """One decoder step: (new state, frames [B, r * n_mels], gate logits [B, r])."""
        state = self._recur(prenet_frame, state, mem)
        frames, gate = self._project(state.decoder_hidden, state.attention_context, r)
        return state, frames, gate

    def infer_step(
        self,
        frame: torch.Tensor,
        state: DecoderState,
        mem: EncoderMemory,
        r: int,
        *,
        dropout_active: bool,
        generator: torch.Generator | None = None,
    ) -> tuple[DecoderState, torch.Tensor, torch.Tensor]:
        """One free-running step from the previous frame [B, n_mels]: prenet, then `step`.

        The one step function of inference: eager, CUDA-graph and exported decoding all run it (through
        `tacotron.model.inference.DecoderStep`).
        """
        prenet_frame = self.prenet(frame, dropout_active=dropout_active, generator=generator)
        return self.step(prenet_frame, state, mem, r)

    # --- teacher forcing ---------------------------------------------------------------------
    def forward(
        self,
        memory: torch.Tensor,
        mask: torch.Tensor,
        mels: torch.Tensor,
        r: int,
        *,
        prenet_dropout: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher-forced decoding -> (mel [B, n_mels, T], gate logits [B, T], alignments [B, T // r, L]).

        The same function as calling `step` on each teacher frame (tests/model check values and
        gradients), reordered so that the per-step loop holds only what is truly recurrent:

        - the prenet half of the attention LSTM's input matmul runs once for all steps;
        - the attention LSTM's recurrent matmul and the attention query projection share their input
          (the attention hidden state) and run as one matmul;
        - the decoder LSTM is not part of the attention recurrence (its output feeds only the
          projections, and frames are not fed back), so it runs as a second loop after the first,
          with its input matmul as one large matmul over all steps;
        - frame and gate projections run once after both loops;
        - per-step inputs come from `unbind` (a slice per step would make backward write a full-size
          zero gradient per step);
        - the attention LSTM's dropout masks for all steps are drawn at once, before the loop;
        - in training, the weights multiplied at every step (the attention LSTM's context half of W_ih and
          [W_hh | query layer], the decoder LSTM's W_hh) get their gradients as one matmul after the loop
          (`StepMatmul`), not a matmul and a full-size add per step (the eager loop; the compiled step
          keeps plain matmuls, which it traces);
        - in bf16, what every attention step reads (memory, its projection, the location kernel, `v`)
          gets its per-step gradients summed in fp32 (`StepShared`; eager loop only), not in bf16.
        """
        prenet_out = self.prenet(self.teacher_inputs(mels, r), dropout_active=prenet_dropout)  # (B, S, P)
        mem = self.prepare_memory(memory, mask)
        attention_hidden, contexts, alignments = self._attention_pass(prenet_out, mem)
        decoder_hidden = self._decoder_pass(attention_hidden, contexts)
        frames, gates = self._project(decoder_hidden, contexts, r)
        mel, gate = frames_to_mel(frames, gates, self.n_mels)
        return mel, gate, alignments

    def _attention_pass(
        self, prenet_out: torch.Tensor, mem: EncoderMemory
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """prenet_out [B, S, P] -> attention hidden states [B, S, H], contexts [B, S, E], weights [B, S, L].

        The loop body is `attention_step`, run eagerly or, with `compile_step`, `torch.compile`d; the
        attention LSTM's dropout masks for all steps are drawn before the loop (`dropout_keep_masks`).
        """
        rnn, attention = self.attention_rnn, self.attention
        n_prenet = prenet_out.size(-1)
        prenet_gates = F.linear(prenet_out, rnn.weight_ih[:, :n_prenet], rnn.bias_ih + rnn.bias_hh)
        # derived weights, cast once: autocast caches casts of parameters only, not of slices or products
        context_weight = in_compute_dtype(rnn.weight_ih[:, n_prenet:])
        hidden_and_query = in_compute_dtype(torch.cat([rnn.weight_hh, attention.query_layer.weight]))
        kernel = in_compute_dtype(attention.location_kernel())
        v_weight = in_compute_dtype(attention.v.weight)
        state = self.initial_state(mem)
        cell, context = state.attention_cell, state.attention_context
        weights, weights_cum = state.attention_weights, state.attention_weights_cum
        recurrent = cell.new_zeros(cell.size(0), hidden_and_query.size(0))  # weight_hh @ 0 (and a query)
        shared = [kernel, v_weight, mem.memory, mem.processed]  # read at every step
        if not self.compile_step:  # gradients of the per-step weights as one matmul after the loop
            context_weight, hidden_and_query = map(defer_weight_grad, (context_weight, hidden_and_query))
            shared = [defer_shared_grad(t) for t in shared]  # bf16: per-step gradients summed in fp32
        all_step_gates = prenet_gates.unbind(1)
        keeps, scale = self._attention_keep_masks(len(all_step_gates), cell)
        later_steps = compiled_attention_step() if self.compile_step else attention_step
        hiddens, contexts, alignments = [], [], []
        for i, (step_gates, keep) in enumerate(zip(all_step_gates, keeps, strict=True)):
            # step 0 starts from the zero state (no grad, fp32 under autocast): compiled, it would be a
            # second graph to compile for one step of hundreds, so it runs eagerly
            step = later_steps if i > 0 else attention_step
            hidden, cell, recurrent, context, weights, weights_cum = step(
                step_gates, context, recurrent, cell, weights, weights_cum, keep, scale,
                context_weight, hidden_and_query, *map(read, shared), mem.mask,
            )  # fmt: skip
            if self.compile_step and i == 0:
                # the eager step's context is a view (squeeze), the compiled step's a plain tensor: a copy
                # keeps the compiled step's inputs of one kind (dynamo guards on views' bases: else the
                # second compiled step would compile again)
                context = context.clone()
            hiddens.append(hidden)
            contexts.append(context)
            alignments.append(weights)
        return torch.stack(hiddens, dim=1), torch.stack(contexts, dim=1), torch.stack(alignments, dim=1)

    def _attention_keep_masks(
        self, n_steps: int, cell: torch.Tensor
    ) -> tuple[tuple[torch.Tensor, ...] | list[None], float]:
        """The attention LSTM's dropout: one keep mask [B, H] per step (all drawn at once) and the scale of
        kept values; [None] * n_steps (no dropout) when not training or p = 0."""
        drawn = dropout_keep_masks(
            (n_steps, *cell.shape), self.p_attention_dropout, self.training, cell.device
        )
        if drawn is None:
            return [None] * n_steps, 1.0
        keep, scale = drawn
        return keep.unbind(0), scale

    def _decoder_pass(self, attention_hidden: torch.Tensor, contexts: torch.Tensor) -> torch.Tensor:
        """The decoder LSTM over all steps: [B, S, H], [B, S, E] -> decoder hidden states [B, S, D]."""
        rnn = self.decoder_rnn
        inputs = torch.cat([attention_hidden, contexts.to(attention_hidden.dtype)], dim=-1)
        all_input_gates = F.linear(inputs, rnn.weight_ih, rnn.bias_ih + rnn.bias_hh)  # (B, S, 4D)
        weight_hh = defer_weight_grad(in_compute_dtype(rnn.weight_hh))
        cell = attention_hidden.new_zeros(attention_hidden.size(0), rnn.hidden_size)
        hiddens: list[torch.Tensor] = []
        for input_gates in all_input_gates.unbind(1):
            hidden_gates = step_matmul(hiddens[-1], weight_hh) if hiddens else torch.zeros_like(input_gates)
            hidden, cell = lstm_pointwise(input_gates, hidden_gates, cell)
            hiddens.append(dropout(hidden, self.p_decoder_dropout, self.training))
        return torch.stack(hiddens, dim=1)


def attention_step(
    step_gates: torch.Tensor,
    context: torch.Tensor,
    recurrent: torch.Tensor,
    cell: torch.Tensor,
    weights: torch.Tensor,
    weights_cum: torch.Tensor,
    keep: torch.Tensor | None,
    keep_scale: float,
    context_weight: torch.Tensor | StepMatmul,
    hidden_and_query: torch.Tensor | StepMatmul,
    kernel: torch.Tensor,
    v_weight: torch.Tensor,
    memory: torch.Tensor,
    processed: torch.Tensor,
    mask: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of the teacher-forced attention recurrence, a pure function (tensors in, tensors out).

    Why pure: `torch.compile` traces it once into a few fused kernels (`compiled_attention_step`), and the
    eager loop runs the same function, so both paths compute one formula. Random numbers stay outside
    (the dropout mask comes in as `keep`), as do casts of the weights (done once per pass).

    In: step_gates [B, 4H] (prenet half of the attention LSTM's input gates, biases included), the
    previous context [B, E], recurrent [B, 4H + A] (`hidden_and_query` @ previous hidden: the first 4H
    columns are the recurrent gates, the rest the previous step's query), cell [B, H], weights and
    weights_cum [B, L]; keep [B, H] bool or None (no dropout) and keep_scale; context_weight [4H, E]
    (context half of weight_ih), hidden_and_query [4H + A, H] (weight_hh stacked on the query layer),
    either as a `StepMatmul` in eager training (gradient formed after the loop),
    kernel [A, 2, K] (`location_kernel`), v_weight [1, A], memory [B, L, E], processed [B, L, A],
    mask [B, L].
    Out: (hidden [B, H] after dropout, cell, recurrent [B, 4H + A], context [B, E], weights [B, L],
    weights_cum [B, L]). The recurrent state is the whole matmul output, not its gate slice: a slice is a
    view, and eager views fed to the compiled step would not match its plain outputs (one more compile).
    """
    n_gates = 4 * cell.size(-1)
    input_gates = step_matmul(context, context_weight, step_gates)
    hidden, cell = lstm_pointwise(input_gates, recurrent[:, :n_gates], cell)
    if keep is not None:
        hidden = apply_keep_mask(hidden, keep, keep_scale)
    recurrent = step_matmul(hidden, hidden_and_query)
    weights_cat = torch.stack([weights, weights_cum], dim=1)
    context, weights = attend(recurrent[:, n_gates:], memory, processed, weights_cat, mask, kernel, v_weight)
    return hidden, cell, recurrent, context, weights, weights_cum + weights


@functools.cache
def compiled_attention_step() -> Callable[..., tuple[torch.Tensor, ...]]:
    """`attention_step` through `torch.compile(dynamic=True)`, built once per process.

    Compiles on its first call. dynamic=True: batch size, text length and the number of steps are
    symbolic from the first compile, so a new bucket shape runs the compiled code as it is (the CUDA-graph
    step captures a new shape after warm-up iterations; nothing is left to compile by then). What does
    compile anew: each grad mode / autocast / dropout on-off combination once, and a batch of 1 (dynamo
    specialises sizes 0 and 1). Duck shaping is off while it compiles: by default equal sizes met at
    compile time are assumed equal forever (a step count that happens to equal the attention size, or
    the storage offset of step 1's gates, 4H, equal to their width), and the next shape recompiles.
    """
    compiled = torch.compile(attention_step, dynamic=True)
    shape_config = torch.fx.experimental._config

    def step(*args: torch.Tensor | float | None) -> tuple[torch.Tensor, ...]:
        # set and restored around each call (3.5 us on CPU; `shape_config.patch` costs 24 us a step)
        previous, shape_config.use_duck_shape = shape_config.use_duck_shape, False
        try:
            return compiled(*args)
        finally:
            shape_config.use_duck_shape = previous

    return step


def in_compute_dtype(weight: torch.Tensor) -> torch.Tensor:
    """`weight` in the dtype autocast would cast it to in a matmul or conv (unchanged without autocast)."""
    device = weight.device.type
    return weight.to(torch.get_autocast_dtype(device)) if torch.is_autocast_enabled(device) else weight


def assemble_outputs(
    frames: list[torch.Tensor], gates: list[torch.Tensor], alignments: list[torch.Tensor], n_mels: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stack per-step outputs once: -> mel [B, n_mels, S*r], gate [B, S*r], alignments [B, S, L]."""
    mel, gate = frames_to_mel(torch.stack(frames, dim=1), torch.stack(gates, dim=1), n_mels)
    return mel, gate, torch.stack(alignments, dim=1)


def frames_to_mel(
    frames: torch.Tensor, gates: torch.Tensor, n_mels: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-step groups frames [B, S, r * n_mels] (frame-major), gates [B, S, r] -> mel [B, n_mels, S * r],
    gate logits [B, S * r]."""
    b = frames.size(0)
    return frames.reshape(b, -1, n_mels).transpose(1, 2), gates.reshape(b, -1)
