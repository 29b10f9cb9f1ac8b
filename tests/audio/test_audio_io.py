"""load_wav: mono float32 at the requested rate, resampling, and clear errors naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from tacotron.audio import AudioError, load_wav, peak_dbfs


def _tone(rate: int, seconds: float = 0.5, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_frequency(wav: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wav))
    return float(np.fft.rfftfreq(len(wav), 1 / rate)[spectrum.argmax()])


def test_reads_mono_float32(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, _tone(22050), 22050, subtype="PCM_16")
    wav = load_wav(path, 22050)
    assert wav.dtype == np.float32 and wav.shape == (11025,)
    assert abs(np.abs(wav).max() - 0.5) < 1e-3


def test_resamples_other_rates(tmp_path, caplog):
    path = tmp_path / "b.wav"
    sf.write(path, _tone(16000, freq=1000.0), 16000, subtype="PCM_16")
    with caplog.at_level("INFO"):
        wav = load_wav(path, 22050)
    assert len(wav) == pytest.approx(11025, abs=2)
    assert _peak_frequency(wav, 22050) == pytest.approx(1000.0, abs=3)
    assert "16000" in caplog.text


def test_mixes_stereo_down(tmp_path):
    path = tmp_path / "c.wav"
    left, right = _tone(22050), np.zeros(11025, dtype=np.float32)
    sf.write(path, np.stack([left, right], axis=1), 22050, subtype="FLOAT")
    np.testing.assert_allclose(load_wav(path, 22050), left / 2, atol=1e-6)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "not found"), (b"", "empty"), (b"RIFF1234WAVEjunk" * 20, "cannot decode")],
)
def test_bad_files_raise_audio_error_with_path(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AudioError, match=message) as info:
        load_wav(path, 22050)
    assert info.value.path == str(path) and str(path) in str(info.value)


def test_peak_dbfs():
    assert peak_dbfs(np.zeros(10)) == float("-inf")
    assert peak_dbfs(np.array([0.5, -1.0])) == pytest.approx(0.0)
    assert peak_dbfs(np.array([0.01])) == pytest.approx(-40.0)
