"""Fixtures for the trainer tests (helpers such as `fast_config` live in `tests.helpers`)."""

from __future__ import annotations

import pytest
from tests.helpers.configs import fast_config

from tacotron.config import Config


@pytest.fixture
def fast_cfg() -> Config:
    return fast_config()
