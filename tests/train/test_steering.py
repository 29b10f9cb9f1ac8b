"""Callbacks steering one process: rollback inside hooks (logged step, skipped post-processing) and the
`on_before_optimizer_step` veto."""

from __future__ import annotations

import json

import pytest
import torch
from tests.helpers.configs import fast_config

from tacotron.train import Callback, Trainer, load_checkpoint
from tacotron.train.callbacks import CallbackList


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


class RollbackOnce(Callback):
    """Rolls back to checkpoint `to` once, in `on_step_end` at step `at` or in the first `on_eval_end`."""

    def __init__(self, at: int | None, to: int, in_eval: bool = False):
        self.at, self.to, self.in_eval, self.done = at, to, in_eval, False
        self.results, self.saved = [], []

    def _rollback(self, trainer):
        self.done = True
        trainer.rollback(trainer.checkpoints.step_path(self.to))

    def on_step_end(self, trainer, result):
        self.results.append(result)
        if not self.in_eval and result.step == self.at and not self.done:
            self._rollback(trainer)

    def on_eval_end(self, trainer, metrics):
        if self.in_eval and not self.done:
            self._rollback(trainer)

    def on_checkpoint(self, trainer, path):
        self.saved.append((path.name, trainer.step))


def test_train_row_of_a_rolled_back_step_keeps_its_step(tiny_dataset, tmp_path):
    cb = RollbackOnce(at=3, to=2)
    trainer = Trainer(
        fast_config(max_steps=4, log_every=1), tiny_dataset, tmp_path, device="cpu", callbacks=[cb]
    )

    def no_veto_expected(*args):
        raise AssertionError("on_before_optimizer_step asked although no callback overrides it")

    trainer.callbacks.vetoes = no_veto_expected  # no callback implements the hook: no call, no extra sync
    result = trainer.fit()

    assert result.step == 4 and [r.step for r in cb.results] == [1, 2, 3, 3, 4]
    train = [m for m in read_jsonl(tmp_path / "metrics.jsonl") if m["split"] == "train"]
    assert [m["step"] for m in train] == [1, 2, 3, 3, 4]  # the rolled-back step's row under its own step
    assert train[2]["loss"] == pytest.approx(cb.results[2].losses["loss"])
    [event] = [e for e in read_jsonl(tmp_path / "events.jsonl") if e["event"] == "rollback"]
    assert event["step"] == 3 and event["action"].endswith("step_00000002.pt")


def test_rollback_in_on_eval_end_skips_that_steps_checkpoint(tiny_dataset, tmp_path):
    cb = RollbackOnce(at=None, to=2, in_eval=True)
    cfg = fast_config(max_steps=6, eval_every=4, checkpoint_every=2)
    result = Trainer(cfg, tiny_dataset, tmp_path, device="cpu", callbacks=[cb]).fit()

    assert result.step == 6 and [r.step for r in cb.results] == [1, 2, 3, 4, 3, 4, 5, 6]
    numbered = [(name, step) for name, step in cb.saved if name.startswith("step_")]
    # before the fix, step 4's checkpoint call saved the restored state as step_00000002.pt again
    assert numbered == [("step_00000002.pt", 2), ("step_00000004.pt", 4), ("step_00000006.pt", 6)]
    val = [m for m in read_jsonl(tmp_path / "metrics.jsonl") if m["split"] == "val"]
    assert [m["step"] for m in val] == [4, 4]
    assert load_checkpoint(tmp_path / "checkpoints" / "step_00000004.pt")["step"] == 4


class VetoAt(Callback):
    """Vetoes the update of step `step`; snapshots the parameters after every step."""

    def __init__(self, step: int):
        self.step, self.asked, self.results, self.params = step, [], [], []

    def on_train_start(self, trainer):
        self.params.append({k: v.detach().clone() for k, v in trainer.model.named_parameters()})

    def on_before_optimizer_step(self, trainer, info):
        self.asked.append(info.step)
        assert trainer.step == info.step - 1 and info.losses["loss"] > 0 and info.batch.ids
        if info.step == self.step:
            info.reason = "test veto"
            return False
        return None

    def on_step_end(self, trainer, result):
        self.results.append(result)
        self.params.append({k: v.detach().clone() for k, v in trainer.model.named_parameters()})


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_before_optimizer_step_veto_skips_the_update_and_logs_why(tiny_dataset, tmp_path, precision):
    veto = VetoAt(2)
    # a low first loss scale: at torch's 2^16 the first fp16 steps overflow on some CPUs and are skipped
    cfg = fast_config(max_steps=3, precision=precision, checkpoint_every=100, fp16_init_scale=2.0**10)
    result = Trainer(cfg, tiny_dataset, tmp_path, device="cpu", callbacks=[veto]).fit()

    assert veto.asked == [1, 2, 3] and result.skipped_steps == 1
    assert [(r.skipped, r.skip_reason) for r in veto.results] == [
        (False, ""),
        (True, "test veto"),
        (False, ""),
    ]
    before, after = veto.params[1], veto.params[2]
    assert all(torch.equal(before[k], after[k]) for k in before), "a vetoed update changed the weights"
    assert any(not torch.equal(veto.params[2][k], veto.params[3][k]) for k in before)  # step 3 trained
    events = read_jsonl(tmp_path / "events.jsonl")
    [skip] = [e for e in events if e["event"] == "update_skipped"]
    assert skip["step"] == 2 and skip["reason"] == "test veto" and skip["action"] == "skip_step"
    assert skip["batch_ids"] == list(veto.results[1].batch.ids)
    assert not any(e["event"] == "nonfinite_grad" for e in events)
    train = [m for m in read_jsonl(tmp_path / "metrics.jsonl") if m["split"] == "train"]
    assert [m["skipped_steps"] for m in train] == [0, 1, 1]


def test_callback_list_knows_who_implements_a_hook():
    assert not CallbackList([Callback(), RollbackOnce(1, 0)]).implements("on_before_optimizer_step")
    assert CallbackList([Callback(), VetoAt(1)]).implements("on_before_optimizer_step")


def test_fp16_scaler_starts_at_the_configured_loss_scale():
    from tacotron.train.precision import Precision

    precision = Precision("fp16", torch.device("cpu"), fp16_init_scale=2.0**10)
    assert precision.loss_scale() == 2.0**10
    precision.set("bf16")
    precision.set("fp16")  # a fresh scaler (after a fallback and back) starts at the same scale
    assert precision.loss_scale() == 2.0**10
    with pytest.raises(ValueError, match="fp16_init_scale"):
        Precision("fp16", torch.device("cpu"), fp16_init_scale=0.0)
