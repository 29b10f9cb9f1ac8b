"""Warm start across symbol tables, from foreign (NVIDIA) weights, into a model with a larger max r."""

from __future__ import annotations

import pytest
import torch
from tests.helpers.checkpoints import write_tiny_checkpoint
from tests.helpers.configs import fast_config, tiny_config
from tests.helpers.foreign import nvidia_state_dict

from tacotron.model import build_model
from tacotron.model.convert import NVIDIA_SYMBOLS
from tacotron.text import build_symbol_table
from tacotron.train.warm_start import WarmStartError, transfer_embedding, warm_start


def nvidia_file(tmp_path, model_cfg, name="nvidia.pt", **kwargs):
    path = tmp_path / name
    state = nvidia_state_dict(model_cfg, **kwargs)
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "iteration": 3}, path)
    return path, state


def test_english_to_russian_copies_shared_symbols_borrows_latin_rows_and_averages_the_rest():
    en, ru = build_symbol_table("en"), build_symbol_table("ru")
    weight = torch.randn(len(en), 4)
    out, transfer = transfer_embedding(weight, en.symbols, ru.symbols)
    assert out.shape == (len(ru), 4)
    assert torch.equal(out[ru.id_of("a")], weight[en.id_of("a")])  # the Latin letter itself
    assert torch.equal(out[ru.id_of("а")], weight[en.id_of("a")])  # Cyrillic а starts from Latin a
    assert transfer.borrowed["ш"] == "s" and transfer.borrowed["ё"] == "e"
    matched = [en.id_of(s) for s in transfer.copied if s != "_"]
    assert torch.allclose(out[ru.id_of("ъ")], weight[matched].mean(0))
    assert transfer.initialised == ["+", "ъ", "ь"] and transfer.dropped == []


def test_other_case_stands_in_and_unused_source_symbols_are_listed():
    weight = torch.randn(4, 3)
    out, transfer = transfer_embedding(weight, ["_", "A", "B", "@AA"], ["_", "~", "a"])
    assert torch.equal(out[2], weight[1]) and transfer.borrowed == {"a": "A"}
    assert transfer.initialised == ["~"] and transfer.dropped == ["B", "@AA"]


def test_nvidia_table_into_ours_drops_capitals_and_arpabet():
    en = build_symbol_table("en")
    _, transfer = transfer_embedding(torch.randn(len(NVIDIA_SYMBOLS), 2), NVIDIA_SYMBOLS, en.symbols)
    assert transfer.initialised == ["~", '"'] and transfer.borrowed == {}
    assert set(transfer.dropped) == set(NVIDIA_SYMBOLS) - set(en.symbols)


def test_own_english_checkpoint_warm_starts_a_russian_model(tmp_path):
    path = write_tiny_checkpoint(tmp_path / "en.pt")
    source = torch.load(path, weights_only=True)["model"]
    en, ru = build_symbol_table("en"), build_symbol_table("ru")
    model = build_model(tiny_config().model, len(ru), 80)
    events = []
    warm_start(model, path, (), lambda *a, **k: events.append((a, k)), symbols=ru)
    state = model.state_dict()
    embedding = source["encoder.embedding.weight"]
    assert torch.equal(state["encoder.embedding.weight"][ru.id_of("б")], embedding[en.id_of("b")])
    assert torch.equal(state["decoder.attention_rnn.weight_hh"], source["decoder.attention_rnn.weight_hh"])
    (_, details) = events[0]
    assert details["symbols"]["borrowed"]["б"] == "b" and details["initialised"] == []


