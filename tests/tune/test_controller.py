"""Live controller: the pure policy, its application to a trainer, a real training run and a DDP run."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tests.helpers.configs import fast_config, no_dropout
from tests.helpers.processes import subprocess_env
from tests.helpers.servers import free_port

from tacotron.config import TuneConfig
from tacotron.train.logging import EventLog
from tacotron.tune.callbacks import run_callbacks
from tacotron.tune.controller import EvalPoint, LiveController, decide

CFG = TuneConfig(
    controller_align_step=300,
    controller_plateau_evals=3,
    controller_cooldown_evals=2,
    controller_divergence_factor=2.0,
    controller_max_align_actions=3,
    controller_max_rollbacks=1,
)


def _points(losses, diags=None, every=100):
    diags = diags or [None] * len(losses)
    return [
        EvalPoint((i + 1) * every, loss, d) for i, (loss, d) in enumerate(zip(losses, diags, strict=True))
    ]


def test_healthy_improving_run_gets_no_action():
    history = _points([1.0, 0.8, 0.6, 0.5, 0.4], [0.2, 0.4, 0.6, 0.7, 0.8])
    assert decide(history, [], CFG, align_threshold=0.5) is None


def test_divergence_rolls_back_and_cuts_lr_until_the_limit():
    history = _points([1.0, 0.5, 1.5])
    d = decide(history, [], CFG, 0.5)
    assert d.action == "rollback_cut_lr" and d.factor == CFG.controller_lr_factor
    assert "divergence" in d.reason and "0.5000" in d.reason
    assert (
        decide(history, [d], CFG, 0.5) is None or decide(history, [d], CFG, 0.5).action != "rollback_cut_lr"
    )
    assert decide(_points([1.0, float("nan")]), [], CFG, 0.5).action == "rollback_cut_lr"


def test_no_alignment_alternates_guided_attention_and_lr_with_cooldown():
    diags = [0.1] * 8
    history = _points([1.0, 0.9, 0.8, 0.7, 0.65, 0.6, 0.55, 0.5], diags)
    assert decide(history[:2], [], CFG, 0.5) is None  # before controller_align_step
    first = decide(history[:3], [], CFG, 0.5)
    assert first.action == "raise_guided_attn" and "no alignment by step 300" in first.reason
    assert decide(history[:4], [first], CFG, 0.5) is None  # cooling down
    second = decide(history[:5], [first], CFG, 0.5)
    assert second.action == "lower_lr"
    third = decide(history[:7], [first, second], CFG, 0.5)
    assert third.action == "raise_guided_attn"
    assert decide(history, [first, second, third], CFG, 0.5) is None  # max_align_actions reached


def test_plateau_decays_lr_once_per_window():
    history = _points([1.0, 0.5, 0.499, 0.498, 0.499])
    d = decide(history, [], CFG, 0.5)
    assert d.action == "decay_lr" and "plateau" in d.reason
    assert decide(history + _points([0.499], every=600), [d], CFG, 0.5) is None
    assert decide(_points([1.0, 0.8, 0.6, 0.4, 0.2]), [], CFG, 0.5) is None


class FakeTrainer:
    """The trainer surface the controller uses, recording calls."""

    def __init__(self, run_dir: Path, cfg):
        self.cfg = cfg
        self.step = 0
        self.lr = 1e-3
        self.rolled_back_to = None
        self.events = EventLog(run_dir / "events.jsonl")
        self.guided = cfg.loss.guided_attn_weight

    def guided_attn_weight(self):
        return self.guided

    def set_guided_attn_weight(self, weight):
        self.guided = weight

    def current_lr(self):
        return self.lr

    def scale_lr(self, factor):
        self.lr *= factor
        return self.lr

    def last_healthy_checkpoint(self):
        return Path("ckpt/step_00000100.pt")

    def rollback(self, path):
        self.rolled_back_to = path
        self.step = 100


def test_live_controller_applies_decisions_and_logs_reasons(tmp_path, tiny_cfg):
    tiny_cfg.loss.guided_attn_weight = 2.0
    trainer = FakeTrainer(tmp_path, tiny_cfg)
    ctl = LiveController(CFG, align_threshold=0.5)
    for step, loss, alignment in [(100, 1.0, 0.1), (200, 0.9, 0.1), (300, 0.8, 0.1), (400, 2.0, 0.1)]:
        trainer.step = step
        ctl.on_eval_end(trainer, {"val/loss": loss, "val/attn/alignment": alignment})
    trainer.events.close()
    assert trainer.guided_attn_weight() == pytest.approx(2.0 * CFG.controller_guided_attn_factor)
    assert trainer.rolled_back_to == Path("ckpt/step_00000100.pt")
    assert trainer.lr == pytest.approx(1e-3 * CFG.controller_lr_factor)
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["controller/raise_guided_attn", "controller/rollback_cut_lr"]
    assert all(e["reason"] and e["action"] and e["source"] == "controller" for e in events)
    assert "loss.guided_attn_weight 2 -> 4" in events[0]["action"]
    assert [d.action for d in ctl.taken] == ["raise_guided_attn", "rollback_cut_lr"]


def test_live_controller_judges_alignment_not_raw_diagonality(tmp_path, tiny_cfg):
    """At r = 4 a correct alignment has diagonality ~0.35 but alignment ~0.9: no alignment action; a
    scrambled one can have fair diagonality and low alignment: acted on."""
    trainer = FakeTrainer(tmp_path, tiny_cfg)
    aligned_at_r4 = LiveController(CFG, align_threshold=0.5)
    scrambled = LiveController(CFG, align_threshold=0.5)
    for step in range(100, 500, 100):
        trainer.step = step
        aligned_at_r4.on_eval_end(
            trainer, {"val/loss": 1.0, "val/attn/diagonality": 0.35, "val/attn/alignment": 0.9}
        )
        scrambled.on_eval_end(
            trainer, {"val/loss": 1.0, "val/attn/diagonality": 0.6, "val/attn/alignment": 0.2}
        )
    trainer.events.close()
    assert not [d for d in aligned_at_r4.taken if d.action in ("raise_guided_attn", "lower_lr")]
    assert scrambled.taken and scrambled.taken[0].action == "raise_guided_attn"
    assert "alignment 0.200 < 0.5" in scrambled.taken[0].reason


def test_controller_requires_val_loss(tmp_path, tiny_cfg):
    with pytest.raises(KeyError, match="val/loss"):
        LiveController(CFG, 0.5).on_eval_end(FakeTrainer(tmp_path, tiny_cfg), {"val/attn/alignment": 0.1})


def test_run_callbacks_follow_config(tiny_cfg, tmp_path):
    tiny_cfg.health.enabled = False
    tiny_cfg.tune.controller = True
    assert [type(c).__name__ for c in run_callbacks(tiny_cfg, tmp_path)] == ["LiveController"]
    tiny_cfg.tune.controller = False
    assert run_callbacks(tiny_cfg, tmp_path) == []


def test_controller_steers_a_real_training_run(tmp_path, tiny_cfg, tiny_dataset):
    """Deadline at step 1 and an unreachable threshold: the weight the loss uses must really change."""
    from tacotron.train.trainer import Trainer

    cfg = tiny_cfg
    cfg.model.n_frames_per_step = 3
    cfg.train.batch_size = 2
    cfg.train.max_steps, cfg.train.eval_every, cfg.train.n_val_synth = 2, 1, 0
    cfg.health.enabled = False
    cfg.tune.controller_align_step, cfg.tune.controller_cooldown_evals = 1, 1
    cfg.health.align_threshold = 1.01
    start = cfg.loss.guided_attn_weight
    trainer = Trainer(
        cfg,
        tiny_dataset,
        tmp_path / "run",
        device="cpu",
        callbacks=run_callbacks(cfg, tmp_path / "run"),
        resume=False,
    )
    trainer.fit()
    assert trainer.guided_attn_weight() == pytest.approx(start * cfg.tune.controller_guided_attn_factor)
    assert trainer.cfg.loss.guided_attn_weight == start  # steered, not written into the config
    events = [json.loads(x) for x in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    decisions = [e for e in events if e["event"].startswith("controller/")]
    assert [e["event"] for e in decisions] == ["controller/raise_guided_attn", "controller/lower_lr"]
    assert all("no alignment" in e["reason"] for e in decisions)


def test_raising_the_guided_weight_never_lowers_it_below_a_cap(tmp_path, tiny_cfg):
    tiny_cfg.loss.guided_attn_weight = 300.0  # above controller_max_guided_attn_weight
    trainer = FakeTrainer(tmp_path, tiny_cfg)
    cfg = copy.deepcopy(CFG)
    cfg.controller_max_guided_attn_weight = 50.0
    ctl = LiveController(cfg, align_threshold=0.5)
    for step, loss in [(100, 1.0), (200, 0.9), (300, 0.8)]:
        trainer.step = step
        ctl.on_eval_end(trainer, {"val/loss": loss, "val/attn/alignment": 0.1})
    trainer.events.close()
    assert trainer.guided_attn_weight() == 300.0


@pytest.mark.slow
def test_controller_decides_on_rank_zero_and_every_ddp_rank_follows(tmp_path, tiny_dataset):
    """Two gloo ranks: rank 0 alone evaluates and decides (raise the guided weight, then cut the LR);
    both ranks end with the same LR, guided weight and parameters, and each decision is logged once."""
    cfg = no_dropout(fast_config(max_steps=2, batch_size=1, eval_every=1, checkpoint_every=100))
    cfg.tune.controller = True
    cfg.tune.controller_align_step, cfg.tune.controller_cooldown_evals = 1, 1
    cfg.health.align_threshold = 1.01  # never aligned: act at every evaluation
    cfg.save(tmp_path / "ddp.yaml")
    script = Path(__file__).resolve().parent / "scripts" / "ddp_controller_worker.py"
    port, run = str(free_port()), tmp_path / "run"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(tmp_path / "ddp.yaml"),
                str(tiny_dataset),
                str(run),
                str(tmp_path),
            ],
            env=subprocess_env(
                RANK=str(rank),
                LOCAL_RANK=str(rank),
                WORLD_SIZE="2",
                MASTER_ADDR="127.0.0.1",
                MASTER_PORT=port,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=300)[0] for p in procs]
    finally:
        for p in procs:  # a rank stuck in a collective would otherwise outlive the test
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    start = cfg.loss.guided_attn_weight
    for state in ranks:
        assert state["guided"] == pytest.approx(start * cfg.tune.controller_guided_attn_factor)
        assert state["lr"] == pytest.approx(cfg.train.lr * cfg.tune.controller_lr_factor)
    for name, value in ranks[0]["params"].items():
        assert torch.equal(value, ranks[1]["params"][name]), f"ranks disagree on {name}"
    events = [json.loads(x) for x in (run / "events.jsonl").read_text().splitlines()]
    decisions = [e["event"] for e in events if e["event"].startswith("controller/")]
    assert decisions == ["controller/raise_guided_attn", "controller/lower_lr"]
