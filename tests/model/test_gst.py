"""Global Style Tokens: one style path for training and inference, gradients, token weights, errors."""

from __future__ import annotations

import pytest
import torch
from tests.helpers.batches import N_SYMBOLS, random_batch
from tests.helpers.configs import tiny_config

from tacotron.config import Config
from tacotron.losses import Tacotron2Loss
from tacotron.model import Tacotron2, build_model
from tacotron.model.gst import GlobalStyleTokens, parse_style_tokens

N_MELS = 80


def gst_config(**model) -> Config:
    cfg = tiny_config()
    m = cfg.model
    m.gst = True
    m.gst_n_tokens, m.gst_heads, m.gst_token_dim = 6, 2, 16
    m.gst_ref_channels, m.gst_ref_gru_dim = [4, 8], 12
    m.max_decoder_steps = 12
    for key, value in model.items():
        setattr(m, key, value)
    return cfg


def build(cfg: Config, seed: int = 0) -> Tacotron2:
    torch.manual_seed(seed)
    return build_model(cfg.model, N_SYMBOLS, N_MELS)


def deterministic_eval_model() -> Tacotron2:
    cfg = gst_config(prenet_dropout_at_inference=False, stop_at_end_of_text=False)
    return build(cfg).eval()


def test_every_parameter_gets_a_gradient_including_tokens_and_reference_encoder():
    cfg = gst_config()
    model = build(cfg).train()
    batch = random_batch([9, 7, 5], [23, 17, 11])
    out = model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=batch.r)
    Tacotron2Loss(cfg.loss)(out, batch, step=0)["loss"].backward()
    names = [n for n, _ in model.named_parameters()]
    assert "gst.style_tokens.tokens" in names
    assert any(n.startswith("gst.reference_encoder.gru") for n in names)
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


