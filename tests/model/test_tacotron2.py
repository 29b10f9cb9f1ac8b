"""Tacotron2 forward (teacher forcing): shapes, the r=2 / 431-frame seed case, gradients, masking, errors."""

from __future__ import annotations

import pytest
import torch
from tests.helpers.batches import N_SYMBOLS, random_batch

from tacotron.config import Config
from tacotron.data.batch import Batch, lengths_to_mask
from tacotron.losses import Tacotron2Loss
from tacotron.model import Tacotron2, build_model
from tacotron.model.decoder import assemble_outputs, frames_to_mel
from tacotron.model.lstm_cell import lstm_pointwise


def micro_config(cfg: Config, r: int) -> Config:
    """Even smaller than tiny_config(): the big batch x length x r grid must stay cheap on one thread."""
    m = cfg.model
    m.symbols_embedding_dim = m.encoder_embedding_dim = 16
    m.attention_rnn_dim = m.decoder_rnn_dim = 24
    m.attention_dim, m.attention_location_n_filters, m.attention_location_kernel_size = 8, 2, 5
    m.prenet_dim, m.postnet_embedding_dim, m.postnet_kernel_size = 16, 16, 3
    m.n_frames_per_step = r
    return cfg


def forward(model: Tacotron2, batch: Batch):
    return model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=batch.r)


def assert_all_grads_finite_nonzero(model: torch.nn.Module) -> None:
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


def test_seed_case_batch32_431_frames_r2(tiny_cfg):
    """The crash of the replaced system: shape '[32, 215, -1]' for 32 x 80 x 431 with r = 2."""
    tiny_cfg.model.n_frames_per_step = 2
    torch.manual_seed(0)
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80)
    mel_lengths = [431] + [150 + 7 * i for i in range(31)]
    batch = random_batch([12 + i % 9 for i in range(32)], mel_lengths, r=2)
    assert batch.mels.shape == (32, 80, 432)
    out = forward(model, batch)
    assert out.mel.shape == out.mel_postnet.shape == (32, 80, 432)
    assert out.gate_logits.shape == (32, 432)
    assert out.alignments.shape == (32, 216, batch.text.size(1))
    out.mel.retain_grad()
    out.mel_postnet.retain_grad()
    losses = Tacotron2Loss(tiny_cfg.loss)(out, batch, step=0)
    losses["loss"].backward()
    longest = batch.mel_lengths.tolist().index(431)
    for t in (out.mel, out.mel_postnet):
        assert (t.grad[longest, :, 431] == 0).all(), "the padded frame 432 must not reach the loss"
        assert (t.grad[longest, :, 430] != 0).any()
    assert_all_grads_finite_nonzero(model)
    # Changing the padded target frame changes nothing.
    batch.mels[longest, :, 431] = 1e3
    with torch.no_grad():
        again = Tacotron2Loss(tiny_cfg.loss)(out.detach(), batch, step=0)
    assert torch.equal(again["mel/before"], losses["mel/before"].detach())


GRID = [  # (r, batch size, longest mel) — every r with two combos; all batch sizes; odd lengths 100..301
    (1, 4, 301),
    (1, 64, 101),
    (2, 16, 233),
    (2, 32, 157),
    (3, 64, 187),
    (3, 4, 299),
    (5, 32, 263),
    (5, 16, 100),
]


