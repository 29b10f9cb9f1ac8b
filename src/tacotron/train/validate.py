"""Validation: masked losses over the whole validation split, attention health, and a few syntheses.

Why a separate module: validation must not change the training run. It runs under `torch.no_grad`,
in eval mode, inside a forked RNG (inference prenet dropout draws random numbers), so a run that
validates at step N continues exactly like one that resumes from the checkpoint of step N.
"""

from __future__ import annotations

import difflib
import functools
import logging
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tacotron.config import ConfigError
from tacotron.data.batch import Batch
from tacotron.model.tacotron2 import teacher_forced

log = logging.getLogger(__name__)


@torch.no_grad()
def validation_losses(
    model: torch.nn.Module,
    loss_fn: Callable[..., dict[str, torch.Tensor]],
    batches: list[Batch],
    *,
    device: torch.device,
    autocast: Callable[[], Any],
    step: int,
) -> dict[str, float]:
    """Teacher-forced losses over all `batches`, normalised as one batch, plus batch-weighted health metrics."""
    from tacotron.losses import LossNorm
    from tacotron.metrics.outputs import health_metrics

    norm = LossNorm.from_batches(batches)
    totals: dict[str, torch.Tensor] = {}
    health: dict[str, float] = {}
    items = sum(b.size for b in batches)
    for host_batch in batches:
        batch = host_batch.to(device)
        with autocast():
            out = teacher_forced(model, batch)
            losses = loss_fn(out, batch, step, norm)
        for name, value in losses.items():
            totals[name] = totals.get(name, 0.0) + value.detach().float()
        for name, value in health_metrics(out, batch).items():
            health[name] = health.get(name, 0.0) + value * batch.size / items
    metrics = {f"val/{k}": float(v) for k, v in totals.items()}
    metrics.update({f"val/{k}": v for k, v in health.items()})
    return metrics


@torch.no_grad()
def synthesize_samples(
    model: torch.nn.Module,
    batch: Batch,
    *,
    device: torch.device,
    step: int,
    out_dir: Path,
    vocoder: Callable[[torch.Tensor, torch.Tensor], list[np.ndarray]] | None,
    sample_rate: int,
    tensorboard: Any,
    write_files: bool,
) -> dict[str, float]:
    """Free-running inference on `batch`; log mel/alignment/gate images and Griffin-Lim audio.

    Returns inference health: "val/infer/attn/*" (over the generated steps), "val/infer/gate_stop"
    (share stopped by the gate) and "val/infer/length_ratio" (generated / reference frames).
    """
    from tacotron.frames import decoder_steps
    from tacotron.metrics.attention import attention_health

    batch = batch.to(device)
    out = model.infer(batch.text, batch.text_lengths, r=batch.r, deterministic=True, speakers=batch.speakers)
    metrics = {
        f"val/infer/{k}": v
        for k, v in attention_health(
            out.alignments, batch.text_lengths, decoder_steps(out.lengths, out.r)
        ).items()
    }
    metrics["val/infer/gate_stop"] = sum(s == "gate" for s in out.stop_reasons) / len(out.stop_reasons)
    ratio = out.lengths.float().cpu() / batch.mel_lengths.float().cpu()
    metrics["val/infer/length_ratio"] = float(ratio.mean())
    wavs = vocoder(out.mel_postnet.float(), out.lengths) if vocoder is not None else [None] * batch.size
    for i, item_id in enumerate(batch.ids):
        frames = int(out.lengths[i])
        mel = out.mel_postnet[i, :, :frames].float().cpu().numpy()
        align = out.alignments[i, : decoder_steps(frames, out.r)].float().cpu().numpy()
        gate = torch.sigmoid(out.gate_logits[i, :frames].float()).cpu().numpy()
        fig = sample_figure(mel, align, gate, title=f"step {step} {item_id} ({out.stop_reasons[i]})")
        tag = f"val_sample/{i}"
        tensorboard.figure(tag, fig, step)
        if write_files:
            out_dir.mkdir(parents=True, exist_ok=True)
            fig.savefig(out_dir / f"step_{step:08d}_{item_id}.png", dpi=70)
            if wavs[i] is not None:
                write_pcm16(out_dir / f"step_{step:08d}_{item_id}.wav", wavs[i], sample_rate)
        if wavs[i] is not None:
            tensorboard.audio(tag, torch.from_numpy(wavs[i]), step, sample_rate)
    return metrics