def test_training_and_inference_condition_memory_through_the_same_function(monkeypatch):
    """forward and infer both call Tacotron2._condition_memory -> GlobalStyleTokens.embedding_from_weights."""
    model = deterministic_eval_model()
    calls: list[str] = []
    original = GlobalStyleTokens.embedding_from_weights

    def spy(self, weights):
        calls.append(tuple(weights.shape))
        return original(self, weights)

    monkeypatch.setattr(GlobalStyleTokens, "embedding_from_weights", spy)
    batch = random_batch([8, 6], [16, 12])
    model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=batch.r)
    model.infer(
        batch.text, batch.text_lengths, r=batch.r, style_mel=batch.mels, style_mel_lengths=batch.mel_lengths
    )
    model.infer(
        batch.text, batch.text_lengths, r=batch.r, style_weights=torch.tensor([0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    )
    model.infer(batch.text, batch.text_lengths, r=batch.r)
    assert calls == [(2, 2, 6), (2, 2, 6), (2, 6), (2, 6)]


def test_teacher_forced_and_free_running_first_frames_agree_with_the_same_reference():
    """Same memory in both paths: the first decoder step (go frame input) gives identical frames.

    If inference conditioned the encoder outputs differently from training (the replaced system's
    add-vs-concat bug), these frames would differ.
    """
    model = deterministic_eval_model()
    batch = random_batch([8, 6], [16, 12])
    teacher = model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=batch.r)
    free = model.infer(
        batch.text,
        batch.text_lengths,
        r=batch.r,
        style_mel=batch.mels,
        style_mel_lengths=batch.mel_lengths,
        deterministic=True,
        max_decoder_steps=1,
    )
    torch.testing.assert_close(free.mel[:, :, 0], teacher.mel[:, :, 0])
    torch.testing.assert_close(free.alignments[:, 0], teacher.alignments[:, 0])
    without_style = model.infer(
        batch.text, batch.text_lengths, r=batch.r, deterministic=True, max_decoder_steps=1
    )
    assert not torch.allclose(without_style.mel[:, :, 0], teacher.mel[:, :, 0])


def test_style_by_reference_equals_style_by_the_weights_it_produces():
    model = deterministic_eval_model()
    batch = random_batch([8, 6], [16, 12])
    weights = model.gst.weights_from_reference(batch.mels, batch.mel_lengths)  # (B, heads, n_tokens)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 2))
    by_mel = model.infer(
        batch.text,
        batch.text_lengths,
        r=batch.r,
        style_mel=batch.mels,
        style_mel_lengths=batch.mel_lengths,
        deterministic=True,
    )
    by_weights = model.infer(
        batch.text, batch.text_lengths, r=batch.r, style_weights=weights, deterministic=True
    )
    torch.testing.assert_close(by_mel.mel_postnet, by_weights.mel_postnet)


def test_different_token_weights_change_the_output():
    model = deterministic_eval_model()
    batch = random_batch([8, 6], [16, 12])

    def synth(weights: torch.Tensor | None) -> torch.Tensor:
        out = model.infer(
            batch.text,
            batch.text_lengths,
            r=batch.r,
            style_weights=weights,
            deterministic=True,
            max_decoder_steps=4,
            gate_threshold=1 - 1e-6,  # never stop early: every style gets its 4 steps
        )
        assert out.mel_postnet.shape == (2, N_MELS, 4)
        return out.mel_postnet

    a = synth(parse_style_tokens("3:1.0", 6))
    b = synth(parse_style_tokens("1:0.5,5:0.5", 6))
    again = synth(parse_style_tokens("3:1.0", 6))
    uniform = synth(None)
    torch.testing.assert_close(a, again)
    assert (a - b).abs().max() > 1e-4
    assert (a - uniform).abs().max() > 1e-4


def test_weights_for_every_head_are_the_weighted_sum_of_the_tokens():
    model = deterministic_eval_model()
    layer = model.gst.style_tokens
    weights = torch.tensor([[0.0, 0.7, 0.0, 0.2, 0.0, 0.4]])
    values = layer.value(torch.tanh(layer.tokens))  # (n_tokens, token_dim)
    torch.testing.assert_close(layer.combine(weights), weights @ values)


def test_reference_summary_does_not_depend_on_batch_padding():
    model = deterministic_eval_model()
    batch = random_batch([8, 6], [31, 13])
    both = model.gst.reference_encoder(batch.mels, batch.mel_lengths)
    short = batch.mels[1:2, :, :13]
    alone = model.gst.reference_encoder(short, torch.tensor([13]))
    torch.testing.assert_close(both[1:2], alone)


def test_style_errors_are_clear():
    model = deterministic_eval_model()
    batch = random_batch([8, 6], [16, 12])
    with pytest.raises(ValueError, match="not both"):
        model.infer(
            batch.text, batch.text_lengths, r=batch.r, style_mel=batch.mels, style_weights=torch.ones(6)
        )
    with pytest.raises(ValueError, match=r"\[B, 6\]"):
        model.infer(batch.text, batch.text_lengths, r=batch.r, style_weights=torch.ones(5))
    with pytest.raises(ValueError, match="n_mels=80"):
        model.infer(batch.text, batch.text_lengths, r=batch.r, style_mel=torch.zeros(40, 10))
    plain = build(tiny_config()).eval()
    with pytest.raises(ValueError, match="no GST"):
        plain.infer(batch.text, batch.text_lengths, r=batch.r, style_weights=torch.ones(6))


def test_parse_style_tokens():
    torch.testing.assert_close(parse_style_tokens("3:0.5, 5:0.5", 6), torch.tensor([0, 0, 0, 0.5, 0, 0.5]))
    with pytest.raises(ValueError, match="out of range.*0..5"):
        parse_style_tokens("6:1", 6)
    with pytest.raises(ValueError, match="out of range"):
        parse_style_tokens("-1:1", 6)
    with pytest.raises(ValueError, match="TOKEN_ID:WEIGHT"):
        parse_style_tokens("3", 6)
    with pytest.raises(ValueError, match="given twice"):
        parse_style_tokens("3:0.5,3:0.1", 6)
    with pytest.raises(ValueError, match="must be an int"):
        parse_style_tokens("a:0.5", 6)
    with pytest.raises(ValueError, match="finite"):
        parse_style_tokens("2:nan", 6)


def test_models_without_gst_or_ddc_keep_their_state_dict_keys():
    """Checkpoints from before GST/DDC existed load unchanged: the off model has only the old parts."""
    plain = build(tiny_config())
    keys = set(plain.state_dict())
    assert all(k.split(".")[0] in {"encoder", "decoder", "postnet"} for k in keys)
    with_gst = build(gst_config())
    gst_keys = {k for k in with_gst.state_dict() if k.startswith("gst.")}
    assert gst_keys and set(with_gst.state_dict()) - gst_keys == keys
    state = {k: v for k, v in with_gst.state_dict().items() if not k.startswith("gst.")}
    plain.load_state_dict(state)  # strict: same keys, same shapes
