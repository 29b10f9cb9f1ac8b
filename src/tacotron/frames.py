"""Frame arithmetic of the reduction factor r: the one place that knows how frames map to decoder steps.

The decoder emits r mel frames per step, so a batch's mels are padded to a multiple of r, an item of
n frames takes ceil(n / r) decoder steps, and an alignment row belongs to the step of frame // r.
Every layer (collate, model, losses, metrics, inference, export) asks these functions instead of
re-deriving them, and r always travels as a value (on `Batch`, on model outputs, in the checkpoint),
never recovered from tensor shapes. Works on ints and on integer tensors alike; torch only.
"""

from __future__ import annotations

from typing import TypeVar

import torch

MAX_R = 8  # largest reduction factor: the projection of a max_r model holds max_r frames per step

IntOrTensor = TypeVar("IntOrTensor", int, torch.Tensor)


def check_r(r: object, max_r: int = MAX_R, *, what: str = "reduction factor r") -> int:
    """Return r if it is an int in 1..max_r (max_r <= MAX_R), else raise ValueError naming `what`."""
    limit = min(max_r, MAX_R)
    if isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= limit:
        hint = " (model.max_frames_per_step)" if limit < MAX_R else ""
        raise ValueError(f"{what} must be an int in 1..{limit}{hint}, got {r!r}")
    return r


def check_same_r(output_r: int, batch_r: int, where: str) -> int:
    """r, when a model output and the batch it is scored against agree on it; else a ValueError.

    A mismatch means the model ran with another r than the collate padded for, so the alignment and
    gate shapes only look plausible: scoring them would be silently wrong.
    """
    if output_r != batch_r:
        raise ValueError(
            f"{where}: the model output was computed with r={output_r} but the batch was padded for "
            f"r={batch_r}; call the model with r=batch.r"
        )
    return batch_r


def decoder_steps(frames: IntOrTensor, r: int) -> IntOrTensor:
    """Decoder steps that cover `frames` mel frames: ceil(frames / r) (the last step partly padded)."""
    if isinstance(frames, torch.Tensor):
        return decoder_steps_tensor(frames, r)
    return -(-int(frames) // r)


def decoder_steps_tensor(frames: torch.Tensor, r: int) -> torch.Tensor:
    """`decoder_steps` for integer tensors, TorchScript-compilable (the exported decoding loop calls it)."""
    return torch.div(frames + (r - 1), r, rounding_mode="floor")


def padded_frames(frames: IntOrTensor, r: int) -> IntOrTensor:
    """Smallest multiple of r that is >= frames: the padded mel length of a batch."""
    return decoder_steps(frames, r) * r


def step_of_frame(frame: IntOrTensor, r: int) -> IntOrTensor:
    """Decoder step that emits mel frame `frame` (negative values, "never", stay as they are)."""
    if isinstance(frame, torch.Tensor):
        return torch.where(frame < 0, frame, torch.div(frame, r, rounding_mode="floor"))
    return frame if frame < 0 else frame // r
