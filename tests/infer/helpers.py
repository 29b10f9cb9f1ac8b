"""Kept only for `tests/infer/test_synthesizer.py`, which still imports from here: use `tests.helpers`.

Delete this file once that module imports `tests.helpers.checkpoints.write_tiny_checkpoint`.
"""

from tests.helpers.checkpoints import write_tiny_checkpoint

__all__ = ["write_tiny_checkpoint"]
