"""Foreign Tacotron 2 weights (NVIDIA/tacotron2, DeepLearningExamples, torchaudio) -> this project's model:
names, values, outputs, r, errors, and the `tacotron convert` command."""

from __future__ import annotations

import pytest
import torch
from tests.helpers.configs import tiny_config
from tests.helpers.foreign import nvidia_forward, nvidia_shapes, nvidia_state_dict, without_wrappers

from tacotron.commands.convert import convert_checkpoint
from tacotron.config import Config, ModelConfig
from tacotron.model import build_model
from tacotron.model.checkpoint import load_checkpoint
from tacotron.model.convert import NVIDIA_SYMBOLS, ConversionError, read_foreign, read_source
from tacotron.text import TextFrontend


def small_model() -> ModelConfig:
    """tiny_config()'s sizes with NVIDIA's layer counts (3 encoder convs, 2 prenet layers, 5 postnet convs)."""
    m = tiny_config().model
    m.encoder_n_convolutions, m.postnet_n_convolutions = 3, 5
    return m


def converted(state: dict, cfg: Config | None = None, **config) -> dict:
    cfg = cfg or Config()
    for key, value in config.items():
        setattr(cfg.model, key, value)
    return convert_checkpoint(read_foreign({"state_dict": state}), cfg).checkpoint


def loaded_model(ckpt: dict):
    model = build_model(Config.from_dict(ckpt["config"]).model, len(ckpt["symbols"]["symbols"]), 80)
    model.load_state_dict(ckpt["model"], strict=True)
    return model.eval()


def test_nvidia_symbol_table_is_its_148_symbols():
    assert len(NVIDIA_SYMBOLS) == 148 and NVIDIA_SYMBOLS[:12] == tuple("_-!'(),.:;? ")
    assert NVIDIA_SYMBOLS[12] == "A" and NVIDIA_SYMBOLS[38] == "a" and NVIDIA_SYMBOLS[64] == "@AA"
    assert NVIDIA_SYMBOLS[-1] == "@ZH"


def test_every_nvidia_tensor_lands_in_its_place_and_the_model_loads_strictly(tmp_path):
    nv = nvidia_state_dict(small_model())
    path = tmp_path / "tacotron2_statedict.pt"
    torch.save({"state_dict": nv, "optimizer": {}, "learning_rate": 1e-3, "iteration": 7}, path)
    ckpt = convert_checkpoint(read_source(path), Config()).checkpoint
    ours = ckpt["model"]
    loaded_model(ckpt)  # strict load into a model built from the stored config
    expected = {
        "decoder.attention_rnn.weight_ih": "decoder.attention_rnn.weight_ih",
        "decoder.attention_rnn.bias_hh": "decoder.attention_rnn.bias_hh",
        "encoder.convs.2.weight": "encoder.convolutions.2.0.conv.weight",
        "encoder.norms.1.running_mean": "encoder.convolutions.1.1.running_mean",
        "encoder.norms.1.running_var": "encoder.convolutions.1.1.running_var",
        "encoder.norms.0.num_batches_tracked": "encoder.convolutions.0.1.num_batches_tracked",
        "encoder.lstm.weight_hh_l0_reverse": "encoder.lstm.weight_hh_l0_reverse",
        "decoder.prenet.layers.1.weight": "decoder.prenet.layers.1.linear_layer.weight",
        "decoder.attention.query_layer.weight": "decoder.attention_layer.query_layer.linear_layer.weight",
        "decoder.attention.v.weight": "decoder.attention_layer.v.linear_layer.weight",
        "decoder.attention.location_conv.weight": "decoder.attention_layer.location_layer.location_conv.conv.weight",
        "decoder.attention.location_dense.weight": (
            "decoder.attention_layer.location_layer.location_dense.linear_layer.weight"
        ),
        "decoder.frame_projection.bias": "decoder.linear_projection.linear_layer.bias",
        "decoder.gate_projection.weight": "decoder.gate_layer.linear_layer.weight",
        "postnet.convs.4.weight": "postnet.convolutions.4.0.conv.weight",
        "postnet.norms.4.running_var": "postnet.convolutions.4.1.running_var",
    }
    for name, theirs in expected.items():
        assert torch.equal(ours[name], nv[theirs]), name
    # every other tensor too: each of ours equals exactly one of theirs, and each of theirs is used once
    sources = {
        n: [k for k, v in nv.items() if v.shape == ours[n].shape and torch.equal(v, ours[n])] for n in ours
    }
    assert all(len(found) == 1 for n, found in sources.items() if n != "encoder.embedding.weight"), sources
    assert len({found[0] for n, found in sources.items() if n != "encoder.embedding.weight"}) == len(nv) - 1


