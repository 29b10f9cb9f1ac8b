"""Training: `Trainer` (loop, AMP, accumulation, checkpoints, DDP), callbacks and checkpoint files.

Import `Trainer` from here; heavy parts (data, model, losses) are imported when a Trainer is built.
"""

from tacotron.model.checkpoint import CheckpointError, load_checkpoint
from tacotron.train.callbacks import Callback, StepResult, UpdateInfo
from tacotron.train.trainer import Trainer, TrainResult

__all__ = [
    "Callback",
    "CheckpointError",
    "StepResult",
    "TrainResult",
    "Trainer",
    "UpdateInfo",
    "load_checkpoint",
]