def sample_figure(mel: np.ndarray, alignment: np.ndarray, gate: np.ndarray, title: str) -> Any:
    """One figure: alignment [steps, L], mel [n_mels, T] and stop probability [T]; no pyplot state."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 7))
    ax_align, ax_mel, ax_gate = fig.subplots(3, 1)
    ax_align.imshow(alignment.T, aspect="auto", origin="lower", interpolation="none", vmin=0, vmax=1)
    ax_align.set(title=title, xlabel="decoder step", ylabel="symbol")
    ax_mel.imshow(mel, aspect="auto", origin="lower", interpolation="none")
    ax_mel.set(xlabel="frame", ylabel="mel")
    ax_gate.plot(gate)
    ax_gate.set(xlabel="frame", ylabel="P(stop)", ylim=(0, 1))
    fig.tight_layout()
    return fig


def write_pcm16(path: Path, wav: np.ndarray, sample_rate: int) -> None:
    """16-bit mono WAV via the standard library (the GPU machine has no soundfile); peak-normalised if > 1."""
    peak = float(np.abs(wav).max()) if wav.size else 0.0
    if peak > 1.0:
        wav = wav / peak
    pcm = (np.clip(wav, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sample_rate)
        f.writeframes(pcm.tobytes())


def validation_metric_names(loss_terms: list[str], n_val_synth: int) -> list[str]:
    """Every key `Validator.run` logs: "val/" + loss terms, health metrics and, with syntheses, inference health."""
    from tacotron.metrics.outputs import ATTENTION_KEYS, health_metric_names

    names = ["loss", *loss_terms, *health_metric_names()]
    if n_val_synth > 0:
        names += [f"infer/{k}" for k in ATTENTION_KEYS] + ["infer/gate_stop", "infer/length_ratio"]
    return [f"val/{name}" for name in names]


def check_best_metric(name: str, loss_terms: list[str], n_val_synth: int) -> None:
    """ConfigError unless validation logs `name` (train.best_metric), with the closest names as a hint:
    a typo then fails before training, not at the first evaluation."""
    known = validation_metric_names(loss_terms, n_val_synth)
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(known)}"
        raise ConfigError(f"train.best_metric {name!r} is not a validation metric{hint}")


class Validator:
    """Everything `Trainer.evaluate` logs: losses over the validation split, health, a few syntheses.

    Runs in eval mode inside a forked RNG (see module doc). The validation batches are collated once
    per (batch size, r) stage; the Griffin-Lim vocoder for the samples is built on first use from the
    dataset's own filterbank (mel_basis.npy).
    """

    def __init__(
        self,
        val_set: Any,
        loss_fn: Callable[..., dict[str, torch.Tensor]],
        *,
        device: torch.device,
        audio_cfg: Any,
        n_val_synth: int,
        samples_dir: Path,
        tensorboard: Any,
        write_files: bool,
    ):
        self.val_set, self.loss_fn, self.device = val_set, loss_fn, device
        self.audio_cfg, self.n_val_synth = audio_cfg, n_val_synth
        self.samples_dir, self.tensorboard, self.write_files = samples_dir, tensorboard, write_files
        self._batches: list[Batch] | None = None
        self._batches_for: tuple[int, int] | None = None
        self._vocoder: Any = None

    def batches(self, batch_size: int, r: int) -> list[Batch]:
        from tacotron.train.loader import collate_all

        if self._batches_for != (batch_size, r):
            self._batches = collate_all(self.val_set, list(range(len(self.val_set))), batch_size, r)
            self._batches_for = (batch_size, r)
        return self._batches

    def run(
        self,
        model: torch.nn.Module,
        *,
        step: int,
        batch_size: int,
        r: int,
        autocast: Callable[[], Any],
        guided_attn_weight: float | None = None,
    ) -> dict[str, float]:
        batches = self.batches(batch_size, r)
        devices = [self.device] if self.device.type == "cuda" else []
        loss_fn = functools.partial(self.loss_fn, guided_attn_weight=guided_attn_weight)
        with torch.random.fork_rng(devices=devices):
            model.eval()
            try:
                metrics = validation_losses(
                    model, loss_fn, batches, device=self.device, autocast=autocast, step=step
                )
                if self.n_val_synth > 0:
                    first = batches[0]
                    sample = first.select(list(range(min(self.n_val_synth, first.size))))
                    metrics.update(
                        synthesize_samples(
                            model,
                            sample,
                            device=self.device,
                            step=step,
                            out_dir=self.samples_dir,
                            vocoder=self.vocoder(),
                            sample_rate=self.audio_cfg.sample_rate,
                            tensorboard=self.tensorboard,
                            write_files=self.write_files,
                        )
                    )
            finally:
                model.train()
        return metrics

    def vocoder(self) -> Any:
        if self._vocoder is None:
            from tacotron.audio.vocoder import GriffinLimVocoder

            self._vocoder = GriffinLimVocoder(self.audio_cfg, self.val_set.mel_basis())
        return self._vocoder