def test_embedding_rows_follow_their_symbols():
    nv = nvidia_state_dict(small_model())
    ckpt = converted(nv)
    table = TextFrontend(Config().text).symbols
    ours, theirs = ckpt["model"]["encoder.embedding.weight"], nv["embedding.weight"]
    assert torch.equal(ours[table.id_of("a")], theirs[38])  # NVIDIA: _ - 10 punctuation A-Z, then a
    assert torch.equal(ours[table.id_of(" ")], theirs[11]) and torch.equal(ours[table.id_of("-")], theirs[1])
    matched = [NVIDIA_SYMBOLS.index(s) for s in table.symbols if s in NVIDIA_SYMBOLS and s != "_"]
    assert torch.allclose(ours[table.id_of("~")], theirs[matched].mean(0))  # EOS: new, the mean row
    report = ckpt["converted_from"]["symbols"]
    assert report["initialised"] == ["~", '"'] and "A" in report["dropped"] and "@ZH" in report["dropped"]


def test_outputs_equal_nvidia_forward_for_the_same_weights():
    nv = nvidia_state_dict(small_model(), seed=3)
    model = loaded_model(converted(nv, prenet_dropout_at_inference=False))
    table = TextFrontend(Config().text).symbols
    text = "hello, world"
    ours_ids = torch.tensor([[table.id_of(c) for c in text]] * 2)
    theirs_ids = torch.tensor([[NVIDIA_SYMBOLS.index(c) for c in text]] * 2)
    mels = torch.randn(2, 80, 9, generator=torch.Generator().manual_seed(1))
    lengths = torch.tensor([len(text)] * 2)
    with torch.no_grad():
        out = model(ours_ids, lengths, mels, torch.tensor([9, 9]), r=1)
        mel, mel_post, gate, align = nvidia_forward(nv, theirs_ids, mels)
    for a, b in (
        (out.mel, mel),
        (out.mel_postnet, mel_post),
        (out.gate_logits, gate),
        (out.alignments, align),
    ):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_module_prefix_and_torchaudio_names_give_the_same_weights():
    nv = nvidia_state_dict(small_model())
    plain = converted(nv)["model"]
    ddp = converted({f"module.{k}": v for k, v in nv.items()})["model"]
    torchaudio = convert_checkpoint(read_foreign(without_wrappers(nv)), Config()).checkpoint["model"]
    assert read_foreign(without_wrappers(nv)).layout == "torchaudio" and read_foreign(nv).layout == "nvidia"
    for other in (ddp, torchaudio):
        assert other.keys() == plain.keys() and all(torch.equal(other[k], plain[k]) for k in plain)


def test_sizes_come_from_the_tensors_and_changes_are_named():
    cfg = Config()
    result = convert_checkpoint(read_foreign({"state_dict": nvidia_state_dict(small_model())}), cfg)
    m = small_model()
    assert (cfg.model.attention_rnn_dim, cfg.model.postnet_n_convolutions) == (m.attention_rnn_dim, 5)
    assert any(
        line.startswith("model.attention_rnn_dim: 1024 -> 48") and "decoder.attention_rnn.weight_hh" in line
        for line in result.config_changes
    ), result.config_changes


def test_larger_max_r_copies_the_r1_projection_into_every_group_and_r1_outputs_stay_equal():
    nv = nvidia_state_dict(small_model(), seed=5)
    one = loaded_model(converted(nv, prenet_dropout_at_inference=False))
    ckpt = converted(nv, prenet_dropout_at_inference=False, n_frames_per_step=2, max_frames_per_step=3)
    three = loaded_model(ckpt)
    weight = nv["decoder.linear_projection.linear_layer.weight"]
    assert torch.equal(ckpt["model"]["decoder.frame_projection.weight"], torch.cat([weight] * 3))
    assert ckpt["r"] == 1  # the r the weights were trained with, which synthesis uses
    text, mels = torch.tensor([[5, 20, 22, 9]]), torch.randn(1, 80, 6)
    with torch.no_grad():
        a = one(text, torch.tensor([4]), mels, torch.tensor([6]), r=1)
        b = three(text, torch.tensor([4]), mels, torch.tensor([6]), r=1)
    torch.testing.assert_close(a.mel_postnet, b.mel_postnet)


def test_inconsistent_shape_is_one_line_naming_the_tensor_and_both_shapes():
    nv = nvidia_state_dict(small_model())
    name = "decoder.attention_layer.location_layer.location_dense.linear_layer.weight"
    nv[name] = torch.zeros(17, 4)
    with pytest.raises(ConversionError) as err:
        converted(nv)
    message = str(err.value)
    assert "\n" not in message and name in message and "(17, 4)" in message and "(16, 4)" in message


