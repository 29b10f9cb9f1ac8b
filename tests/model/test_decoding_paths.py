"""One decoding code, three paths: eager `Tacotron2.infer`, `GraphedInference` and the TorchScript export
give the same lengths, stop reasons and (close) mels on the same model and inputs, for r = 1 and r = 3,
batch 1 and batch 4, across all three stop reasons.

Prenet dropout is off (deterministic). Most cases use a traceable attention double that moves one symbol
per decoder step and then rests on the last symbol, with a constant gate, so every stop has a known cause;
one case keeps the real (random-weight) attention and gate. On the CPU, `GraphedInference(capture=False)`
runs its static-buffer bookkeeping without CUDA graphs; the CUDA test captures the graphs.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from tacotron.export import scripted_tacotron
from tacotron.model import Tacotron2, build_model
from tacotron.model.fast_infer import GraphedInference
from tacotron.model.inference import STOP_REASONS

N_SYMBOLS = 24


class WalkingAttention(nn.Module):
    """Symbol 0 at the first step, one symbol further each step, then rests on the last real symbol.
    Written with size-independent ops so that the traced (exported) step works at any text length."""

    def process_memory(self, memory: torch.Tensor) -> torch.Tensor:
        return memory

    def forward(self, query, memory, processed_memory, weights_cat, mask):  # noqa: ANN001
        started = weights_cat[:, 1].sum(dim=1) > 0
        position = torch.where(started, weights_cat[:, 0].argmax(dim=1) + 1, 0)
        position = torch.minimum(position, mask.sum(dim=1) - 1)
        symbols = torch.arange(mask.size(1), device=mask.device)
        weights = (symbols.unsqueeze(0) == position.unsqueeze(1)).to(memory.dtype)  # (B, L)
        return torch.bmm(weights.unsqueeze(1), memory).squeeze(1), weights


@dataclasses.dataclass
class Case:
    walking: bool  # attention double (else the real attention)
    gate_bias: float | None  # constant gate logit (None: the random gate projection)
    at_eos: bool  # stop_at_end_of_text
    max_steps: int  # not a multiple of stop_check_every (8): the last block is shorter
    text_lengths: list[int]
    reasons: set[str]  # stop reasons this case must produce (for r = 1), so the cases keep covering


CASES = {
    "gate": Case(True, 10.0, False, 37, [40, 35, 12, 5], {"gate"}),
    "end_of_text+max_steps": Case(True, -10.0, True, 15, [20, 5, 9, 13], {"end_of_text", "max_steps"}),
    "gate+max_steps": Case(True, 10.0, False, 10, [40, 5, 17, 3], {"gate", "max_steps"}),
    "real": Case(False, None, True, 30, [11, 7, 3, 9], set()),
}


def make_model(cfg, case: Case, r: int, device: str = "cpu") -> Tacotron2:
    m = dataclasses.replace(
        cfg.model,
        max_frames_per_step=3,
        n_frames_per_step=r,
        stop_at_end_of_text=case.at_eos,
        max_decoder_steps=case.max_steps,
        prenet_dropout_at_inference=False,
    )
    torch.manual_seed(0)
    model = build_model(m, N_SYMBOLS, 80)
    if case.walking:
        model.decoder.attention = WalkingAttention()
    if case.gate_bias is not None:
        with torch.no_grad():
            model.decoder.gate_projection.weight.zero_()
            model.decoder.gate_projection.bias.fill_(case.gate_bias)
    return model.to(device).eval()


def make_texts(lengths: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    text = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for i, n in enumerate(lengths):
        text[i, :n] = torch.randint(2, N_SYMBOLS, (n,), generator=gen)
    return text, torch.tensor(lengths)


def batches(case: Case) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The case's batch of 4, then each of its items alone (batch 1, no padding)."""
    text, lengths = make_texts(case.text_lengths)
    singles = [(text[i : i + 1, :n], lengths[i : i + 1]) for i, n in enumerate(case.text_lengths)]
    return [(text, lengths), *singles]


