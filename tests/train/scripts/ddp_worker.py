"""One DDP rank of a tiny training run; saves this rank's parameters at the end (a test driver).

usage (with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set):
    ddp_worker.py CONFIG DATASET RUN OUT_DIR [VETO_AT ROLLBACK_AT]
With VETO_AT and ROLLBACK_AT, rank 0 alone vetoes the update of step VETO_AT and, at the end of step
ROLLBACK_AT, rolls back to its last healthy checkpoint and halves the LR: the other rank must follow.
"""

import os
import sys
from pathlib import Path

import torch

from tacotron.config import Config
from tacotron.train import Callback, Trainer

torch.set_num_threads(1)
config, dataset, run, out = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
veto_at, rollback_at = (int(a) for a in sys.argv[5:7]) if len(sys.argv) > 5 else (None, None)


class SaveParameters(Callback):
    def __init__(self):
        self.steps = []

    def on_step_end(self, trainer, result):
        self.steps.append(result.step)

    def on_train_end(self, trainer):
        params = {k: v.detach().clone() for k, v in trainer.model.named_parameters()}
        torch.save(
            {
                "params": params,
                "step": trainer.step,
                "steps": self.steps,
                "skipped_steps": trainer.state.skipped_steps,
                "lr": trainer.current_lr(),
                "healthy": str(trainer.last_healthy_checkpoint()),
            },
            out / f"rank{os.environ['RANK']}.pt",
        )


class SteerOnRankZero(Callback):
    def __init__(self):
        self.rolled_back = False

    def on_before_optimizer_step(self, trainer, info):
        if trainer.is_main and info.step == veto_at:
            info.reason = "rank 0 veto"
            return False
        return None

    def on_step_end(self, trainer, result):
        if trainer.is_main and result.step == rollback_at and not self.rolled_back:
            self.rolled_back = True
            trainer.rollback(trainer.last_healthy_checkpoint())
            trainer.scale_lr(0.5)


callbacks = [SaveParameters()] + ([SteerOnRankZero()] if veto_at is not None else [])
Trainer(Config.load(config), dataset, run, device="cpu", callbacks=callbacks, resume=False).fit()