def test_sources_trained_with_r_above_1_unknown_names_and_unknown_tables_are_refused():
    with pytest.raises(ConversionError, match="n_frames_per_step=2"):
        read_foreign(nvidia_state_dict(small_model(), r=2))
    with pytest.raises(ConversionError, match="'decoder.extra.weight' is not part of a Tacotron 2"):
        read_foreign(
            {"state_dict": {**nvidia_state_dict(small_model()), "decoder.extra.weight": torch.zeros(1)}}
        )
    odd = nvidia_state_dict(small_model(), n_symbols=5)
    with pytest.raises(ConversionError, match="--source-symbols"):
        converted(odd)
    ckpt = convert_checkpoint(read_foreign(odd, symbols=list("_abc ")), Config()).checkpoint
    table = TextFrontend(Config().text).symbols
    assert torch.equal(
        ckpt["model"]["encoder.embedding.weight"][table.id_of("c")], odd["embedding.weight"][3]
    )


def test_nvidia_shapes_helper_matches_our_model_parameter_count():
    """The generated NVIDIA dict and our model hold the same number of values (r = 1, same table size)."""
    m = small_model()
    ours = build_model(m, len(NVIDIA_SYMBOLS), 80).state_dict()
    theirs = nvidia_shapes(m)
    assert len(ours) == len(theirs)
    assert sum(v.numel() for v in ours.values()) == sum(torch.Size(s).numel() for s in theirs.values())


def test_convert_command_writes_a_checkpoint_that_synth_runs(tmp_path, capsys):
    from tacotron.cli import main

    src = tmp_path / "tacotron2_statedict.pt"
    torch.save({"state_dict": nvidia_state_dict(small_model())}, src)
    out = tmp_path / "converted.pt"
    args = ["convert", str(src), "--out", str(out), "--set", "model.max_decoder_steps=12"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "model.attention_rnn_dim: 1024 -> 48" in printed and "--init-from" in printed
    ckpt = load_checkpoint(out)
    assert ckpt["r"] == 1 and ckpt["converted_from"]["layout"] == "nvidia"
    assert (tmp_path / "converted.yaml").is_file()
    synth = [
        "synth",
        "--checkpoint",
        str(out),
        "--text",
        "hi.",
        "--out",
        str(tmp_path / "wav"),
        "--seed",
        "0",
    ]
    assert main(synth) == 0
    assert list((tmp_path / "wav").glob("*.wav"))


def test_convert_command_errors_are_one_line(tmp_path, capsys):
    from tacotron.cli import main

    src = tmp_path / "bad.pt"
    torch.save({"state_dict": nvidia_state_dict(small_model(), r=2)}, src)
    assert main(["convert", str(src), "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "n_frames_per_step=2" in err
    assert not (tmp_path / "x.pt").exists()


def test_matches_torchaudio_tacotron2_outputs_for_the_same_weights():
    """Run where torchaudio imports (the GPU machine): its Tacotron2 and ours on the same random weights."""
    torchaudio = pytest.importorskip("torchaudio")
    m = small_model()
    torch.manual_seed(0)
    theirs = torchaudio.models.Tacotron2(
        n_mels=80,
        n_symbol=len(NVIDIA_SYMBOLS),
        symbol_embedding_dim=m.symbols_embedding_dim,
        encoder_embedding_dim=m.encoder_embedding_dim,
        encoder_n_convolution=m.encoder_n_convolutions,
        encoder_kernel_size=m.encoder_kernel_size,
        decoder_rnn_dim=m.decoder_rnn_dim,
        attention_rnn_dim=m.attention_rnn_dim,
        attention_hidden_dim=m.attention_dim,
        attention_location_n_filter=m.attention_location_n_filters,
        attention_location_kernel_size=m.attention_location_kernel_size,
        prenet_dim=m.prenet_dim,
        postnet_n_convolution=m.postnet_n_convolutions,
        postnet_kernel_size=m.postnet_kernel_size,
        postnet_embedding_dim=m.postnet_embedding_dim,
    )
    for name, buffer in theirs.named_buffers():  # trained-like BatchNorm statistics, not the init's 0 / 1
        if name.endswith("running_mean"):
            buffer.copy_(0.3 * torch.randn_like(buffer))
        elif name.endswith("running_var"):
            buffer.copy_(0.5 + torch.rand_like(buffer))
    theirs.eval()
    prenet = theirs.decoder.prenet  # its prenet dropout is always on: the same layers without it
    prenet.forward = lambda x: torch.relu(prenet.layers[1](torch.relu(prenet.layers[0](x))))
    ours = loaded_model(converted(theirs.state_dict(), prenet_dropout_at_inference=False))
    table = TextFrontend(Config().text).symbols
    text = "tacotron, two!"
    tokens = torch.tensor([[NVIDIA_SYMBOLS.index(c) for c in text]] * 2)
    ids = torch.tensor([[table.id_of(c) for c in text]] * 2)
    lengths, mels = torch.tensor([len(text)] * 2), torch.randn(2, 80, 11)
    with torch.no_grad():
        mel, mel_post, gate, align = theirs(tokens, lengths, mels, torch.tensor([11, 11]))
        out = ours(ids, lengths, mels, torch.tensor([11, 11]), r=1)
    for a, b in (
        (out.mel, mel),
        (out.mel_postnet, mel_post),
        (out.gate_logits, gate),
        (out.alignments, align),
    ):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
