"""Tacotron 2 model: `build_model(cfg.model, n_symbols, n_mels)`; see docs/ARCHITECTURE.md."""

from tacotron.model.ddc import DDCOutput
from tacotron.model.decoder import DecoderState, EncoderMemory
from tacotron.model.gst import GlobalStyleTokens
from tacotron.model.tacotron2 import InferenceOutput, Tacotron2, Tacotron2Output, build_model

__all__ = [
    "DDCOutput",
    "DecoderState",
    "EncoderMemory",
    "GlobalStyleTokens",
    "InferenceOutput",
    "Tacotron2",
    "Tacotron2Output",
    "build_model",
]
