"""ServeSettings rejects limits that would make the service misbehave, naming the field."""

from __future__ import annotations

import pytest

from tacotron.serve.settings import ServeSettings


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"request_timeout_s": -1.0}, "request_timeout_s"),
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"batch_wait_ms": -5.0}, "batch_wait_ms"),
        ({"min_speed": 1.5}, "speed bounds"),
    ],
)
def test_bad_settings_raise_naming_the_field(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ServeSettings(**kwargs)
