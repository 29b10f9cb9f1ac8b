"""The CUDA-graph training step computes the eager loss: same terms, same weighted total, same gradients.

CPU tests run `step_losses` (what a capture records) uncaptured against `Tacotron2Loss.forward` for
plain, GST and DDC models, with the loss normaliser and weights fed as tensors the way the graph
reads them. CUDA tests capture and replay the step for GST and DDC models (fp32, TF32 off, dropout off)
on several batches of one shape, with weights changing between replays, and with the compiled attention
step (train.compile_decoder_step) on two shapes.
"""

from __future__ import annotations

import pytest
import torch
from tests.helpers.batches import N_SYMBOLS, random_batch
from tests.helpers.configs import variant_config

from tacotron.config import Config, LossConfig
from tacotron.data.batch import Batch
from tacotron.losses import LossNorm, Tacotron2Loss
from tacotron.model import Tacotron2, build_model
from tacotron.model.tacotron2 import use_compiled_decoder_step
from tacotron.train.graphs import GraphedTrainStep, LossInputs, pad_to_bucket, step_losses

N_MELS = 80
KINDS = ["plain", "gst", "ddc"]
# the same bucket shape for every seed: text padded to 16 symbols, mels to 32 frames
TEXT_LENGTHS, MEL_LENGTHS = [9, 4, 7], [30, 17, 25]


def make_batch(r: int, seed: int = 0) -> Batch:
    return pad_to_bucket(
        random_batch(TEXT_LENGTHS, MEL_LENGTHS, r, N_MELS, seed), text_multiple=16, mel_multiple=16
    )


def model_config(kind: str, **loss) -> Config:
    """A tiny plain, GST or DDC model, dropout off; loss weights all different from 1 and decaying."""
    return variant_config(kind, **loss)


def build(cfg: Config, device: str | torch.device = "cpu") -> Tacotron2:
    torch.manual_seed(0)
    return build_model(cfg.model, N_SYMBOLS, N_MELS).to(device).train()


def eager(
    model, loss_fn, batch, step, norm, guided=None
) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
    """The eager step's losses (detached) and gradients; leaves .grad zeroed, not None."""
    model.zero_grad(set_to_none=False)
    out = model(batch.text, batch.text_lengths, batch.mels, batch.mel_lengths, r=batch.r)
    losses = loss_fn(out, batch, step, norm, guided_attn_weight=guided)
    losses["loss"].backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=False)
    return {k: v.detach() for k, v in losses.items()}, grads


def assert_same(
    losses, grads, ref, ref_grads, model, *, atol=1e-6, rtol=1e-5, grad_rtol=1e-5, all_trained=True
):
    assert set(losses) == set(ref)
    for key in ref:
        torch.testing.assert_close(
            losses[key], ref[key], atol=atol, rtol=rtol, msg=lambda m, k=key: f"{k}: {m}"
        )
    for (name, _), g, r in zip(model.named_parameters(), grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, atol=atol, rtol=grad_rtol, msg=lambda m, n=name: f"{n}: {m}")
        assert not all_trained or g.abs().sum() > 0, f"{name} got no gradient"


@pytest.mark.parametrize("r", [1, 2])
@pytest.mark.parametrize("kind", KINDS)
def test_uncaptured_graph_step_equals_eager_losses_and_gradients(kind, r):
    cfg = model_config(kind)
    cfg.model.n_frames_per_step = r
    model, loss_fn = build(cfg), Tacotron2Loss(cfg.loss)
    inputs = None
    for seed, step, guided in ((0, 0, None), (1, 3, 7.0)):  # new contents, decayed and steered weight
        batch = make_batch(r, seed=seed)
        norm = LossNorm.from_batch(batch)
        ref, ref_grads = eager(model, loss_fn, batch, step, norm, guided)
        weights = loss_fn.weights(step, guided_attn_weight=guided)
        inputs = inputs or LossInputs.allocate(weights, "cpu")  # allocated once, loaded per step
        inputs.load(norm, weights)
        total, losses, _ = step_losses(model, loss_fn, batch, inputs, precision="fp32")
        total.backward()
        grads = [p.grad.clone() for p in model.parameters()]
        model.zero_grad(set_to_none=False)
        assert_same(losses, grads, ref, ref_grads, model)
        if kind == "ddc":
            assert {"ddc/mel", "ddc/gate", "ddc/attn_consistency"} <= set(losses)


