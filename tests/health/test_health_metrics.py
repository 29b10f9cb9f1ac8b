"""Per-module norms, gate and mel-band metrics, and the tuner's `health_metrics`."""

from __future__ import annotations

import pytest
import torch
from tests.helpers.fakes import FakeOutput, FakeTacotron, fake_batch

from tacotron.health.metrics import (
    GradNormRecorder,
    grad_norms,
    module_group,
    param_norms,
    snapshot_parameters,
    update_ratios,
)
from tacotron.metrics.outputs import gate_metrics, health_metrics, mel_band_errors


@pytest.mark.parametrize(
    ("name", "group"),
    [
        ("embedding.weight", "embedding"),
        ("encoder.embedding.weight", "embedding"),
        ("decoder.gate_projection.weight", "gate"),
        ("encoder.convolutions.0.0.conv.weight", "encoder"),
        ("decoder.attention_layer.memory_layer.weight", "attention"),
        ("decoder.attention_rnn.weight_hh", "attention"),
        ("decoder.gate_layer.linear.bias", "gate"),
        ("decoder.decoder_rnn.weight_ih", "decoder"),
        ("postnet.convolutions.4.1.weight", "postnet"),
        ("module.postnet.w", "postnet"),
        ("speaker_table.weight", "other"),
    ],
)
def test_module_group(name, group):
    assert module_group(name) == group


def test_grad_norms_split_by_module_and_sum_to_total():
    torch.manual_seed(0)
    model, batch = FakeTacotron(), fake_batch()
    assert grad_norms(model) == {}
    out = model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=batch.r)
    (out.mel_postnet.pow(2).mean() + out.gate_logits.mean()).backward()
    norms = grad_norms(model)
    groups = {"embedding", "encoder", "attention", "decoder", "gate", "postnet"}
    assert {k.split("/")[1] for k in norms} == groups | {"total"}
    assert all(norms[f"grad_norm/{g}"] > 0 for g in groups)
    total_sq = sum(norms[f"grad_norm/{g}"] ** 2 for g in groups)
    assert norms["grad_norm/total"] == pytest.approx(total_sq**0.5, rel=1e-5)


def test_update_ratio_measures_the_step():
    model = FakeTacotron()
    before = snapshot_parameters(model)
    assert update_ratios(model, before)["update_ratio/total"] == 0.0
    with torch.no_grad():
        model.postnet.weight.mul_(1.1)
    ratios = update_ratios(model, before)
    assert ratios["update_ratio/postnet"] > 0 and ratios["update_ratio/decoder"] == 0.0
    assert param_norms(model)["param_norm/total"] > 0


def test_gate_metrics_perfect_never_and_early():
    lengths = torch.tensor([5, 3])
    target = (torch.arange(6)[None, :] >= (lengths - 1)[:, None]).float()
    perfect = torch.where(target > 0, 10.0, -10.0)
    m = gate_metrics(perfect, target, lengths)
    assert m["gate/f1"] == pytest.approx(1.0) and m["gate/accuracy"] == pytest.approx(1.0)
    assert m["gate/fire_error"] == 0.0
    never = gate_metrics(torch.full((2, 6), -10.0), target, lengths)
    assert never["gate/f1"] == 0.0 and never["gate/recall"] == 0.0
    assert never["gate/accuracy"] == pytest.approx(6 / 8)  # right on every frame but the stop frames
    early = gate_metrics(torch.full((2, 6), 10.0), target, lengths)
    assert early["gate/recall"] == 1.0 and early["gate/precision"] == pytest.approx(2 / 8)
    assert early["gate/fire_error"] == pytest.approx((4 + 2) / 2)


def test_mel_band_errors_localise_the_band():
    target = torch.zeros(1, 8, 5)
    mel = target.clone()
    mel[0, 6:, :3] = 2.0  # error only in the top band, only in real frames
    mel[0, :, 3:] = 100.0  # padding: ignored
    bands = mel_band_errors(mel, target, torch.tensor([3]), n_bands=4)
    assert bands == {"mel_band/0": 0.0, "mel_band/1": 0.0, "mel_band/2": 0.0, "mel_band/3": 2.0}
    with pytest.raises(ValueError, match="same shape"):
        mel_band_errors(mel, target[:, :4], torch.tensor([3]))


def test_health_metrics_one_flat_dict_of_floats():
    model, batch = FakeTacotron(), fake_batch(r=3)
    out = model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=batch.r)
    metrics = health_metrics(out, batch)
    for key in ("attn/diagonality", "attn/monotonicity", "attn/coverage", "attn/end_alignment"):
        assert 0.0 <= metrics[key] <= 1.0
    assert {"gate/f1", "gate/accuracy", "mel_band/0", "mel_band/3"} <= metrics.keys()
    assert all(isinstance(v, float) for v in metrics.values())
    bad = FakeOutput(
        out.mel, out.mel_postnet, out.gate_logits, torch.cat([out.alignments, out.alignments[:, :1]], 1), 3
    )
    with pytest.raises(ValueError, match=r"alignments \(3, 5, 7\).*12 mel frames at r=3.*4 decoder steps"):
        health_metrics(bad, batch)


def test_health_metrics_refuses_an_output_computed_with_another_r():
    """r is read from the output and the batch, never from shapes: a mismatch is an error, not a guess."""
    model, batch = FakeTacotron(), fake_batch(r=3)
    out = model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=batch.r)
    other = FakeOutput(out.mel, out.mel_postnet, out.gate_logits, out.alignments, 1)
    with pytest.raises(ValueError, match=r"health_metrics: .*computed with r=1 .*padded for r=3"):
        health_metrics(other, batch)


def test_grad_norm_recorder_survives_zero_grad_and_unscales():
    torch.manual_seed(0)
    model, batch = FakeTacotron(), fake_batch()
    recorder = GradNormRecorder()
    recorder.arm(model)
    out = model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=batch.r)
    (8.0 * (out.mel_postnet.pow(2).mean() + out.gate_logits.mean())).backward()  # "loss scale" 8
    model.zero_grad(set_to_none=True)
    recorded = recorder.collect(loss_scale=8.0)
    assert not recorder.armed
    out = model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=batch.r)
    (out.mel_postnet.pow(2).mean() + out.gate_logits.mean()).backward()
    direct = grad_norms(model)
    assert recorded.keys() == direct.keys()
    for key, value in direct.items():
        assert recorded[key] == pytest.approx(value, rel=1e-4)