@pytest.mark.parametrize(("r", "batch_size", "longest"), GRID)
def test_forward_backward_grid(tiny_cfg, r, batch_size, longest):
    torch.manual_seed(r)
    model = build_model(micro_config(tiny_cfg, r).model, N_SYMBOLS, 80)
    mel_lengths = torch.linspace(100, longest, batch_size).long().tolist()
    text_lengths = [5 + (7 * i) % 31 for i in range(batch_size)]  # odd and even, 5..35
    batch = random_batch(text_lengths, mel_lengths, r=r, seed=batch_size)
    assert batch.mels.size(2) % r == 0
    out = forward(model, batch)
    assert out.mel.shape == batch.mels.shape
    assert out.alignments.shape == (batch_size, batch.mels.size(2) // r, max(text_lengths))
    losses = Tacotron2Loss(tiny_cfg.loss)(out, batch, step=0)
    assert all(torch.isfinite(v) for v in losses.values())
    losses["loss"].backward()
    assert_all_grads_finite_nonzero(model)


def test_outputs_do_not_depend_on_padding_or_batch_mates(tiny_cfg):
    tiny_cfg.model.n_frames_per_step = 3
    tiny_cfg.model.prenet_dropout = 0.0
    torch.manual_seed(0)
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80).eval()
    batch = random_batch([9, 14, 6], [20, 31, 13], r=3)
    alone = batch.select([2])  # the shortest item on its own: 6 symbols, 15 frames
    with torch.no_grad():
        full, single = forward(model, batch), forward(model, alone)
    t = alone.mels.size(2)
    torch.testing.assert_close(
        full.mel_postnet[2:, :, :13], single.mel_postnet[:, :, :13], atol=1e-5, rtol=1e-4
    )
    torch.testing.assert_close(full.alignments[2:, : t // 3, :6], single.alignments, atol=1e-6, rtol=1e-4)
    assert (full.alignments[2, :, 6:] == 0).all(), "attention must put exactly 0 on padded symbols"


def test_mels_not_multiple_of_r_raise_with_shapes(tiny_cfg):
    tiny_cfg.model.n_frames_per_step = 2
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80)
    text = torch.randint(2, N_SYMBOLS, (32, 10))
    with pytest.raises(ValueError, match=r"T=431.*r=2.*mels \(32, 80, 431\)"):
        model(text, torch.full((32,), 10), torch.zeros(32, 80, 431), torch.full((32,), 431), r=2)
    with pytest.raises(ValueError, match=r"n_mels=80.*mels \(32, 40, 432\)"):
        model(text, torch.full((32,), 10), torch.zeros(32, 40, 432), torch.full((32,), 431), r=2)
    with pytest.raises(ValueError, match="batch sizes differ"):
        model(text, torch.full((31,), 10), torch.zeros(32, 80, 432), torch.full((32,), 431), r=2)


def test_reduction_factor_is_a_call_argument_carried_on_the_output(tiny_cfg):
    """One model runs at any r up to max_frames_per_step; r is not model state (nothing in the state
    dict, no attribute), so the r in force is always the one passed, and the output says which it was."""
    tiny_cfg.model.n_frames_per_step = 2
    tiny_cfg.model.max_frames_per_step = 5
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80)
    assert not hasattr(model, "r") and not hasattr(model, "set_reduction_factor")
    assert "_extra_state" not in model.state_dict()
    out = forward(model, random_batch([5, 4], [23, 11], r=5))
    assert out.r == 5 and out.mel.shape[2] == 25 and out.alignments.shape[1] == 5
    out = forward(model, random_batch([5, 4], [23, 11], r=2))
    assert out.r == 2 and out.mel.shape[2] == 24 and out.alignments.shape[1] == 12
    assert out.detach().r == 2


def test_forward_rejects_a_missing_or_out_of_range_r(tiny_cfg):
    tiny_cfg.model.n_frames_per_step = 2
    tiny_cfg.model.max_frames_per_step = 5
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80)
    batch = random_batch([5, 4], [20, 11], r=5)
    with pytest.raises(TypeError, match="'r'"):
        model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths)
    for bad in (0, 6, 9, 2.5, "2", None):
        with pytest.raises(
            ValueError, match=r"reduction factor r must be an int in 1\.\.5 \(model\.max_frames_per_step\)"
        ):
            model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=bad)


@pytest.mark.parametrize(("r", "max_r"), [(0, 0), (9, 0), (3, 2)])
def test_build_model_rejects_bad_reduction_config(tiny_cfg, r, max_r):
    tiny_cfg.model.n_frames_per_step = r
    tiny_cfg.model.max_frames_per_step = max_r
    with pytest.raises(ValueError, match="n_frames_per_step"):
        build_model(tiny_cfg.model, N_SYMBOLS, 80)


def test_masked_energies_stay_finite_under_bf16_autocast(tiny_cfg):
    tiny_cfg.model.n_frames_per_step = 2
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80)
    batch = random_batch([9, 3], [12, 8], r=2)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = forward(model, batch)
    assert torch.isfinite(out.alignments).all()
    assert (out.alignments[1, :, 3:] == 0).all()
    torch.testing.assert_close(out.alignments.float().sum(-1), torch.ones(2, 6), atol=2e-2, rtol=0)


