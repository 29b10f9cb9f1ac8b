"""Fast paths (capturable BiLSTM, bucket padding, CUDA-graph training step and decoding) equal the eager model.

CPU tests cover what runs on the CPU; the CUDA tests compare graph replays against the eager path in
fp32 (TF32 off) with dropout off, on several batches of one shape so stale static inputs would show.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tacotron.config import LossConfig
from tacotron.data.batch import Batch, Utterance
from tacotron.data.collate import TextMelCollate
from tacotron.losses import LossNorm, Tacotron2Loss
from tacotron.model import build_model
from tacotron.model.fast_lstm import bilstm_padded, reverse_within_lengths
from tacotron.train.graphs import GraphedTrainStep, pad_to_bucket

N_SYMBOLS = 24


def make_batch(text_lengths: list[int], mel_lengths: list[int], r: int, seed: int = 0) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    items = [
        Utterance(
            f"u{i}", torch.randint(2, N_SYMBOLS, (tl,), generator=gen), torch.randn(80, ml, generator=gen)
        )
        for i, (tl, ml) in enumerate(zip(text_lengths, mel_lengths, strict=True))
    ]
    return TextMelCollate(r)(items)


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_reverse_index_is_an_involution_within_lengths():
    index, valid = reverse_within_lengths(torch.tensor([3, 1, 4]), 4)
    assert index.tolist() == [[2, 1, 0, 3], [0, 1, 2, 3], [3, 2, 1, 0]]
    assert valid.sum(1).tolist() == [3, 1, 4]
    assert torch.equal(index.gather(1, index), torch.arange(4).expand(3, 4))


def test_padded_bilstm_equals_packed_values_and_gradients():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(6, 5, batch_first=True, bidirectional=True)
    lengths = torch.tensor([7, 2, 5])
    x = torch.randn(3, 7, 6) * (torch.arange(7) < lengths.unsqueeze(1)).unsqueeze(2)
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    packed = torch.nn.utils.rnn.pack_padded_sequence(x1, lengths, batch_first=True, enforce_sorted=False)
    ref, _ = torch.nn.utils.rnn.pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=7)
    out = bilstm_padded(lstm, x2, lengths)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)
    w = torch.randn_like(ref)
    (ref * w).sum().backward()
    ref_grads = [p.grad.clone() for p in lstm.parameters()]
    lstm.zero_grad()
    (out * w).sum().backward()
    for p, g in zip(lstm.parameters(), ref_grads, strict=True):
        torch.testing.assert_close(p.grad, g, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(x2.grad, x1.grad, atol=1e-6, rtol=1e-5)


def test_padded_bilstm_rejects_unidirectional():
    with pytest.raises(ValueError, match="bidirectional"):
        bilstm_padded(torch.nn.LSTM(4, 3, batch_first=True), torch.zeros(1, 2, 4), torch.tensor([2]))


def test_capturable_encoder_matches_packed_encoder(tiny_cfg):
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80).eval()
    batch = make_batch([9, 4, 6], [12, 8, 10], r=1)
    ref = model.encoder(batch.text, batch.text_lengths)
    model.encoder.capturable = True
    torch.testing.assert_close(model.encoder(batch.text, batch.text_lengths), ref, atol=1e-6, rtol=1e-5)


def test_bucket_padding_keeps_eval_losses(tiny_cfg):
    batch = make_batch([9, 4, 6], [21, 8, 13], r=2)
    tiny_cfg.model.max_frames_per_step = 2
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80).eval()
    model.prenet_dropout_at_inference = False
    padded = pad_to_bucket(batch, text_multiple=16, mel_multiple=12)
    assert padded.text.shape == (3, 16) and padded.mels.shape == (3, 80, 24)
    assert padded.gate_target[:, 22:].eq(1).all()
    loss_fn = Tacotron2Loss(LossConfig())
    with torch.no_grad():
        ref = loss_fn(
            model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=batch.r), batch, 0
        )
        got = loss_fn(
            model(padded.text, padded.text_lengths, padded.mels, padded.mel_lengths, r=padded.r), padded, 0
        )
    for key in ref:
        torch.testing.assert_close(got[key], ref[key], atol=1e-5, rtol=1e-5)


def test_graphed_step_needs_cuda(tiny_cfg):
    model = build_model(tiny_cfg.model, N_SYMBOLS, 80)
    with pytest.raises(ValueError, match="CUDA"):
        GraphedTrainStep(model, Tacotron2Loss(LossConfig()))


def _no_dropout_model(cfg, device):
    m = dataclasses.replace(
        cfg.model,
        encoder_dropout=0.0,
        prenet_dropout=0.0,
        p_attention_dropout=0.0,
        p_decoder_dropout=0.0,
        postnet_dropout=0.0,
    )
    torch.manual_seed(0)
    return build_model(m, N_SYMBOLS, 80).to(device)


@pytest.fixture
def exact_cuda():
    """fp32 matmuls without TF32, so the eager/graph comparison is tight."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@cuda