def assert_same(got: dict, want, atol: float = 1e-5) -> None:
    assert got["lengths"].tolist() == want.lengths.tolist()
    assert got["stop_reasons"] == want.stop_reasons
    assert got["mel_postnet"].shape == want.mel_postnet.shape
    torch.testing.assert_close(got["mel_postnet"], want.mel_postnet, atol=atol, rtol=1e-4)
    torch.testing.assert_close(got["alignments"], want.alignments, atol=atol, rtol=1e-4)


def as_dict(out) -> dict:
    return {f.name: getattr(out, f.name) for f in dataclasses.fields(out)}


@pytest.mark.parametrize("r", [1, 3])
@pytest.mark.parametrize("name", list(CASES))
def test_eager_torchscript_and_uncaptured_graph_path_agree(tiny_cfg, name, r):
    case = CASES[name]
    model = make_model(tiny_cfg, case, r)
    scripted = scripted_tacotron(model, r=r, n_symbols=N_SYMBOLS)
    graphed = GraphedInference(model, capture=False)
    seen = set()
    for text, lengths in batches(case):
        eager = model.infer(text, lengths, r=r, deterministic=True)
        assert eager.r == r and eager.mel_postnet.size(2) % r == 0
        seen |= set(eager.stop_reasons)
        mel_postnet, out_lengths, alignments, codes = scripted(text, lengths)
        reasons = [STOP_REASONS[int(c)] for c in codes]
        assert_same(dict(mel_postnet=mel_postnet, lengths=out_lengths, alignments=alignments,
                         stop_reasons=reasons), eager)  # fmt: skip
        fast = graphed.infer(text, lengths, r=r, deterministic=True)
        assert_same(as_dict(fast), eager)
        torch.testing.assert_close(fast.mel, eager.mel, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(fast.gate_logits, eager.gate_logits, atol=1e-5, rtol=1e-4)
        assert fast.r == r
    if r == 1:
        assert case.reasons <= seen, f"case {name} must produce {case.reasons}, got {seen}"


def test_gate_case_stops_where_the_rule_says(tiny_cfg):
    """The walking attention makes the gate stop a known function of the text length: the same on every
    path (the test above), and the right one here."""
    case = CASES["gate"]
    model = make_model(tiny_cfg, case, 3)
    text, lengths = make_texts(case.text_lengths)
    out = GraphedInference(model, capture=False).infer(text, lengths, r=3, deterministic=True)
    assert out.lengths.tolist() == [((n + 1) // 2 - 1) * 3 + 1 for n in case.text_lengths]


def test_uncaptured_graph_path_reuses_its_buffers_across_calls(tiny_cfg):
    """Same shape, new contents: the second call must not see the first call's state or stop state."""
    case = CASES["end_of_text+max_steps"]
    model = make_model(tiny_cfg, case, 1)
    graphed = GraphedInference(model, capture=False)
    for seed in (0, 1, 0):
        text, lengths = make_texts([9, 4, 6, 2], seed=seed)
        assert_same(as_dict(graphed.infer(text, lengths, r=1, deterministic=True)),
                    model.infer(text, lengths, r=1, deterministic=True))  # fmt: skip
    assert len(graphed.graphs) == 1


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
@pytest.mark.parametrize("r", [1, 3])
@pytest.mark.parametrize("name", list(CASES))
def test_captured_graph_path_agrees_with_eager_on_cuda(tiny_cfg, name, r):
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        case = CASES[name]
        model = make_model(tiny_cfg, case, r, device="cuda")
        graphed = GraphedInference(model)
        for text, lengths in batches(case):
            text, lengths = text.cuda(), lengths.cuda()
            eager = model.infer(text, lengths, r=r, deterministic=True)
            fast = graphed.infer(text, lengths, r=r, deterministic=True)
            assert_same(as_dict(fast), eager, atol=1e-4)
            torch.testing.assert_close(fast.gate_logits, eager.gate_logits, atol=1e-4, rtol=1e-4)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