def test_loss_inputs_feed_active_weights_as_tensors_and_leave_zero_weights_out():
    loss_fn = Tacotron2Loss(LossConfig(gate_weight=0.0, guided_attn_weight=2.0))
    weights = loss_fn.weights(0)
    inputs = LossInputs.allocate(weights, "cpu")
    assert "gate" not in inputs.active and "attn/guided" in inputs.active
    inputs.load(LossNorm(160.0, 2.0, 12.0, 1), weights)
    fed = inputs.weights()
    assert set(fed) == set(weights) and fed["gate"] == 0.0 and not isinstance(fed["gate"], torch.Tensor)
    assert isinstance(fed["attn/guided"], torch.Tensor) and fed["attn/guided"].item() == 2.0
    norm = inputs.norm(items=1)
    assert [float(x) for x in (norm.mel_elements, norm.frames, norm.attn_cells)] == [160.0, 2.0, 12.0]
    inputs.load(LossNorm(160.0, 2.0, 12.0, 1), loss_fn.weights(0, guided_attn_weight=5.0))
    assert fed["attn/guided"].item() == 5.0, "the weight views read the tensor a replay copies into"
    with pytest.raises(ValueError, match="switch terms on or off"):
        inputs.load(LossNorm(160.0, 2.0, 12.0, 1), loss_fn.weights(0, guided_attn_weight=0.0))


@pytest.mark.parametrize("kind", ["gst", "ddc"])
def test_graph_step_accepts_gst_and_ddc_models(kind):
    """No refusal of GST or DDC left: on the CPU the only complaint is the missing CUDA device."""
    cfg = model_config(kind)
    with pytest.raises(ValueError, match="needs the model on a CUDA device"):
        GraphedTrainStep(build(cfg), Tacotron2Loss(cfg.loss), precision="fp32")


