"""benchmarks/stream_latency.py on a tiny checkpoint (gate silenced, 60 frames): the measurement runs end to
end and its stall metric counts what a player starting at the first chunk would wait for."""

from __future__ import annotations

import importlib
import json

import pytest
from tests.helpers.checkpoints import write_serving_checkpoint


@pytest.fixture
def stream_latency(monkeypatch):
    from tacotron.commands.bench import BENCH_DIR

    monkeypatch.syspath_prepend(str(BENCH_DIR))
    return importlib.import_module("stream_latency")


def test_stall_is_the_longest_wait_past_the_audio_already_played(stream_latency):
    rate = 100
    in_time = [(1.0, 50), (1.4, 50), (1.9, 100)]  # each arrives before the audio before it ran out
    assert stream_latency.stall(in_time, rate) == 0.0
    late = [(1.0, 50), (2.0, 50), (2.1, 100)]  # 0.5 s of audio, the second chunk 1.0 s later
    assert stream_latency.stall(late, rate) == pytest.approx(0.5)


def test_the_benchmark_measures_first_audio_before_the_stream_ends(stream_latency, tmp_path):
    checkpoint = write_serving_checkpoint(tmp_path / "t.pt", max_decoder_steps=60)
    out = tmp_path / "latency.json"
    result = stream_latency.main(
        [str(checkpoint), "--repeats", "1", "--text", "Short one.", "--out", str(out)]
    )
    assert result["same_frames"] and result["chunks"] >= 2
    assert 0 < result["first_audio_s"] < result["stream_total_s"]
    assert json.loads(out.read_text())["full_s"] == result["full_s"]
