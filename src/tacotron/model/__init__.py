"""Tacotron 2 model: `build_model(cfg.model, n_symbols, n_mels)`; see docs/ARCHITECTURE.md."""

from tacotron.model.decoder import DecoderState, EncoderMemory
from tacotron.model.reduction import ReductionSchedule, SchedulePoint
from tacotron.model.tacotron2 import InferenceOutput, Tacotron2, Tacotron2Output, build_model

__all__ = [
    "DecoderState",
    "EncoderMemory",
    "InferenceOutput",
    "ReductionSchedule",
    "SchedulePoint",
    "Tacotron2",
    "Tacotron2Output",
    "build_model",
]
