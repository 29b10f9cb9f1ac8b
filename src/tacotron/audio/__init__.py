"""Audio I/O and features: `load_wav`, `mel_basis`, `MelSpectrogram`, `mel_spectrogram`.

Importing this package needs only numpy and torch; librosa, soundfile and soxr are imported inside
the functions that use them (the GPU machine has none of them).
"""

from tacotron.audio.io import AudioError, load_wav, peak_dbfs
from tacotron.audio.mel import MelSpectrogram, mel_basis, mel_spectrogram

__all__ = ["AudioError", "MelSpectrogram", "load_wav", "mel_basis", "mel_spectrogram", "peak_dbfs"]