@pytest.mark.parametrize("r", [1, 3])
def test_teacher_forcing_equals_one_step_at_a_time(tiny_cfg, r):
    """forward() projects all steps after the loop; that must equal calling step() on each teacher frame."""
    tiny_cfg.model.n_frames_per_step = r
    torch.manual_seed(0)
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80).eval()
    batch = random_batch([9, 14], [18, 27], r=r)
    dec = model.decoder
    with torch.no_grad():
        memory = model.encoder(batch.text, batch.text_lengths)
        mask = lengths_to_mask(batch.text_lengths, batch.text.size(1))
        mel, gate, align = dec(memory, mask, batch.mels, r, prenet_dropout=False)
        mem = dec.prepare_memory(memory, mask)
        state, frames, gates = dec.initial_state(mem), [], []
        for inp in dec.prenet(dec.teacher_inputs(batch.mels, r), dropout_active=False).unbind(1):
            state, frame, g = dec.step(inp, state, mem, r)
            frames.append(frame.reshape(2, r, 80))
            gates.append(g)
    torch.testing.assert_close(mel, torch.cat(frames, dim=1).transpose(1, 2), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(gate, torch.cat(gates, dim=1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(align[:, -1], state.attention_weights)
    assert mel.shape == (2, 80, batch.mels.size(2)) and gate.shape == (2, batch.mels.size(2))


def _teacher_forced_by_steps(dec, memory, mask, mels, r):
    """The plain reference: `Decoder.step` (the inference step) on each teacher frame, in one loop."""
    mem = dec.prepare_memory(memory, mask)
    state, frames, gates, aligns = dec.initial_state(mem), [], [], []
    for inp in dec.prenet(dec.teacher_inputs(mels, r), dropout_active=False).unbind(1):
        state, frame, gate = dec.step(inp, state, mem, r)
        frames.append(frame)
        gates.append(gate)
        aligns.append(state.attention_weights)
    return assemble_outputs(frames, gates, aligns, dec.n_mels)


@pytest.mark.parametrize("r", [1, 2])
def test_split_teacher_forcing_equals_the_step_loop_in_values_and_gradients(tiny_cfg, r):
    """forward() reorders the loop (batched input matmuls, a second loop for the decoder LSTM); in float64
    its outputs and every parameter's gradient equal the plain step-by-step path."""
    tiny_cfg.model.n_frames_per_step = r
    torch.manual_seed(1)
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80).double().eval()
    batch = random_batch([7, 11, 4], [10, 16, 6], r=r)
    dec = model.decoder
    memory = model.encoder(batch.text, batch.text_lengths).detach().requires_grad_()
    mask = lengths_to_mask(batch.text_lengths, batch.text.size(1))
    mels = batch.mels.double()
    probe = [torch.randn_like(t) for t in dec(memory, mask, mels, r, prenet_dropout=False)]

    def grads(run):
        dec.zero_grad()
        memory.grad = None
        outputs = run(dec, memory, mask, mels, r)
        sum((o * p).sum() for o, p in zip(outputs, probe, strict=True)).backward()
        return outputs, {n: p.grad.clone() for n, p in dec.named_parameters()}, memory.grad.clone()

    fast, fast_grads, fast_memory_grad = grads(lambda d, *a: d(*a, prenet_dropout=False))
    plain, plain_grads, plain_memory_grad = grads(_teacher_forced_by_steps)
    for a, b in zip(fast, plain, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)
    assert fast_grads.keys() == plain_grads.keys()
    for name, g in fast_grads.items():
        torch.testing.assert_close(g, plain_grads[name], atol=1e-12, rtol=1e-10, msg=name)
        assert g.abs().sum() > 0, f"{name} got no gradient"
    torch.testing.assert_close(fast_memory_grad, plain_memory_grad, atol=1e-12, rtol=1e-10)


def test_lstm_pointwise_equals_lstm_cell():
    torch.manual_seed(0)
    cell = torch.nn.LSTMCell(6, 5).double()
    x, h, c = torch.randn(3, 6).double(), torch.randn(3, 5).double(), torch.randn(3, 5).double()
    input_gates = torch.nn.functional.linear(x, cell.weight_ih, cell.bias_ih)
    hidden_gates = torch.nn.functional.linear(h, cell.weight_hh, cell.bias_hh)
    for got, want in zip(lstm_pointwise(input_gates, hidden_gates, c), cell(x, (h, c)), strict=True):
        torch.testing.assert_close(got, want, atol=1e-14, rtol=1e-12)


@pytest.mark.parametrize("r", [1, 3])
def test_init_frame_bias_starts_every_frame_of_a_group_at_the_mean(tiny_cfg, r):
    tiny_cfg.model.n_frames_per_step = r
    model = build_model(tiny_cfg.model, n_symbols=40, n_mels=80)
    mean = torch.linspace(-11.5, 1.0, 80)
    model.decoder.init_frame_bias(mean)
    with torch.no_grad():
        model.decoder.frame_projection.weight.zero_()
        hidden = torch.zeros(2, 5, model.decoder.decoder_rnn.hidden_size)
        context = torch.zeros(2, 5, model.decoder.frame_projection.in_features - hidden.size(-1))
        frames, _ = model.decoder._project(hidden, context, r)
    mel, _ = frames_to_mel(frames, torch.zeros(2, 5, r), 80)  # the layout teacher forcing and infer use
    assert mel.shape == (2, 80, 5 * r)
    torch.testing.assert_close(mel, mean[None, :, None].expand(2, 80, 5 * r))
    with pytest.raises(ValueError, match=r"mean_mel must have shape \(80,\)"):
        model.decoder.init_frame_bias(torch.zeros(81))
