"""Kept only for `tests/test_export.py`, which still imports from here: use `tests.helpers`.

Delete this file once that module imports `tests.helpers.checkpoints.write_serving_checkpoint`.
"""

from tests.helpers.checkpoints import write_serving_checkpoint as write_tiny_checkpoint

__all__ = ["write_tiny_checkpoint"]
