"""`tacotron demo` (what `make demo` runs) end to end at CI size: corpus, prepare, train, synth, eval, report."""

import json

import pytest

from tacotron.cli import main
from tacotron.model.checkpoint import load_checkpoint


@pytest.mark.slow
def test_demo_pipeline_at_ci_size(tmp_path, capsys):
    out = tmp_path / "demo"
    overrides = [
        "train.batch_size=4",
        "train.r_schedule=[[1,4]]",  # the demo's r 6 -> 4 switch, after the first step
        "train.max_steps=2",
        "train.eval_every=2",
        "train.checkpoint_every=2",
        "train.loggers=[]",
        "model.max_decoder_steps=30",
        "data.workers=1",
    ]
    argv = ["demo", "--n", "10", "--out", str(out), "--heldout", "2"]
    for item in overrides:
        argv += ["--set", item]
    assert main(argv) == 0

    printed = capsys.readouterr().out
    assert "Demo finished" in printed
    assert (out / "run" / "checkpoints" / "best.pt").is_file()
    for vocoder in ("griffin-lim", "hifigan"):
        wavs = sorted((out / f"synth-{vocoder}").glob("*.wav"))
        assert len(wavs) == 2, vocoder
        lines = (out / f"synth-{vocoder}" / "synth.jsonl").read_text().splitlines()
        assert {json.loads(line)["stop_reason"] for line in lines} <= {"gate", "end_of_text", "max_steps"}
    report = json.loads((out / "eval" / "eval.json").read_text())
    assert report["summary"]["wer"] is not None and report["summary"]["wer_ceiling"] is not None
    assert (out / "run" / "report.html").is_file()

    # re-running resumes: the corpus and dataset are reused and training continues from the checkpoint
    argv[argv.index("train.max_steps=2")] = "train.max_steps=3"
    assert main(argv) == 0
    assert (out / "run" / "checkpoints" / "step_00000003.pt").is_file()
    assert load_checkpoint(out / "run" / "checkpoints" / "step_00000003.pt")["r"] == 4
    assert "resumed" in (out / "run" / "events.jsonl").read_text()