def test_nvidia_checkpoint_warm_starts_directly_with_its_projection_copied_per_frame_group(tmp_path):
    cfg = fast_config()  # r = 3
    path, nv = nvidia_file(tmp_path, cfg.model)
    en = build_symbol_table("en")
    model = build_model(cfg.model, len(en), 80)
    events = []
    warm_start(model, path, (), lambda *a, **k: events.append(k), symbols=en)
    state = model.state_dict()
    assert torch.equal(state["encoder.embedding.weight"][en.id_of("a")], nv["embedding.weight"][38])
    assert torch.equal(state["encoder.norms.0.running_var"], nv["encoder.convolutions.0.1.running_var"])
    bias = nv["decoder.linear_projection.linear_layer.bias"]
    assert torch.equal(state["decoder.frame_projection.bias"], bias.repeat(3))
    assert events[0]["frame_groups_copied"] is True and "nvidia" in events[0]["action"]


def test_size_mismatch_names_the_nvidia_tensor_both_shapes_and_the_skip(tmp_path):
    path, _ = nvidia_file(tmp_path, tiny_config().model)
    cfg = tiny_config().model
    cfg.prenet_dim = 24
    model = build_model(cfg, len(build_symbol_table("en")), 80)
    with pytest.raises(WarmStartError) as err:
        warm_start(model, path, (), lambda *a, **k: None, symbols=build_symbol_table("en"))
    message = str(err.value)
    name = "'decoder.prenet.layers.0.weight' (nvidia 'module.decoder.prenet.layers.0.linear_layer.weight')"
    assert "\n" not in message and name in message
    assert (
        "(32, 80) in the checkpoint but (24, 80) here" in message and "--init-skip decoder.prenet" in message
    )


def test_unknown_source_table_is_refused_unless_the_embedding_is_skipped(tmp_path):
    path, _ = nvidia_file(tmp_path, tiny_config().model, n_symbols=7)
    en = build_symbol_table("en")
    model = build_model(tiny_config().model, len(en), 80)
    with pytest.raises(WarmStartError, match="--source-symbols"):
        warm_start(model, path, (), lambda *a, **k: None, symbols=en)
    warm_start(model, path, ("encoder.embedding",), lambda *a, **k: None, symbols=en)


def test_trainer_init_from_an_nvidia_checkpoint(tiny_dataset, tmp_path):
    from tacotron.train import Trainer

    cfg = fast_config(max_steps=1)
    path, nv = nvidia_file(tmp_path, cfg.model)
    trainer = Trainer(cfg, tiny_dataset, tmp_path / "run", device="cpu", init_from=path)
    state = trainer.model.state_dict()
    table = trainer.train_set.symbols
    assert torch.equal(state["encoder.embedding.weight"][table.id_of("e")], nv["embedding.weight"][42])
    assert torch.equal(state["decoder.decoder_rnn.weight_ih"], nv["decoder.decoder_rnn.weight_ih"])
    trainer.close()


def test_an_english_phoneme_model_starts_russian_letters_from_ipa_symbols_english_uses():
    ipa, ru = build_symbol_table("en", phonemes=True), build_symbol_table("ru")
    weight = torch.randn(len(ipa), 4)
    out, transfer = transfer_embedding(weight, ipa.symbols, ru.symbols)
    # Latin g, r and x are rows an English IPA model never trained (it writes ɡ, ɹ and h)
    borrowed = {c: transfer.borrowed[c] for c in "гржшых"}
    assert borrowed == {"г": "ɡ", "р": "ɹ", "ж": "ʒ", "ш": "ʃ", "ы": "ɪ", "х": "h"}
    assert torch.equal(out[ru.id_of("р")], weight[ipa.id_of("ɹ")])
    # the Russian table's Latin letters: c, r, y are IPA rows English never trained, g and q no IPA at all
    assert {c: transfer.borrowed[c] for c in "cgqry"} == {"c": "k", "g": "ɡ", "q": "k", "r": "ɹ", "y": "j"}
    assert torch.equal(out[ru.id_of("r")], weight[ipa.id_of("ɹ")])
    assert "x" in transfer.copied and "r" not in transfer.copied  # English IPA writes x, never r
    assert transfer.initialised == ["+", "ъ", "ь"]
