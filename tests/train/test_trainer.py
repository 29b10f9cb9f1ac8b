"""The training loop in one process: outputs on disk, skipped non-finite steps, precisions, stopping."""

from __future__ import annotations

import json
import math
import os
import signal

import pytest
import torch
from tests.helpers.configs import fast_config

from tacotron.config import ConfigError
from tacotron.data.dataset import PreparedDataset
from tacotron.train import Callback, Trainer, load_checkpoint


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


class Recorder(Callback):
    """Keeps every StepResult, anomaly and a parameter snapshot after each step."""

    def __init__(self):
        self.results, self.anomalies, self.params, self.evals, self.hooks = [], [], [], [], []

    def on_train_start(self, trainer):
        self.hooks.append("start")
        self.params.append({k: v.detach().clone() for k, v in trainer.model.named_parameters()})

    def on_step_end(self, trainer, result):
        self.results.append(result)
        self.params.append({k: v.detach().clone() for k, v in trainer.model.named_parameters()})

    def on_anomaly(self, trainer, anomaly):
        self.anomalies.append(anomaly)

    def on_eval_end(self, trainer, metrics):
        self.evals.append(metrics)

    def on_stage_change(self, trainer, stage):
        self.hooks.append(f"stage r={stage.r} batch={stage.batch_size} before step {trainer.step + 1}")

    def on_checkpoint(self, trainer, path):
        self.hooks.append(path.name)

    def on_train_end(self, trainer):
        self.hooks.append("end")


def test_run_folder_logs_schedule_and_checkpoint_contents(tiny_dataset, tmp_path):
    cfg = fast_config(
        max_steps=4,
        eval_every=2,
        n_val_synth=1,
        log_every=1,
        loggers=["tensorboard"],
        r_schedule=[[2, 2, 2]],
        grad_accum_steps=2,
    )
    cfg.model.max_frames_per_step = 3
    rec = Recorder()
    result = Trainer(cfg, tiny_dataset, tmp_path, device="cpu", callbacks=[rec]).fit()

    assert (result.step, result.stop_reason, result.skipped_steps) == (4, "max_steps", 0)
    assert rec.hooks[0] == "start" and rec.hooks[-1] == "end" and "step_00000004.pt" in rec.hooks
    assert [h for h in rec.hooks if h.startswith("stage")] == ["stage r=2 batch=2 before step 3"]
    for name in ("config.yaml", "train.log", "metrics.jsonl", "events.jsonl"):
        assert (tmp_path / name).is_file(), name
    assert any((tmp_path / "tensorboard").iterdir())
    assert sorted(p.suffix for p in (tmp_path / "samples").iterdir()) == [".png", ".png", ".wav", ".wav"]

    train = [m for m in read_jsonl(tmp_path / "metrics.jsonl") if m["split"] == "train"]
    assert [m["step"] for m in train] == [1, 2, 3, 4]
    assert [m["r"] for m in train] == [3, 3, 2, 2]  # r schedule: from step 2 on, r=2 and batch 2
    assert [m["effective_batch_size"] for m in train] == [8, 8, 4, 4]
    for key in (
        "loss",
        "mel/before",
        "mel/after",
        "gate",
        "attn/guided",
        "grad_norm",
        "lr",
        "frames_per_s",
        "padding_fraction",
    ):
        assert all(math.isfinite(m[key]) for m in train), key
    val = [m for m in read_jsonl(tmp_path / "metrics.jsonl") if m["split"] == "val"]
    assert [m["step"] for m in val] == [2, 4]
    assert {"val/loss", "val/attn/diagonality", "val/infer/attn/diagonality"} <= set(val[0])
    assert rec.evals[-1]["val/loss"] == pytest.approx(val[-1]["val/loss"])
    assert any(e["event"] == "r_schedule" for e in read_jsonl(tmp_path / "events.jsonl"))

    ckpt = load_checkpoint(result.last_checkpoint)
    assert ckpt["r"] == 2 and ckpt["step"] == 4 and ckpt["sampler"]["batch_size"] == 2
    assert ckpt["config"]["train"]["max_steps"] == 4 and ckpt["symbols"]
    assert set(ckpt["rng"]) >= {"python", "numpy", "torch"}
    assert result.best_checkpoint is not None and load_checkpoint(result.best_checkpoint)["best"]["step"] in (
        2,
        4,
    )
    # every trainable parameter moved
    frozen = [k for k, v in rec.params[-1].items() if torch.equal(v, rec.params[0][k])]
    assert not frozen, frozen


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_injected_inf_gradient_skips_the_step_and_is_logged(tiny_dataset, tmp_path, precision):
    cfg = fast_config(max_steps=3, precision=precision, checkpoint_every=100)
    rec = Recorder()
    trainer = Trainer(cfg, tiny_dataset, tmp_path, device="cpu", callbacks=[rec])
    weight = trainer.model.encoder.embedding.weight
    weight.register_hook(lambda g: g * math.inf if trainer.step == 1 else g)
    result = trainer.fit()

    assert result.skipped_steps == 1
    assert [r.skipped for r in rec.results] == [False, True, False]
    assert not math.isfinite(rec.results[1].grad_norm)
    before, after = rec.params[1], rec.params[2]  # around the skipped step
    assert all(torch.equal(before[k], after[k]) for k in before), "a skipped step changed the weights"
    assert any(not torch.equal(rec.params[2][k], rec.params[3][k]) for k in before)
    assert all(math.isfinite(v) for r in rec.results for v in r.losses.values())
    [anomaly] = rec.anomalies
    assert anomaly["kind"] == "nonfinite_grad" and anomaly["step"] == 2 and anomaly["batch_ids"]
    [event] = [e for e in read_jsonl(tmp_path / "events.jsonl") if e["event"] == "nonfinite_grad"]
    assert event["action"] == "skip_step" and event["batch_ids"] == anomaly["batch_ids"]
    train = [m for m in read_jsonl(tmp_path / "metrics.jsonl") if m["split"] == "train"]
    assert [m["skipped_steps"] for m in train] == [0, 1, 1]
    if precision == "fp16":  # GradScaler backed off after the overflow
        assert train[1]["loss_scale"] == train[0]["loss_scale"] / 2


