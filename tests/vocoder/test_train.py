"""HiFi-GAN training: finite losses and gradients everywhere, exact resume, clear non-finite errors."""

from __future__ import annotations

import pytest
import torch
from tests.vocoder.helpers import TINY, tiny_vocoder_config

from tacotron.cli import main
from tacotron.infer.hifigan import load_vocoder_checkpoint
from tacotron.vocoder.trainer import VocoderTrainer


def _grads(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad for p in module.parameters()]


def test_one_step_gives_finite_losses_and_gradients_in_all_three_networks(tiny_dataset, tmp_path):
    trainer = VocoderTrainer(tiny_vocoder_config(), tiny_dataset, tmp_path / "run", init="scratch")
    losses = trainer.train_step()
    assert set(losses) >= {"discriminator", "generator", "adversarial", "feature", "mel"}
    assert all(torch.isfinite(torch.tensor(v)) for v in losses.values()), losses
    assert losses["mel"] > 0 and trainer.step == 1
    for net in (trainer.generator, trainer.mpd, trainer.msd):
        grads = _grads(net)
        assert all(g is not None and torch.isfinite(g).all() for g in grads), type(net).__name__
        assert any(g.abs().sum() > 0 for g in grads), type(net).__name__


def test_resumed_training_equals_uninterrupted_training(tiny_dataset, tmp_path):
    VocoderTrainer(tiny_vocoder_config(steps=2), tiny_dataset, tmp_path / "a", init="scratch").fit()
    resumed = VocoderTrainer(tiny_vocoder_config(steps=4), tiny_dataset, tmp_path / "a", init="scratch")
    assert resumed.step == 2
    resumed.fit()
    straight = VocoderTrainer(tiny_vocoder_config(steps=4), tiny_dataset, tmp_path / "b", init="scratch")
    straight.fit()
    for name in ("generator", "mpd", "msd"):
        a, b = getattr(resumed, name).state_dict(), getattr(straight, name).state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert sorted(p.name for p in (tmp_path / "a" / "checkpoints").iterdir()) == [
        "step_00000002.pt",
        "step_00000004.pt",
    ]


def _cli_args(dataset, run) -> list[str]:
    """`tacotron vocoder train` from scratch with the tiny shapes."""
    args = ["vocoder", "train", "--data", str(dataset), "--run", str(run), "--init", "scratch"]
    return args + [a for item in TINY for a in ("--set", item)]


def test_cli_trains_and_writes_a_loadable_checkpoint_with_its_configs(tiny_dataset, tmp_path):
    args = _cli_args(tiny_dataset, tmp_path / "run")
    assert main([*args, "--steps", "1"]) == 0
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "step_00000001.pt", weights_only=True)
    assert {"optim_g", "optim_d", "mpd", "msd", "generator_config", "audio", "vocoder_config"} <= set(ckpt)
    assert ckpt["vocoder_config"]["segment_size"] == 1024 and ckpt["audio"]["hop_length"] == 256
    generator, audio = load_vocoder_checkpoint(tmp_path / "run" / "checkpoints" / "step_00000001.pt")
    assert generator.hop_length == audio.hop_length == 256
    assert main([*args, "--steps", "2"]) == 0  # resumes from step 1 with the stored config
    assert (tmp_path / "run" / "checkpoints" / "step_00000002.pt").is_file()


def test_time_budget_stops_after_one_step_with_a_loadable_checkpoint(tiny_dataset, tmp_path, capsys):
    """--minutes ends the run after the step that used up the budget, however many steps remain, and
    leaves that step's checkpoint (what a GPU script with a fixed slice of its lease then loads)."""
    args = _cli_args(tiny_dataset, tmp_path / "run")
    assert main([*args, "--steps", "1000", "--minutes", "1e-9"]) == 0
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step_00000001.pt"]
    assert "stopped early: time budget of 1e-09 min reached" in capsys.readouterr().err
    generator, _ = load_vocoder_checkpoint(tmp_path / "run")
    assert generator.hop_length == 256
    assert main([*args, "--minutes", "-1"]) == 2  # a negative budget is refused, not read as "none"


def test_warmup_ramps_the_learning_rate_that_the_optimizers_use(tiny_dataset, tmp_path):
    """warmup_steps=4: steps 0..3 train at lr/4, 2lr/4, 3lr/4, lr; "2e-4" (text to YAML 1.1) is a number."""
    cfg = tiny_vocoder_config(2, "warmup_steps=4", "lr=2e-4", "lr_decay=1.0")
    assert cfg.lr == 2e-4
    trainer = VocoderTrainer(cfg, tiny_dataset, tmp_path / "run", init="scratch")
    assert [trainer.lr_at(s) for s in range(5)] == pytest.approx([5e-5, 1e-4, 1.5e-4, 2e-4, 2e-4])
    trainer.train_step()
    used = [g["lr"] for o in (trainer.optim_g, trainer.optim_d) for g in o.param_groups]
    assert used == pytest.approx([5e-5] * len(used))