@pytest.fixture
def exact_cuda():
    """fp32 matmuls without TF32, so the eager/graph comparison is tight."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.cuda
@needs_cuda
@pytest.mark.parametrize("r", [1, 2])
@pytest.mark.parametrize("kind", ["gst", "ddc"])
def test_captured_graph_step_equals_eager_for_gst_and_ddc(kind, r, exact_cuda):
    """Replays of one captured graph track eager fp32 within atol 1e-5 / rtol 1e-4 (losses) and rtol 1e-3
    (gradients): the capturable BiLSTM sums in another order than the packed one, nothing else differs.
    Switching the gate term off captures a second graph whose total leaves the term out, as eager does."""
    device = exact_cuda
    cfg = model_config(kind)
    cfg.model.n_frames_per_step = r
    model, loss_fn = build(cfg, device), Tacotron2Loss(cfg.loss)
    graphed = GraphedTrainStep(model, loss_fn, precision="fp32")
    for seed, step, guided in ((0, 0, None), (1, 3, None), (2, 5, 6.0)):  # new contents and weights
        batch = make_batch(r, seed=seed)
        norm = LossNorm.from_batch(batch)
        ref, ref_grads = eager(model, loss_fn, batch.to(device), step, norm, guided)
        losses, _ = graphed(batch, step, norm, guided_attn_weight=guided)
        grads = [p.grad.clone() for p in model.parameters()]
        model.zero_grad(set_to_none=False)
        assert_same(losses, grads, ref, ref_grads, model, atol=1e-5, rtol=1e-4, grad_rtol=1e-3)
    assert len(graphed.graphs) == 1
    loss_fn.cfg.gate_weight = 0.0
    ref, ref_grads = eager(model, loss_fn, batch.to(device), step, norm)
    losses, _ = graphed(batch, step, norm)
    grads = [p.grad.clone() for p in model.parameters()]
    assert len(graphed.graphs) == 2
    assert torch.isfinite(losses["gate"]) and losses["gate"] > 0, "a switched-off term is still reported"
    tol = dict(atol=1e-5, rtol=1e-4, grad_rtol=1e-3, all_trained=False)  # the gate layer gets no gradient
    assert_same(losses, grads, ref, ref_grads, model, **tol)


@pytest.mark.cuda
@needs_cuda
def test_captured_graph_step_with_the_compiled_attention_step_equals_eager(exact_cuda):
    """train.compile_decoder_step under CUDA graphs: the compiled step compiles in the warm-up (a capture
    that compiled would fail), a second bucket shape is captured with recompiling made an error, and the
    replays track the eager, uncompiled step (fp32, TF32 off, dropout off)."""
    device = exact_cuda
    cfg = model_config("plain")
    model, loss_fn = build(cfg, device), Tacotron2Loss(cfg.loss)
    use_compiled_decoder_step(model)
    graphed = GraphedTrainStep(model, loss_fn, precision="fp32")
    longer = random_batch([12, 21, 5], [40, 61, 33], 1, N_MELS, 3)
    for i, batch in enumerate((make_batch(1), pad_to_bucket(longer, text_multiple=16, mel_multiple=16))):
        norm = LossNorm.from_batch(batch)
        model.decoder.compile_step = False
        ref, ref_grads = eager(model, loss_fn, batch.to(device), 0, norm)
        model.decoder.compile_step = True
        with torch._dynamo.config.patch(error_on_recompile=i > 0):
            losses, _ = graphed(batch, 0, norm)
        grads = [p.grad.clone() for p in model.parameters()]
        model.zero_grad(set_to_none=False)
        assert_same(losses, grads, ref, ref_grads, model, atol=1e-5, rtol=1e-4, grad_rtol=1e-3)
    assert len(graphed.graphs) == 2


def test_bucket_ladder_bounds_shapes_and_padding():
    from tacotron.data.batch import bucket_length

    lengths = range(1, 2049)
    buckets = {bucket_length(n, 16) for n in lengths}
    assert len(buckets) <= 8 * 7 + 2  # about 8 per octave above the fine range, not 2048 / 16 = 128
    assert all(bucket_length(n, 16) % 16 == 0 and bucket_length(n, 16) >= n for n in lengths)
    assert max((bucket_length(n, 16) - n) / n for n in range(128, 2049)) <= 1 / 8
    assert [bucket_length(n, 16) for n in (9, 16, 17, 100)] == [16, 16, 32, 112]  # short: the fine multiple
    # a coarser multiple (lcm with r) stays a divisor of the step
    assert bucket_length(600, 32) == 640 and bucket_length(600, 96) == 672


def test_text_bound_is_the_longest_text_up_to_each_mel_length():
    from tacotron.train.graphs import TextBound

    bound = TextBound([30, 10, 50, 20], [300, 100, 200, 400])  # (text, frames) per item, any order
    assert [bound(f) for f in (99, 100, 199, 200, 300, 399, 400, 10_000)] == [0, 10, 10, 50, 50, 50, 50, 50]
    with pytest.raises(ValueError, match="2 text lengths but 1 mel"):
        TextBound([1, 2], [3])


def test_bounded_text_bucket_follows_the_mel_bucket_and_falls_back_when_text_is_longer():
    from tacotron.data.batch import bucket_length
    from tacotron.train.graphs import TextBound, bucket_shape

    bound = TextBound([9, 40, 70], [20, 30, 200])
    shape = dict(text_multiple=16, mel_multiple=16)
    # any batch of the 64-frame mel bucket pads text to the bucket of 40, whatever its own longest text
    assert (
        bucket_shape(9, 50, 1, **shape, bound=bound)
        == bucket_shape(40, 64, 1, **shape, bound=bound)
        == (48, 64)
    )
    assert bucket_shape(9, 50, 1, **shape) == (16, 64)  # without a bound: text by itself
    # text longer than any item of that mel bucket (not in the table): its own bucket, never a crop
    assert bucket_shape(100, 50, 1, **shape, bound=bound) == (bucket_length(100, 16), 64)
    batch = pad_to_bucket(random_batch(TEXT_LENGTHS, MEL_LENGTHS, 1, N_MELS, 0), bound=bound)
    assert batch.text.shape == (3, 48) and batch.mels.shape == (3, N_MELS, 32)
    assert torch.equal(batch.text[:, 9:], torch.zeros(3, 39, dtype=torch.long))
