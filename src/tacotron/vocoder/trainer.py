"""HiFi-GAN fine-tuning on a prepared dataset (`tacotron vocoder train`).

One step is the paper's two updates: the discriminators (MPD + MSD, least squares) on real vs generated
segments, then the generator (adversarial + 2 x feature matching + 45 x mel L1 against the real audio's
mel, computed with the corpus's own `MelSpectrogram`). AdamW (0.8, 0.99) for both; lr x 0.999 per epoch.

Why the data order and segment offsets are functions of (seed, step) rather than of a running RNG: a run
resumed from a checkpoint then sees exactly the batches the uninterrupted run would have seen, with no
sampler or RNG state to carry (the checkpoint holds weights, optimizer states and the step).

Run folder: checkpoints/step_XXXXXXXX.pt (atomic, last `keep_last` kept plus the last healthy one; each
is also what `synth --vocoder hifigan --hifigan-weights PATH` loads), metrics.jsonl, events.jsonl
(non-finite steps, rollbacks, discriminator collapse: `tacotron.vocoder.health`), tensorboard/ (scalars,
and the audio of one validation item every `audio_every` steps).
Weight norm: the generator trains with plain convolutions (what `infer.hifigan` runs); universal weights
arrive with weight norm folded in.
Stopping early: `max_minutes` (wall clock of this process) and SIGTERM / Ctrl+C end the run after the step
in flight with a checkpoint, through the acoustic trainer's `RunControl`, so a run given a fixed slice of a
GPU lease leaves a resumable, loadable generator instead of being killed mid-step.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tacotron.audio.mel import MelSpectrogram
from tacotron.config import AudioConfig, ConfigError
from tacotron.infer.hifigan import (
    VOCODER_FORMAT,
    VOCODER_FORMAT_VERSION,
    HifiGanConfig,
    HifiGanGenerator,
    fold_weight_norm,
    is_vocoder_checkpoint,
    load_generator,
)
from tacotron.train.checkpoint import CheckpointManager
from tacotron.train.keeper import CheckpointKeeper
from tacotron.train.logging import EventLog, JsonlLog, MetricsLog, TensorBoard
from tacotron.train.run_control import RunControl
from tacotron.train.step import clip_gradients
from tacotron.vocoder.config import VocoderConfig
from tacotron.vocoder.data import VocoderData
from tacotron.vocoder.discriminators import MultiPeriodDiscriminator, MultiScaleDiscriminator
from tacotron.vocoder.health import VocoderHealth
from tacotron.vocoder.losses import adversarial_loss, discriminator_loss, feature_matching_loss, mel_loss

logger = logging.getLogger(__name__)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    return CheckpointManager(Path(run_dir) / "checkpoints", keep_last=0).latest()


def resume_config(run_dir: str | Path) -> VocoderConfig | None:
    """The config of the run's latest checkpoint (a resumed run keeps it), None for a new run."""
    path = latest_checkpoint(run_dir)
    if path is None:
        return None
    return VocoderConfig.from_dict(_load(path)["vocoder_config"])


def _load(path: Path) -> dict[str, Any]:
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not is_vocoder_checkpoint(ckpt):
        raise ConfigError(f"{path}: not a `tacotron vocoder train` checkpoint")
    return ckpt


