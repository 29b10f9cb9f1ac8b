"""One DDP rank of a tiny training run; saves this rank's parameters at the end (a test driver).

usage (with RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT set): ddp_worker.py CONFIG DATASET RUN OUT_DIR
"""

import os
import sys
from pathlib import Path

import torch

from tacotron.config import Config
from tacotron.train import Callback, Trainer

torch.set_num_threads(1)
config, dataset, run, out = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])


class SaveParameters(Callback):
    def on_train_end(self, trainer):
        params = {k: v.detach().clone() for k, v in trainer.model.named_parameters()}
        torch.save({"params": params, "step": trainer.step}, out / f"rank{os.environ['RANK']}.pt")


Trainer(Config.load(config), dataset, run, device="cpu", callbacks=[SaveParameters()], resume=False).fit()
