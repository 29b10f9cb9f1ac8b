"""Incremental decoding (`Tacotron2.infer_stream`, `GraphedInference.stream`): the postnet mel blocks handed
out while decoding runs, joined, are the one-shot `mel_postnet`, and the last block carries the one-shot
output itself (lengths, stop reasons, alignments). The gate is silenced and its threshold moved so that
one case stops by the gate mid-block and one at end of text; prenet dropout is on, drawn from a seed.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from tests.helpers.configs import variant_config

from tacotron.model import build_model
from tacotron.model.fast_infer import GraphedInference
from tacotron.model.streaming import postnet_halo

N_SYMBOLS = 24


def model_for(r: int):
    cfg = variant_config("plain")
    m = dataclasses.replace(cfg.model, max_frames_per_step=2, n_frames_per_step=r, max_decoder_steps=40)
    torch.manual_seed(0)
    model = build_model(m, N_SYMBOLS, 80).eval()
    model.stop_check_every = 4  # more, smaller blocks
    with torch.no_grad():
        model.decoder.gate_projection.bias.fill_(-20.0)
    return model


def one_text(n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    text = torch.randint(2, N_SYMBOLS, (1, n), generator=torch.Generator().manual_seed(0))
    return text, torch.tensor([n])


def assert_blocks_are_the_one_shot_output(blocks, want) -> None:
    length = int(want.lengths[0])
    starts = [b.start for b in blocks]
    assert starts == [sum(b.mel.size(1) for b in blocks[:i]) for i in range(len(blocks))]
    assert len(blocks) > 1  # something was handed out before decoding ended
    assert all(b.output is None for b in blocks[:-1]) and blocks[-1].output is not None
    joined = torch.cat([b.mel for b in blocks], 1)
    assert joined.shape == (80, length)
    torch.testing.assert_close(joined, want.mel_postnet[0, :, :length], atol=1e-6, rtol=1e-5)
    got = blocks[-1].output
    assert got.lengths.tolist() == want.lengths.tolist() and got.stop_reasons == want.stop_reasons
    for name in ("mel", "mel_postnet", "gate_logits", "alignments"):
        assert torch.equal(getattr(got, name), getattr(want, name)), name


@pytest.mark.parametrize("r", [1, 2])
@pytest.mark.parametrize("threshold, reason", [(0.5, "end_of_text"), (2e-9, "gate")])
def test_eager_blocks_join_to_the_seeded_one_shot_mel(r, threshold, reason):
    model = model_for(r)
    text, lengths = one_text()
    want = model.infer(text, lengths, r=r, seed=3, gate_threshold=threshold)
    assert want.stop_reasons == [reason]
    blocks = list(model.infer_stream(text, lengths, r=r, seed=3, gate_threshold=threshold))
    assert_blocks_are_the_one_shot_output(blocks, want)


def test_a_block_is_handed_out_before_the_last_frame_is_decoded():
    model = model_for(1)
    steps = []
    model.decoder.gate_projection.register_forward_hook(lambda *_: steps.append(1))
    text, lengths = one_text()
    stream = model.infer_stream(text, lengths, r=1, seed=3)
    first = next(stream)
    decoded_then = len(steps)
    rest = list(stream)
    assert first.mel.size(1) == decoded_then - postnet_halo(model.postnet) > 0
    assert decoded_then < rest[-1].output.lengths.item() <= len(steps)  # steps run in whole blocks


def test_graphed_blocks_join_to_the_graphed_one_shot_mel():
    model = model_for(2)
    graphed = GraphedInference(model, capture=False)
    text, lengths = one_text(9)  # bucket-padded to 16 symbols, as in the service
    want = graphed.infer(text, lengths, r=2, deterministic=True)
    blocks = list(graphed.stream(text, lengths, r=2, deterministic=True))
    assert_blocks_are_the_one_shot_output(blocks, want)
    assert want.alignments.size(2) == 9


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_captured_graph_blocks_join_to_the_graphed_one_shot_mel_on_cuda():
    model = model_for(2).cuda()
    graphed = GraphedInference(model)
    text, lengths = (t.cuda() for t in one_text(9))
    want = graphed.infer(text, lengths, r=2, deterministic=True)
    blocks = list(graphed.stream(text, lengths, r=2, deterministic=True))
    assert_blocks_are_the_one_shot_output(blocks, want)
    again = graphed.infer(text, lengths, r=2, deterministic=True)  # the stream left the graphs reusable
    assert torch.equal(again.mel_postnet, want.mel_postnet)
