"""Synthesizer and `tacotron synth` on a tiny random-init checkpoint (audio is noise; plumbing is real)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from tests.infer.helpers import write_tiny_checkpoint

from tacotron.cli import main
from tacotron.infer.synthesizer import CheckpointMismatchError, Synthesizer, resolve_checkpoint

TEXTS = ["A much longer sentence, with 12 words, to make it the longest.", "Hi.", "Medium length text."]


@pytest.fixture(scope="module")
def synth(tiny_checkpoint):
    return Synthesizer.from_checkpoint(tiny_checkpoint)


def test_one_result_per_text_in_the_original_order(synth):
    results = synth.synthesize(TEXTS, batch_size=2, seed=0)
    assert [r.text for r in results] == TEXTS
    assert [r.cleaned for r in results] == [synth.frontend.clean(t) for t in TEXTS]
    hop = synth.cfg.audio.hop_length
    for r in results:
        assert r.mel.shape == (80, r.frames) and r.wav.shape == (r.frames * hop,)
        assert r.alignment.shape == (-(-r.frames // synth.r), len(synth.frontend.encode(r.text)))
        assert r.stop_reason in ("gate", "end_of_text", "max_steps")
        assert r.sample_rate == 22050 and r.seconds > 0
        assert 1 <= r.frames <= synth.cfg.model.max_decoder_steps * synth.r


def test_batching_does_not_change_results(synth):
    """Sorting and padding are invisible: batch size 1 and 3 give the same mels (dropout off)."""
    single = synth.synthesize(TEXTS, batch_size=1, deterministic=True)
    batched = synth.synthesize(TEXTS, batch_size=3, deterministic=True)
    for a, b in zip(single, batched, strict=True):
        assert a.frames == b.frames
        np.testing.assert_allclose(a.mel, b.mel, atol=1e-4)


def test_same_seed_same_output(synth):
    a = synth.synthesize(TEXTS[:1], seed=5)[0]
    b = synth.synthesize(TEXTS[:1], seed=5)[0]
    np.testing.assert_array_equal(a.mel, b.mel)


def test_unknown_characters_and_empty_text_are_errors(synth):
    from tacotron.text import EmptyTextError, UnknownCharactersError

    with pytest.raises(UnknownCharactersError):
        synth.synthesize(["Привет"])
    with pytest.raises(EmptyTextError):
        synth.synthesize(["  "])


def test_symbol_table_mismatch_is_a_clear_error(tmp_path, tiny_checkpoint):
    ckpt = torch.load(tiny_checkpoint, weights_only=True)
    ckpt["symbols"]["symbols"] = ckpt["symbols"]["symbols"][:-1]  # drop "z"
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(CheckpointMismatchError, match=r"only in rebuilt: \['z'\]"):
        Synthesizer.from_checkpoint(tmp_path / "bad.pt")
    with pytest.raises(CheckpointMismatchError, match="language 'en', not 'ru'"):
        Synthesizer.from_checkpoint(tiny_checkpoint, language="ru")


@pytest.mark.parametrize("top_level_r", [None, 3])
def test_legacy_checkpoint_with_r_in_the_model_state_loads(tmp_path, top_level_r):
    """Models once kept r as `_extra_state` in their state dict: such checkpoints still load, the key is
    dropped, and r comes from the top-level "r" when there is one, else from the `_extra_state`."""
    from tacotron.model.checkpoint import load_checkpoint

    path = write_tiny_checkpoint(tmp_path / "legacy.pt", n_frames_per_step=1, max_frames_per_step=4)
    ckpt = torch.load(path, weights_only=True)
    ckpt["model"]["_extra_state"] = {"r": 2}
    del ckpt["r"]
    if top_level_r is not None:
        ckpt["r"] = top_level_r
    torch.save(ckpt, path)
    expected = top_level_r or 2
    loaded = load_checkpoint(path)
    assert "_extra_state" not in loaded["model"] and loaded["r"] == expected
    synth = Synthesizer.from_checkpoint(path)
    assert synth.r == expected
    result = synth.synthesize(["Hi."], deterministic=True)[0]
    assert result.alignment.shape[0] == -(-result.frames // expected)


def test_checkpoint_without_any_r_uses_the_configs(tmp_path):
    path = write_tiny_checkpoint(tmp_path / "old.pt", n_frames_per_step=2)
    ckpt = torch.load(path, weights_only=True)
    del ckpt["r"]
    torch.save(ckpt, path)
    assert Synthesizer.from_checkpoint(path).r == 2


def test_run_folder_picks_best_else_latest(tmp_path, tiny_checkpoint):
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    for step in (2, 10, 4):
        shutil.copy(tiny_checkpoint, folder / f"step_{step:08d}.pt")
    (folder / "notes.pt").write_bytes(b"x")
    assert resolve_checkpoint(tmp_path / "run") == folder / "step_00000010.pt"
    shutil.copy(tiny_checkpoint, folder / "best.pt")
    assert resolve_checkpoint(tmp_path / "run") == folder / "best.pt"
    assert resolve_checkpoint(folder / "step_00000002.pt") == folder / "step_00000002.pt"
    with pytest.raises(FileNotFoundError, match="no best.pt"):
        resolve_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError):
        resolve_checkpoint(tmp_path / "missing")


def test_synth_cli_writes_every_file(tmp_path):
    run = tmp_path / "run"
    write_tiny_checkpoint(run / "checkpoints" / "best.pt", step=7)
    lines = tmp_path / "lines.txt"
    lines.write_text("First line.\n\nSecond, a bit longer line.\n", encoding="utf-8")
    out = tmp_path / "out"
    argv = ["synth", "--checkpoint", str(run), "--file", str(lines), "--out", str(out), "--batch-size", "2"]
    code = main([*argv, "--allow-truncated"])  # an untrained model: its items may be cut at max steps
    assert code == 0
    for stem in ("001", "002"):
        assert (out / f"{stem}.wav").stat().st_size > 44
        assert np.load(out / f"{stem}.mel.npy").shape[0] == 80
        assert (out / f"{stem}.align.png").read_bytes()[:4] == b"\x89PNG"
    records = [json.loads(x) for x in (out / "synth.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["text"] for r in records] == ["First line.", "Second, a bit longer line."]
    for r in records:
        assert r["frames"] == np.load(out / f"{r['name']}.mel.npy").shape[1]
        assert r["stop_reason"] in ("gate", "end_of_text", "max_steps") and r["compute_seconds"] > 0
        assert r["truncated"] == (r["stop_reason"] == "max_steps")
    import soundfile as sf

    info = sf.info(str(out / "001.wav"))
    assert info.samplerate == 22050 and info.frames == records[0]["frames"] * 256


def test_synth_cli_reports_bad_input_in_one_line(tmp_path, tiny_checkpoint, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n", encoding="utf-8")
    out = str(tmp_path / "o")
    assert main(["synth", "--checkpoint", str(tiny_checkpoint), "--file", str(empty), "--out", out]) == 2
    assert "contains no text lines" in capsys.readouterr().err
    assert main(["synth", "--checkpoint", str(tmp_path / "nope"), "--text", "Hi.", "--out", out]) == 2
    assert "not found" in capsys.readouterr().err
    assert (
        main(["synth", "--checkpoint", str(tiny_checkpoint), "--text", "Hi.", "--out", out, "--lang", "ru"])
        == 2
    )
    assert "trained for language 'en'" in capsys.readouterr().err


def test_hifigan_vocoder_through_the_synthesizer(tiny_checkpoint):
    synth = Synthesizer.from_checkpoint(tiny_checkpoint, vocoder="hifigan", hifigan_weights="LJSpeech")
    (result,) = synth.synthesize(["Hello."], deterministic=True)
    assert result.wav.shape == (result.frames * 256,) and np.abs(result.wav).max() <= 1.0
