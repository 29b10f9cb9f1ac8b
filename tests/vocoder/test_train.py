"""HiFi-GAN training: finite losses and gradients everywhere, exact resume, clear non-finite errors."""

from __future__ import annotations

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


def test_cli_trains_and_writes_a_loadable_checkpoint_with_its_configs(tiny_dataset, tmp_path):
    args = [
        "vocoder",
        "train",
        "--data",
        str(tiny_dataset),
        "--run",
        str(tmp_path / "run"),
        "--init",
        "scratch",
    ]
    args += [a for item in TINY for a in ("--set", item)]
    assert main([*args, "--steps", "1"]) == 0
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "step_00000001.pt", weights_only=True)
    assert {"optim_g", "optim_d", "mpd", "msd", "generator_config", "audio", "vocoder_config"} <= set(ckpt)
    assert ckpt["vocoder_config"]["segment_size"] == 1024 and ckpt["audio"]["hop_length"] == 256
    generator, audio = load_vocoder_checkpoint(tmp_path / "run" / "checkpoints" / "step_00000001.pt")
    assert generator.hop_length == audio.hop_length == 256
    assert main([*args, "--steps", "2"]) == 0  # resumes from step 1 with the stored config
    assert (tmp_path / "run" / "checkpoints" / "step_00000002.pt").is_file()
