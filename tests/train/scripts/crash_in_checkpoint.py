"""Train, and SIGKILL this process between writing and renaming checkpoint number N (a test driver).

usage: crash_in_checkpoint.py CONFIG.yaml DATASET_DIR RUN_DIR N
Deterministic: the kill happens at a fixed point of the write, not after a delay.
"""

import os
import signal
import sys

import torch

from tacotron.config import Config
from tacotron.train import Trainer

torch.set_num_threads(1)
config, dataset, run, crash_at = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
trainer = Trainer(Config.load(config), dataset, run, device="cpu")
writes = []


def kill_on_nth_write(tmp_path):
    writes.append(tmp_path)
    if len(writes) == crash_at:
        os.kill(os.getpid(), signal.SIGKILL)


trainer.checkpoints.files.before_rename = kill_on_nth_write
trainer.fit()
