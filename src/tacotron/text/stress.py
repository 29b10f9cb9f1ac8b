"""Automatic Russian stress marks (`text.stress: auto`) with silero-stress (pinned, offline model).

Russian stress is free and meaning-bearing (зам+ок / з+амок) and unmarked in normal text, so a
model trained on letters alone must guess it from context; marking it ("молок+о") helps alignment
and pronunciation. Words the user already marked with '+' are left as they are (silero-stress
skips words containing its stress token). It may also restore ё written as е ("еж" -> "ёж"),
which adds information and never loses a letter.

The package is imported here, lazily, because it loads a 56 MB TorchScript package (~3 s); a
`TextFrontend` creates one `SileroStresser` on first use and keeps it.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class SileroStresser:
    """Callable: lowercase Russian text -> the same text with '+' before each stressed vowel."""

    def __init__(self) -> None:
        import torch

        threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
        try:  # silero-stress sets torch threads to 1 at import and turns autograd off globally
            from tacotron.extras import require

            require("silero_stress", "ru", "Russian stress marks (silero-stress)")
            from silero_stress import load_accentor

            self._accentor = load_accentor("ru")
        finally:
            torch.set_num_threads(threads)
            torch.set_grad_enabled(grad)
        log.info("loaded silero-stress Russian accentor")

    def __call__(self, text: str) -> str:
        import torch

        grad = torch.is_grad_enabled()
        try:  # the accentor switches autograd off globally; training in the same process needs it back
            # Single-vowel words need no mark: their only vowel is the stressed one (or they are clitics).
            return self._accentor(text, stress_single_vowel=False)
        finally:
            torch.set_grad_enabled(grad)
