"""Naming the source of a NaN/inf: inputs, parameters, or the first module."""

from __future__ import annotations

import math

import torch
from tests.helpers.fakes import FakeTacotron, fake_batch

from tacotron.health.localize import localize_nonfinite, nonfinite_inputs


def test_clean_batch_and_model_report_nothing():
    info = localize_nonfinite(FakeTacotron(), fake_batch())
    assert info["bad_input_ids"] == [] and info["bad_parameters"] == []
    assert info["first_module"] is None
    assert "replay stayed finite" in info["summary"]


def test_nan_parameter_names_module_and_parameter():
    model = FakeTacotron()
    with torch.no_grad():
        model.decoder.linear_projection.weight[0, 0] = math.nan
    info = localize_nonfinite(model, fake_batch())
    assert info["bad_parameters"] == ["decoder.linear_projection.weight"]
    first = info["first_module"]
    assert first["module"] == "decoder.linear_projection" and first["inputs_finite"] is True
    assert "decoder.linear_projection" in info["summary"] and "utt0" in info["summary"]
    assert model.training  # mode unchanged; hooks removed:
    assert not model.decoder.linear_projection._forward_hooks


def test_inf_input_names_utterance():
    batch = fake_batch()
    batch.mels[1, 2, 3] = math.inf
    assert nonfinite_inputs(batch) == {"fields": {"mels": ["utt1"]}, "ids": ["utt1"]}
    info = localize_nonfinite(FakeTacotron(), batch)
    assert info["bad_input_ids"] == ["utt1"]
    assert info["first_module"]["module"] == "decoder.prenet"
    assert "mels of ['utt1']" in info["summary"]