def test_sigterm_stops_after_the_step_with_a_checkpoint(tiny_dataset, tmp_path):
    class SendSigterm(Callback):
        def on_step_end(self, trainer, result):
            if result.step == 1:
                os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.getsignal(signal.SIGTERM)
    result = Trainer(
        fast_config(max_steps=50), tiny_dataset, tmp_path, device="cpu", callbacks=[SendSigterm()]
    ).fit()
    assert result.step == 1 and "SIGTERM" in result.stop_reason
    assert load_checkpoint(result.last_checkpoint)["step"] == 1
    assert signal.getsignal(signal.SIGTERM) is previous


def test_time_budget_stops_with_a_resumable_checkpoint(tiny_dataset, tmp_path):
    result = Trainer(fast_config(max_steps=50, max_minutes=1e-9), tiny_dataset, tmp_path, device="cpu").fit()
    assert "time budget" in result.stop_reason and result.step < 50
    assert load_checkpoint(result.last_checkpoint)["step"] == result.step


def test_early_stopping_counts_evaluations_without_improvement(tiny_dataset, tmp_path):
    trainer = Trainer(fast_config(early_stop_patience=2), tiny_dataset, tmp_path, device="cpu")
    for value in (3.0, 2.0, 2.5, 1.5, float("nan")):  # an improvement resets the count; NaN is no improvement
        trainer.update_best({"val/loss": value})
        assert trainer.control.stop_reason is None
    trainer.update_best({"val/loss": 1.5})  # equal is not better
    assert trainer.state.best.value == 1.5 and "early_stop" in trainer.control.stop_reason
    with pytest.raises(KeyError, match="best_metric"):
        trainer.update_best({"val/other": 1.0})
    trainer.close()


