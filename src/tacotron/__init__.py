"""tacotron: a Tacotron 2 text-to-speech training system."""

__version__ = "0.1.0"
