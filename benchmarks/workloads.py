"""Synthetic LJSpeech-shaped workloads and the two models under test (ours and torchaudio's).

Both models get NVIDIA's Tacotron 2 sizes and the *same* `Batch` objects; `check_same_work` verifies
parameter counts (within 1%) and output shapes before anything is timed. Torch, numpy and PyYAML
only (torchaudio is imported where it is used), since the GPU machine has no librosa/soundfile.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tacotron.config import ModelConfig
from tacotron.data.batch import Batch, Utterance
from tacotron.data.collate import TextMelCollate
from tacotron.losses import LossNorm
from tacotron.model import Tacotron2, build_model

N_SYMBOLS = 148  # torchaudio's default symbol count
N_MELS = 80
TEXT_RANGE = (80, 180)  # LJSpeech: symbols per utterance
MEL_RANGE = (400, 870)  # LJSpeech: frames per utterance (hop 256 at 22050 Hz)
DEMO_TEXT_RANGE = (40, 140)  # the espeak-ng demo corpus: symbols (5th-95th percentile, median 89)
DEMO_MEL_RANGE = (250, 750)  # the espeak-ng demo corpus: frames (median 458)


@dataclass
class Workload:
    """A batch on the device plus what the timers need: real mel frames and the loss normaliser."""

    batch: Batch
    frames: int
    norm: LossNorm


def synthetic_batches(
    n: int,
    batch_size: int,
    *,
    r: int,
    seed: int,
    device: torch.device | str = "cpu",
    text_range: tuple[int, int] = TEXT_RANGE,
    mel_range: tuple[int, int] = MEL_RANGE,
) -> list[Workload]:
    """`n` padded batches of random ids and random-normal mels with uniformly drawn lengths."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        items = []
        for i in range(batch_size):
            text_len = int(torch.randint(text_range[0], text_range[1] + 1, (1,), generator=gen))
            mel_len = int(torch.randint(mel_range[0], mel_range[1] + 1, (1,), generator=gen))
            ids = torch.randint(2, N_SYMBOLS, (text_len,), generator=gen)
            items.append(Utterance(f"s{i}", ids, torch.randn(N_MELS, mel_len, generator=gen)))
        batch = TextMelCollate(r)(items)
        norm = LossNorm.from_batch(batch)  # on the CPU batch: no device sync in the timed loop
        out.append(Workload(batch.to(device), int(batch.mel_lengths.sum()), norm))
    return out


def fixed_length_batch(batch_size: int, text_len: int, mel_len: int, *, r: int, device) -> Workload:
    """Every item at the given lengths (for the largest-batch search at a maximum length)."""
    gen = torch.Generator().manual_seed(0)
    items = [
        Utterance(
            f"m{i}", torch.randint(2, N_SYMBOLS, (text_len,), generator=gen), torch.randn(N_MELS, mel_len)
        )
        for i in range(batch_size)
    ]
    batch = TextMelCollate(r)(items)
    return Workload(batch.to(device), int(batch.mel_lengths.sum()), LossNorm.from_batch(batch))


def nvidia_model_config(r: int = 1) -> ModelConfig:
    """NVIDIA Tacotron 2 sizes (our defaults), reduction factor r."""
    return ModelConfig(n_frames_per_step=r, max_frames_per_step=r)


def build_ours(r: int, device: torch.device | str) -> Tacotron2:
    torch.manual_seed(0)
    return build_model(nvidia_model_config(r), N_SYMBOLS, N_MELS).to(device)


def build_torchaudio(
    device: torch.device | str, *, decoder_max_step: int = 2000, early_stopping: bool = True
) -> nn.Module:
    """torchaudio.models.Tacotron2 with the same sizes (its defaults are NVIDIA's), r = 1."""
    import torchaudio

    torch.manual_seed(0)
    return torchaudio.models.Tacotron2(
        mask_padding=False,  # True masks its outputs in place, which breaks its own backward pass
        n_mels=N_MELS,
        n_symbol=N_SYMBOLS,
        n_frames_per_step=1,
        decoder_max_step=decoder_max_step,
        decoder_early_stopping=early_stopping,
    ).to(device)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def check_same_work(ours: Tacotron2, theirs: nn.Module, work: Workload) -> dict[str, object]:
    """Raise unless parameter counts agree within 1% and both produce outputs of the same shapes."""
    n_ours, n_theirs = parameter_count(ours), parameter_count(theirs)
    if abs(n_ours - n_theirs) > 0.01 * n_theirs:
        raise RuntimeError(f"models differ in size: ours {n_ours} vs torchaudio {n_theirs} parameters")
    b = work.batch
    small = b.select(list(range(min(2, b.size))))
    with torch.no_grad():
        out = ours(small.text, small.text_lengths, small.mels, small.mel_lengths, r=small.r)
        mel, mel_post, gate, align = theirs(small.text, small.text_lengths, small.mels, small.mel_lengths)
    shapes = {
        "ours": [list(out.mel.shape), list(out.gate_logits.shape), list(out.alignments.shape)],
        "torchaudio": [list(mel.shape), list(gate.shape), list(align.shape)],
    }
    if shapes["ours"] != shapes["torchaudio"]:
        raise RuntimeError(f"models do different work: output shapes {shapes}")
    return {"params_ours": n_ours, "params_torchaudio": n_theirs, "output_shapes": shapes}