def test_init_from_copies_weights_except_skipped_layers(tiny_dataset, tmp_path):
    first = Trainer(fast_config(max_steps=2), tiny_dataset, tmp_path / "a", device="cpu").fit()
    source = load_checkpoint(first.last_checkpoint)["model"]
    cfg = fast_config(max_steps=2, seed=99)
    trainer = Trainer(
        cfg,
        tiny_dataset,
        tmp_path / "b",
        device="cpu",
        init_from=first.last_checkpoint,
        init_skip=("encoder.embedding",),
    )
    state = trainer.model.state_dict()
    assert trainer.step == 0
    assert not torch.equal(state["encoder.embedding.weight"], source["encoder.embedding.weight"])
    assert all(torch.equal(state[k], v) for k, v in source.items() if k.startswith("decoder."))
    trainer.close()
    with pytest.raises(ValueError, match="init-skip"):
        cfg.model.encoder_embedding_dim = 24
        Trainer(cfg, tiny_dataset, tmp_path / "c", device="cpu", init_from=first.last_checkpoint).close()


def test_rollback_restores_weights_and_step_and_keeps_lr_scale(tiny_dataset, tmp_path):
    trainer = Trainer(fast_config(max_steps=4), tiny_dataset, tmp_path, device="cpu")
    trainer.fit()
    path = tmp_path / "checkpoints" / "step_00000002.pt"
    saved = load_checkpoint(path)["model"]
    trainer.scale_lr(0.5)
    trainer.rollback(path)
    assert trainer.step == 2 and trainer.current_lr() == pytest.approx(0.5 * trainer.cfg.train.lr)
    assert all(torch.equal(v, saved[k]) for k, v in trainer.model.state_dict().items())
    assert trainer.last_healthy_checkpoint() == tmp_path / "checkpoints" / "step_00000004.pt"


def test_a_crash_reaches_on_crash_and_is_re_raised(tiny_dataset, tmp_path):
    """Trackers and alerts hear about a crash (on_crash) and the error still propagates unchanged."""
    from tacotron.train import Callback

    class Broken(Callback):
        def on_step_end(self, trainer, result):
            if trainer.step == 2:
                raise RuntimeError("boom at step 2")

    class Recorder(Callback):
        errors: list = []

        def on_crash(self, trainer, error):
            self.errors.append((trainer.step, str(error)))

    recorder = Recorder()
    trainer = Trainer(
        fast_config(max_steps=4), tiny_dataset, tmp_path, device="cpu", callbacks=[Broken(), recorder]
    )
    with pytest.raises(RuntimeError, match="boom at step 2"):
        trainer.fit()
    assert recorder.errors == [(2, "boom at step 2")]


def test_cuda_graphs_on_cpu_warn_and_train_eagerly(tiny_dataset, tmp_path, caplog):
    cfg = fast_config(max_steps=2)
    cfg.train.cuda_graphs = True
    result = Trainer(cfg, tiny_dataset, tmp_path, device="cpu").fit()
    assert result.step == 2
    assert "train.cuda_graphs needs a CUDA device" in caplog.text


@pytest.mark.parametrize("on", [True, False])
def test_compile_decoder_step_reaches_the_decoder_and_is_logged_once(tiny_dataset, tmp_path, caplog, on):
    """The trainer switches the model's decoder to the compiled attention step (the step itself is tested
    in tests/model/test_compiled_step.py); off, the decoder stays eager. Nothing is compiled here."""
    cfg = fast_config(max_steps=1)
    cfg.train.compile_decoder_step = on
    with caplog.at_level("INFO"):
        trainer = Trainer(cfg, tiny_dataset, tmp_path, device="cpu")
    assert trainer.model.decoder.compile_step is on
    assert caplog.text.count("train.compile_decoder_step") == int(on)


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_only_where_the_cpu_runs_it_natively(
    tiny_dataset, tmp_path, monkeypatch, native
):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: native)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
    trainer = Trainer(fast_config(max_steps=1, precision="auto"), tiny_dataset, tmp_path, device="cpu")
    assert trainer.precision.name == ("bf16" if native else "fp32")
    assert trainer.precision.dtype == (torch.bfloat16 if native else None)
    trainer.fit()
    assert (
        load_checkpoint(tmp_path / "checkpoints" / "step_00000001.pt")["config"]["train"]["precision"]
        == "auto"
    )