class VocoderTrainer:
    """Generator, both discriminators, their optimizers and the data of one run; `fit()` trains to
    `cfg.steps`, resuming from the run folder's latest checkpoint when there is one."""

    def __init__(
        self,
        cfg: VocoderConfig,
        dataset_dir: str | Path,
        run_dir: str | Path,
        *,
        mels_dir: str | Path | None = None,
        init: str = "universal",
        device: str | torch.device = "cpu",
    ):
        self.run_dir = Path(run_dir)
        self.device = torch.device(device)
        self.data = VocoderData(dataset_dir, "train", mels_dir)
        if len(self.data) == 0:
            raise ConfigError(f"{dataset_dir}: the train split is empty")
        val = VocoderData(dataset_dir, "val", mels_dir)
        self.val = val if len(val) else self.data
        self.audio_cfg: AudioConfig = self.data.audio_cfg
        self.dataset_dir, self.mels_dir, self.init = str(dataset_dir), mels_dir, init
        self.events = EventLog(self.run_dir / "events.jsonl", enabled=False)  # `fit` opens the file
        self.checkpoints = CheckpointKeeper(
            self.run_dir, cfg.keep_last, is_main=True, log_event=self._log_event
        )
        self.checkpoints.remove_stale_temp_files()
        resume = self.checkpoints.latest()
        self.step, self.lr_scale = 0, 1.0
        self.stop_reason: str | None = None  # why the last `fit` ended before `cfg.steps` (None: it did not)
        generator_state = None
        torch.manual_seed(cfg.seed)
        if resume is None:
            generator_state, cfg = _initial_generator(init, cfg, self.audio_cfg)
        self.cfg = cfg.validate(self.audio_cfg.hop_length)
        self.generator = HifiGanGenerator(self.audio_cfg.n_mels, cfg.generator).to(self.device)
        self.mpd = MultiPeriodDiscriminator(cfg.discriminator).to(self.device)
        self.msd = MultiScaleDiscriminator(cfg.discriminator).to(self.device)
        self.discriminators = torch.nn.ModuleDict({"mpd": self.mpd, "msd": self.msd})
        self.health = VocoderHealth(cfg.health, self.checkpoints, self._log_event)
        self.optim_g = torch.optim.AdamW(
            self.generator.parameters(), cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
        )
        discriminator_params = [*self.mpd.parameters(), *self.msd.parameters()]
        self.optim_d = torch.optim.AdamW(
            discriminator_params, cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay
        )
        self.mel = MelSpectrogram(self.audio_cfg, self.data.dataset.mel_basis()).to(self.device)
        if resume is not None:
            self._restore(_load(resume))
            self.checkpoints.trust(resume)
            logger.info("resumed vocoder training from %s (step %d)", resume, self.step)
        elif generator_state is not None:
            self.generator.load_state_dict(generator_state, strict=True)
        self.segment_frames = cfg.segment_size // self.audio_cfg.hop_length
        self.steps_per_epoch = math.ceil(len(self.data) / cfg.batch_size)

    # --- one step -------------------------------------------------------------------------------------
    def batch_for(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Mels and audio of step `step` (0-based): a function of (seed, step) alone."""
        epoch, position = divmod(step, self.steps_per_epoch)
        order = torch.randperm(len(self.data), generator=torch.Generator().manual_seed(self.cfg.seed + epoch))
        size = self.cfg.batch_size
        indices = order[position * size : (position + 1) * size].tolist()
        rng = np.random.default_rng([self.cfg.seed, step])
        mels, wavs = self.data.batch(indices, self.segment_frames, rng)
        return mels.to(self.device), wavs.to(self.device)

    def lr_at(self, step: int) -> float:
        """The schedule's LR at `step` (warm-up ramp, per-epoch decay), times the cuts of earlier rollbacks
        (`lr_scale`)."""
        ramp = min(1.0, (step + 1) / self.cfg.warmup_steps) if self.cfg.warmup_steps else 1.0
        return self.cfg.lr * ramp * self.lr_scale * self.cfg.lr_decay ** (step // self.steps_per_epoch)

    def train_step(self) -> dict[str, float]:
        """Discriminator update, then generator update, on the batch of `self.step`; returns the losses.

        An update whose loss or gradient norm is not finite is skipped ("skipped" counts them); `health`
        reports it and may roll back (`self.step` is then the checkpoint's) or raise NonFiniteLossError.
        """
        step, done = self.step, self.step + 1
        for optim in (self.optim_g, self.optim_d):
            for group in optim.param_groups:
                group["lr"] = self.lr_at(step)
        mels, real = self.batch_for(step)
        self.generator.train()
        fake = self.generator(mels)

        self.optim_d.zero_grad(set_to_none=True)
        mpd_r, mpd_g, _, _ = self.mpd(real, fake.detach())
        msd_r, msd_g, _, _ = self.msd(real, fake.detach())
        loss_d = discriminator_loss(mpd_r, mpd_g) + discriminator_loss(msd_r, msd_g)
        loss_d.backward()
        grad_d = float(clip_gradients(self.discriminators, 0.0))
        bad_d = self.health.check(done, "discriminator", {"discriminator": float(loss_d.detach())}, grad_d)
        if bad_d is None:
            self.optim_d.step()

        terms, loss_g, grad_g = self._generator_backward(real, fake)
        losses = {
            name: float(v.detach())
            for name, v in {"discriminator": loss_d, "generator": loss_g, **terms}.items()
        }
        bad_g = self.health.check(done, "generator", {k: losses[k] for k in ("generator", *terms)}, grad_g)
        if bad_g is None:
            self.optim_g.step()
        self.step = done
        found = [a for a in (bad_d, bad_g) if a is not None]
        losses |= {"lr": self.lr_at(step), "grad_norm/discriminator": grad_d, "grad_norm/generator": grad_g}
        losses["skipped"] = len(found)
        self.health.after_step(self, done, losses, found)
        return losses

    def _generator_backward(
        self, real: torch.Tensor, fake: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, float]:
        """(loss terms, total loss, gradient norm) of the generator; its gradients are left in `.grad`."""
        self.optim_g.zero_grad(set_to_none=True)
        with _frozen(self.mpd, self.msd):  # the generator's update leaves the discriminators' gradients
            _, mpd_g, mpd_fr, mpd_fg = self.mpd(real, fake)
            _, msd_g, msd_fr, msd_fg = self.msd(real, fake)
            terms = {
                "adversarial": adversarial_loss(mpd_g) + adversarial_loss(msd_g),
                "feature": feature_matching_loss(mpd_fr, mpd_fg) + feature_matching_loss(msd_fr, msd_fg),
                "mel": mel_loss(self.mel(real.squeeze(1)), self.mel(fake.squeeze(1))),
            }
            loss_g = terms["adversarial"] + self.cfg.feature_weight * terms["feature"]
            loss_g = loss_g + self.cfg.mel_weight * terms["mel"]
            loss_g.backward()
        return terms, loss_g, float(clip_gradients(self.generator, 0.0))

    def networks(self) -> torch.nn.Module:
        """Generator and discriminators as one module (what a health check of the weights reads)."""
        return torch.nn.ModuleDict({"generator": self.generator, "discriminators": self.discriminators})

    def rollback(self, path: Path, lr_factor: float) -> None:
        """Back to checkpoint `path` (weights, optimizers, step) with the LR scaled by `lr_factor`."""
        self._restore(_load(path))
        self.lr_scale *= lr_factor
        self.checkpoints.clear_anomaly()

    # --- the loop -------------------------------------------------------------------------------------
    def fit(self) -> Path:
        """Train to `cfg.steps`, the time budget `cfg.max_minutes` or a signal, whichever comes first;
        returns the last checkpoint written (the final step always has one)."""
        cfg = self.cfg
        for name in ("metrics.jsonl", "events.jsonl"):
            JsonlLog.keep_until(self.run_dir / name, self.step)
        metrics = MetricsLog(self.run_dir / "metrics.jsonl")
        self.events = EventLog(self.run_dir / "events.jsonl")
        board = TensorBoard(self.run_dir / "tensorboard", enabled=cfg.tensorboard)
        self.stop_reason = None
        control = RunControl()
        control.start(cfg.max_minutes, control.request_stop)
        try:
            while self.step < cfg.steps and control.stop_reason is None:
                rollbacks = self.health.rollbacks
                losses = self.train_step()
                if self.health.rollbacks != rollbacks:
                    continue  # the step was undone with the steps since the checkpoint: nothing to log
                if self.step % cfg.log_every == 0 or losses["skipped"]:
                    metrics.log(self.step, "train", losses)
                    board.scalars(self.step, losses, prefix="train/")
                    logger.info("step %d: %s", self.step, " ".join(f"{k}={v:.4g}" for k, v in losses.items()))
                if self.step % cfg.audio_every == 0:
                    val = self.validate(board)
                    metrics.log(self.step, "val", val)
                if self.step % cfg.checkpoint_every == 0:
                    self.save()
                if control.out_of_time():  # checked after a step: a budget always trains at least one
                    control.request_stop(f"time budget of {cfg.max_minutes:g} min reached")
            if control.stop_reason is not None:
                self.stop_reason = control.stop_reason
                logger.info("stopped at step %d: %s", self.step, self.stop_reason)
            latest = self.checkpoints.latest()
            if latest != self.checkpoints.step_path(self.step):
                latest = self.save()
        finally:
            control.stop()
            metrics.close()
            board.close()
            self.events.close()
            self.events = EventLog(self.run_dir / "events.jsonl", enabled=False)
        return latest

    def _log_event(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """events.jsonl (while `fit` runs) and a log line; what the keeper and `health` report through."""
        return self.events.log(*args, **kwargs)

    @torch.no_grad()
    def validate(self, board: TensorBoard) -> dict[str, float]:
        """Mel L1 of the first validation item rendered whole; its audio to TensorBoard."""
        self.generator.eval()
        mel = torch.from_numpy(self.val.mel(0)).unsqueeze(0).to(self.device)
        real = torch.from_numpy(self.val.audio(0)).to(self.device)
        fake = self.generator(mel).squeeze(1)[0]
        value = float(mel_loss(self.mel(real), self.mel(fake)))
        board.scalars(self.step, {"mel_l1": value}, prefix="val/")
        board.audio("val/audio", fake.clamp(-1, 1).cpu(), self.step, self.audio_cfg.sample_rate)
        self.generator.train()
        return {"mel_l1": value}

    # --- checkpoints ----------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "format": VOCODER_FORMAT,
            "format_version": VOCODER_FORMAT_VERSION,
            "generator": self.generator.state_dict(),
            "generator_config": self.cfg.generator.to_dict(),
            "audio": dataclasses.asdict(self.audio_cfg),
            "vocoder_config": self.cfg.to_dict(),
            "mpd": self.mpd.state_dict(),
            "msd": self.msd.state_dict(),
            "optim_g": self.optim_g.state_dict(),
            "optim_d": self.optim_d.state_dict(),
            "step": self.step,
            "lr_scale": self.lr_scale,
            "dataset": self.dataset_dir,
            "mels": None if self.mels_dir is None else str(self.mels_dir),
            "init": self.init,
        }

    def save(self) -> Path:
        return self.checkpoints.save(self.state(), self.step, self.networks())

    def _restore(self, ckpt: dict[str, Any]) -> None:
        self.generator.load_state_dict(ckpt["generator"])
        self.mpd.load_state_dict(ckpt["mpd"])
        self.msd.load_state_dict(ckpt["msd"])
        self.optim_g.load_state_dict(ckpt["optim_g"])
        self.optim_d.load_state_dict(ckpt["optim_d"])
        self.step = int(ckpt["step"])
        self.lr_scale = float(ckpt.get("lr_scale", 1.0))


def _initial_generator(
    init: str, cfg: VocoderConfig, audio: AudioConfig
) -> tuple[dict[str, torch.Tensor] | None, VocoderConfig]:
    """(weights or None for random, config) for `--init`: universal | scratch | PATH (a vocoder
    checkpoint, whose generator shape replaces cfg.generator, or an official HiFi-GAN `g_*` file)."""
    if init == "scratch":
        return None, cfg
    if init == "universal":
        if cfg.generator != HifiGanConfig() or audio.n_mels != 80:
            raise ConfigError(
                "--init universal needs the V1 generator (default `generator.*`) and audio.n_mels=80; "
                "use --init scratch for other shapes"
            )
        return load_generator("universal").state_dict(), cfg
    path = Path(init)
    if not path.is_file():
        raise ConfigError(f"--init must be universal, scratch or a checkpoint file; {init!r} is none of them")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if is_vocoder_checkpoint(ckpt):
        generator = HifiGanConfig.from_dict(ckpt["generator_config"])
        return ckpt["generator"], dataclasses.replace(cfg, generator=generator)
    if isinstance(ckpt, dict) and "generator" in ckpt:
        return fold_weight_norm(ckpt["generator"]), dataclasses.replace(cfg, generator=HifiGanConfig())
    raise ConfigError(f"{path}: neither a vocoder checkpoint nor a HiFi-GAN generator file")


class _frozen:
    """Context: the modules' parameters need no gradient (the generator update reads them only)."""

    def __init__(self, *modules: torch.nn.Module):
        self.params = [p for m in modules for p in m.parameters()]

    def __enter__(self) -> None:
        for p in self.params:
            p.requires_grad_(False)

    def __exit__(self, *exc: object) -> None:
        for p in self.params:
            p.requires_grad_(True)
