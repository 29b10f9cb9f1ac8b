"""Mixed precision: autocast dtype and the GradScaler (fp16 only).

bf16 has fp32's exponent range, so it needs no loss scaling; fp16 does, and its GradScaler skips any
step whose unscaled gradients hold inf/nan (the trainer counts those skips like any other).
`set` may be called mid-run (the Debug Reporter falls back from fp16 to bf16 after overflow).
"""

from __future__ import annotations

import contextlib
import logging

import torch

log = logging.getLogger(__name__)

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def native_bf16(device: torch.device) -> bool:
    """Whether this device runs bf16 matmuls/convs natively (CUDA with bf16, or a CPU with AMX or
    AVX512-BF16). On such a CPU single convs run much faster in bf16, but the small demo model's whole
    training step gains little (benchmarks/RESULTS.md), so the shipped demo.yaml stays fp32; on CPUs
    without native bf16 (AVX2 only) it is emulated and slower than fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    return False


def resolve_precision(name: str, device: torch.device) -> str:
    """`train.precision: auto` -> bf16 where the device runs it natively, else fp32; other names unchanged."""
    if name != "auto":
        return name
    resolved = "bf16" if native_bf16(device) else "fp32"
    log.info("train.precision auto -> %s on %s", resolved, device)
    return resolved


class Precision:
    """Owns the autocast context and the GradScaler for one device."""

    def __init__(self, name: str, device: torch.device, fp16_init_scale: float = 2.0**16):
        if not fp16_init_scale > 0:
            raise ValueError(f"train.fp16_init_scale must be > 0, got {fp16_init_scale}")
        self.device = device
        self.fp16_init_scale = fp16_init_scale
        self.name = "fp32"
        self.scaler = torch.amp.GradScaler(device.type, enabled=False)
        self.set(name)

    def set(self, name: str) -> None:
        """Switch precision; a fresh GradScaler is created when entering fp16."""
        if name not in DTYPES:
            raise ValueError(f"train.precision must be one of {list(DTYPES)}, got {name!r}")
        if name == "bf16" and self.device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError(
                f"train.precision=bf16: {torch.cuda.get_device_name(self.device)} has no bf16 support"
            )
        if name != self.name or (name == "fp16") != self.scaler.is_enabled():
            self.scaler = torch.amp.GradScaler(
                self.device.type, init_scale=self.fp16_init_scale, enabled=name == "fp16"
            )
        if name != self.name:
            log.info("precision: %s -> %s", self.name, name)
        self.name = name

    @property
    def dtype(self) -> torch.dtype | None:
        return DTYPES[self.name]

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to bf16/fp16 for the forward pass and loss; a no-op context for fp32."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def loss_scale(self) -> float:
        """Current fp16 loss scale (1.0 when not scaling); reading it syncs with the device."""
        return float(self.scaler.get_scale()) if self.scaler.is_enabled() else 1.0


def enable_tf32(device: torch.device, enabled: bool) -> None:
    """TF32 matmuls/convolutions on Ampere+ (a process-wide torch setting, set once at start-up)."""
    if device.type != "cuda":
        return
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled
    torch.backends.cudnn.benchmark = False  # variable-length batches: autotuning every shape costs more