def test_graphed_train_step_equals_eager_losses_and_grads(tiny_cfg, exact_cuda):
    device = exact_cuda
    model = _no_dropout_model(tiny_cfg, device).train()
    loss_cfg = LossConfig(guided_attn_decay_rate=0.5, guided_attn_decay_steps=1)  # weight changes every step
    loss_fn = Tacotron2Loss(loss_cfg)
    graphed = GraphedTrainStep(model, loss_fn, precision="fp32")
    for seed, step in ((0, 0), (1, 3), (2, 5)):  # same shape, new contents and weights each replay
        batch = make_batch([9, 4, 7], [30, 17, 25], r=1, seed=seed)
        padded = pad_to_bucket(batch, text_multiple=16, mel_multiple=16)
        norm = LossNorm.from_batch(batch)
        model.zero_grad(set_to_none=False)
        gpu = padded.to(device)
        ref = loss_fn(model(gpu.text, gpu.text_lengths, gpu.mels, gpu.mel_lengths, r=gpu.r), gpu, step, norm)
        ref["loss"].backward()
        ref = {k: v.detach() for k, v in ref.items()}  # a live autograd graph would break capture
        ref_grads = [p.grad.clone() for p in model.parameters()]
        model.zero_grad(set_to_none=False)
        losses, out = graphed(padded, step, norm)
        for key in ref:
            torch.testing.assert_close(losses[key], ref[key], atol=1e-5, rtol=1e-4)
        for (name, p), g in zip(model.named_parameters(), ref_grads, strict=True):
            torch.testing.assert_close(p.grad, g, atol=1e-5, rtol=1e-3, msg=lambda m, n=name: f"{n}: {m}")
            assert p.grad.abs().sum() > 0, name
    assert len(graphed.graphs) == 1
    model.zero_grad(set_to_none=True)
    with pytest.raises(RuntimeError, match="set_to_none=False"):
        graphed(padded, 0, norm)


@cuda
@pytest.mark.parametrize("prepared", [False, True])
def test_graphed_inference_equals_eager_infer(tiny_cfg, exact_cuda, prepared):
    """prepared: the graphs replay `PreparedDecoderStep` (with the Triton attention) instead of `DecoderStep`."""
    from tacotron.model.fast_infer import GraphedInference

    model = _no_dropout_model(tiny_cfg, exact_cuda).eval()
    fast = GraphedInference(model, prepared_step=prepared)
    for seed, max_steps in ((0, 37), (1, 37), (2, 16)):
        batch = make_batch([9, 4, 7], [30, 17, 25], r=1, seed=seed).to(exact_cuda)
        kwargs = dict(r=1, max_decoder_steps=max_steps, gate_threshold=0.5, deterministic=True)
        ref = model.infer(batch.text, batch.text_lengths, **kwargs)
        got = fast.infer(batch.text, batch.text_lengths, **kwargs)
        assert got.lengths.tolist() == ref.lengths.tolist()
        assert got.stop_reasons == ref.stop_reasons
        for name in ("mel", "mel_postnet", "gate_logits", "alignments"):
            torch.testing.assert_close(getattr(got, name), getattr(ref, name), atol=1e-4, rtol=1e-4)


@cuda
def test_graphed_bf16_step_and_inference_track_eager(tiny_cfg):
    """bf16 graphs: losses close to eager bf16 autocast (rounding differs), decoding finite and fixed-length."""
    from tacotron.model.fast_infer import GraphedInference

    device = torch.device("cuda")
    model = _no_dropout_model(tiny_cfg, device).train()
    loss_fn = Tacotron2Loss(LossConfig())
    batch = pad_to_bucket(make_batch([9, 4, 7], [30, 17, 25], r=1), text_multiple=16, mel_multiple=16)
    norm = LossNorm.from_batch(batch)
    gpu = batch.to(device)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        ref = loss_fn(model(gpu.text, gpu.text_lengths, gpu.mels, gpu.mel_lengths, r=gpu.r), gpu, 0, norm)
    losses, _ = GraphedTrainStep(model, loss_fn, precision="bf16")(batch, 0, norm)
    torch.testing.assert_close(losses["loss"], ref["loss"].float(), atol=0.05, rtol=0.02)
    model.eval()
    model.stop_at_end_of_text = False
    for prepared in (False, True):
        out = GraphedInference(model, dtype=torch.bfloat16, prepared_step=prepared).infer(
            gpu.text, gpu.text_lengths, r=1, max_decoder_steps=20, gate_threshold=1 - 1e-6, deterministic=True
        )
        assert out.lengths.tolist() == [20, 20, 20] and torch.isfinite(out.mel_postnet).all(), prepared
