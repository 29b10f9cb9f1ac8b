"""Inference: `Synthesizer.from_checkpoint(path)`, vocoders (Griffin-Lim, HiFi-GAN) and evaluation.

Importing this package needs only torch and numpy; librosa, soundfile, matplotlib and pocketsphinx
are imported inside the functions that use them.
"""

from tacotron.infer.synthesizer import (
    CheckpointMismatchError,
    SynthesisResult,
    Synthesizer,
    resolve_checkpoint,
)
from tacotron.infer.vocoders import GriffinLimVocoder, HifiGanVocoder, Vocoder, build_vocoder

__all__ = [
    "CheckpointMismatchError",
    "GriffinLimVocoder",
    "HifiGanVocoder",
    "SynthesisResult",
    "Synthesizer",
    "Vocoder",
    "build_vocoder",
    "resolve_checkpoint",
]
