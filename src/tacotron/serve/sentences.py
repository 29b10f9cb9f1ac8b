"""Split long input into sentence-sized pieces (the rules live in `tacotron.text.pieces`).

Why: Tacotron attention degrades on inputs much longer than the training utterances (a few seconds), a
piece needing more than `max_decoder_steps` would be cut, and one long item in a batch makes every other
item wait for its decoder steps. Pieces are synthesised as a batch and their audio joined with a short
pause.
"""

from __future__ import annotations

from tacotron.text.pieces import Fits, split_text


def split_sentences(text: str, max_chars: int, fits: Fits | None = None) -> list[str]:
    """Sentences of `text`, each at most `max_chars` long and accepted by `fits` (split further at
    clauses, then words; a single word that does not fit is cut, since rejecting the request helps nobody)."""
    return split_text(text, max_chars, fits)
