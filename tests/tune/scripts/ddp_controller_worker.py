"""One DDP rank of a tiny run with the live controller on (a test driver); saves this rank's end state.

usage (with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set): ddp_controller_worker.py CONFIG DATASET RUN OUT_DIR
"""

import os
import sys
from pathlib import Path

import torch

from tacotron.config import Config
from tacotron.train import Callback, Trainer
from tacotron.tune.callbacks import run_callbacks

torch.set_num_threads(1)
config, dataset, run, out = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])


class SaveState(Callback):
    def on_train_end(self, trainer):
        params = {k: v.detach().clone() for k, v in trainer.model.named_parameters()}
        state = {"params": params, "lr": trainer.current_lr(), "guided": trainer.guided_attn_weight()}
        torch.save(state, out / f"rank{os.environ['RANK']}.pt")


cfg = Config.load(config)
Trainer(
    cfg, dataset, run, device="cpu", callbacks=[*run_callbacks(cfg, run), SaveState()], resume=False
).fit()