@pytest.mark.parametrize("init", [True, False])
def test_fresh_run_starts_frames_at_the_training_mean_mel(tiny_dataset, tmp_path, init):
    cfg = fast_config(max_steps=1, init_frame_bias=init)
    cfg.model.ddc = True  # the coarse decoder predicts the same targets and starts the same way
    cfg.model.ddc_r = 3
    trainer = Trainer(cfg, tiny_dataset, tmp_path, device="cpu", resume=False)
    mean = PreparedDataset(tiny_dataset, "train").mean_mel()
    for decoder in (trainer.model.decoder, trainer.model.coarse_decoder):
        bias = decoder.frame_projection.bias.detach()
        expected = mean.repeat(decoder.max_frames_per_step)
        assert torch.allclose(bias, expected) is init
    trainer.close()


def test_a_best_metric_that_validation_never_logs_fails_before_training(tiny_dataset, tmp_path):
    with pytest.raises(ConfigError, match=r"'val/los' is not a validation metric; did you mean val/loss"):
        Trainer(fast_config(best_metric="val/los"), tiny_dataset, tmp_path, device="cpu")
    with pytest.raises(ConfigError, match="'train.eval_every' must be >= 1"):
        Trainer(fast_config(eval_every=0), tiny_dataset, tmp_path / "b", device="cpu")


def test_the_steps_before_a_failing_first_evaluation_are_checkpointed(tiny_dataset, tmp_path):
    class FailingEvaluation(Callback):
        def on_eval_end(self, trainer, metrics):
            raise RuntimeError("evaluation broke")

    cfg = fast_config(max_steps=10, eval_every=3, checkpoint_every=100)
    with pytest.raises(RuntimeError, match="evaluation broke"):
        Trainer(cfg, tiny_dataset, tmp_path, device="cpu", callbacks=[FailingEvaluation()]).fit()
    assert load_checkpoint(tmp_path / "checkpoints" / "step_00000003.pt")["step"] == 3


@pytest.mark.parametrize("graphed", [True, False])
def test_the_graph_step_trains_on_full_batches_only(tiny_dataset, tmp_path, monkeypatch, graphed):
    """A short batch would give every mel bucket a second graph shape: with the graph step each
    bucket's short batch is dropped (other items each epoch); eager training keeps every item."""
    from tacotron.train import step as step_module

    build = step_module.build_runner

    def graph_step_on_cpu(t, model, loss_fn, precision, device, dist, *, lengths=None):
        if not graphed:
            return build(t, model, loss_fn, precision, device, dist, lengths=lengths)
        return step_module.GraphedStep(
            model, loss_fn, precision, device, text_multiple=t.graph_text_multiple,
            mel_multiple=t.graph_mel_multiple, capture=False,
        )  # fmt: skip

    monkeypatch.setattr(step_module, "build_runner", graph_step_on_cpu)
    cfg = fast_config(max_steps=1)
    cfg.train.batch_size = 4
    trainer = Trainer(cfg, tiny_dataset, tmp_path, device="cpu")
    try:
        n_train = len(trainer.train_set)
        assert n_train % 4, "the tiny split must leave a short batch for this test to mean anything"
        sizes = [len(b) for b in trainer.stream.sampler.batches()]
        if graphed:
            assert set(sizes) == {4} and sum(sizes) == n_train - n_train % 4
        else:
            assert sum(sizes) == n_train and min(sizes) == n_train % 4
    finally:
        trainer.close()
