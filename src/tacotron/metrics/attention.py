"""Attention health: is the encoder-decoder alignment the sharp, forward-moving diagonal TTS needs?

Why these numbers: a Tacotron that has not learnt to align produces babble however low its mel
loss is, and the loss curve does not show it. Each score is computed per item inside that item's own
text and decoder lengths (padding would otherwise dilute short items) and then averaged over the batch.

- diagonality: mean over decoder steps of the largest attention weight. 1 for a hard alignment,
  1/L for uniform attention over L symbols. (NVIDIA / Coqui call this the "diagonal score".)
- monotonicity: share of consecutive decoder steps whose attention peak does not move backwards.
  Read it together with diagonality: a flat alignment has a constant peak and so scores 1 here.
- coverage: share of real text positions that get at least `coverage_threshold` attention at some step
  (skipped or mumbled words leave positions uncovered).
- end_alignment: share of items whose attention peak has reached the last few symbols by the decoder
  step at which the gate fires (otherwise synthesis stops early or runs on).

Three more that compare across reduction factors r. Diagonality does not: at r frames per decoder step
one step spans r / (frames per symbol) symbols, so even a perfect alignment spreads its weight over
several symbols and scores ~0.3-0.5 at r = 4-6 where r = 1 scores ~1. With d = text length / decoder
length (symbols read per decoder step, the same reading speed in symbols per second at any r):

- focus: mean over decoder steps of the largest attention mass on any ceil(d) + 1 consecutive symbols
  (the most symbols a step can legitimately span). Diagonality with the window r allows; w / L for
  uniform attention.
- advance: share of decoder steps t whose attention centroid has moved by a plausible amount at step
  t + k, k = ceil(1 / d) (about one symbol's time): between -ADVANCE_BACK_TOLERANCE and
  ADVANCE_MAX_BASE + ADVANCE_MAX_PER_STEP x k x d symbols. A scrambled alignment jumps about and a
  reversed one moves back; stuck or flat attention passes this and fails coverage or focus.
- alignment = focus x advance x coverage: one number in [0, 1] that a perfect diagonal scores ~1 at
  every r and a stuck, flat or scrambled alignment scores low at every r. The Smart Tuner's score and its
  steps to alignment read this one (tune/score.py). On the CPU demo run (teacher-forced validation,
  r = 4, step 869; it speaks with WER 0.11) diagonality is 0.74 and alignment 0.95; the same model
  untrained scores 0.02 and 0.0, so the tuner's threshold of 0.5 sits well between the two.
"""

from __future__ import annotations

import torch

# The alignment measure everything that judges "aligned" reads (health monitor, verdicts, live controller,
# tuner score): the same scale at every r, unlike diagonality
ALIGNMENT_KEY = "attn/alignment"
VAL_ALIGNMENT_KEY = f"val/{ALIGNMENT_KEY}"  # the same measure on the validation set, as evaluation logs it
ADVANCE_BACK_TOLERANCE = 0.5  # symbols the centroid may slip back in one step (blur, not a re-read)
ADVANCE_MAX_BASE = 2.0  # symbols one step may skip at any r (a space or a comma held one frame)
ADVANCE_MAX_PER_STEP = 2.0  # ... plus this many times the symbols per decoder step d


def _check_shapes(alignments: torch.Tensor, text_lengths: torch.Tensor, dec_lengths: torch.Tensor) -> None:
    if alignments.dim() != 3:
        raise ValueError(f"alignments must be [B, T_dec, L], got shape {tuple(alignments.shape)}")
    batch = alignments.size(0)
    if text_lengths.shape != (batch,) or dec_lengths.shape != (batch,):
        raise ValueError(
            f"text_lengths {tuple(text_lengths.shape)} and dec_lengths {tuple(dec_lengths.shape)} "
            f"must both be [B={batch}] for alignments {tuple(alignments.shape)}"
        )
    if int(text_lengths.min()) < 1 or int(dec_lengths.min()) < 1:
        raise ValueError("every item needs at least one text symbol and one decoder step")
    if int(text_lengths.max()) > alignments.size(2) or int(dec_lengths.max()) > alignments.size(1):
        raise ValueError(
            f"lengths exceed alignments {tuple(alignments.shape)}: max text length "
            f"{int(text_lengths.max())}, max decoder length {int(dec_lengths.max())}"
        )


def _end_steps(gate_fired: torch.Tensor | None, dec_lengths: torch.Tensor) -> torch.Tensor:
    """Decoder step at which each item stops: the gate's step, or the last real step if it never fires."""
    last = dec_lengths - 1
    if gate_fired is None:
        return last
    fired = gate_fired.to(dec_lengths.device).long()
    return torch.where(fired < 0, last, torch.minimum(fired, last))


def attention_health_per_item(
    alignments: torch.Tensor,
    text_lengths: torch.Tensor,
    dec_lengths: torch.Tensor,
    gate_fired: torch.Tensor | None = None,
    *,
    coverage_threshold: float = 0.1,
    end_tolerance: int = 2,
) -> dict[str, torch.Tensor]:
    """The scores per item, each a float tensor [B]; see `attention_health` for the arguments."""
    _check_shapes(alignments, text_lengths, dec_lengths)
    device = alignments.device
    text_lengths = text_lengths.to(device).long()
    dec_lengths = dec_lengths.to(device).long()
    a = alignments.detach().float()  # (B, T_dec, L)
    steps = a.size(1)
    text_mask = torch.arange(a.size(2), device=device)[None, :] < text_lengths[:, None]  # (B, L)
    dec_mask = torch.arange(steps, device=device)[None, :] < dec_lengths[:, None]  # (B, T_dec)
    a = a * text_mask[:, None, :] * dec_mask[:, :, None]

    peak, peak_pos = a.max(dim=2)  # (B, T_dec)
    diagonality = peak.sum(1) / dec_lengths

    pairs = dec_mask[:, 1:]  # a pair (t-1, t) is real when t is real
    forward = (peak_pos[:, 1:] >= peak_pos[:, :-1]) & pairs
    n_pairs = pairs.sum(1)
    monotonicity = torch.where(
        n_pairs > 0, forward.sum(1) / n_pairs.clamp(min=1), torch.ones_like(diagonality)
    )

    most = a.max(dim=1).values  # (B, L) strongest attention each position ever gets
    coverage = ((most >= coverage_threshold) & text_mask).sum(1) / text_lengths

    reach = torch.cummax(torch.where(dec_mask, peak_pos, torch.full_like(peak_pos, -1)), dim=1).values
    end = _end_steps(gate_fired, dec_lengths)
    reached = reach.gather(1, end[:, None]).squeeze(1)
    end_alignment = (reached >= text_lengths - 1 - end_tolerance).float()
    per_step = text_lengths.float() / dec_lengths.float()  # d: symbols per decoder step
    focus = _focus(a, dec_mask, dec_lengths, per_step)
    advance = _advance(a, dec_mask, per_step)
    return {
        "attn/diagonality": diagonality,
        "attn/monotonicity": monotonicity.float(),
        "attn/coverage": coverage.float(),
        "attn/end_alignment": end_alignment,
        "attn/focus": focus,
        "attn/advance": advance,
        ALIGNMENT_KEY: focus * advance * coverage.float(),
    }


def _focus(
    a: torch.Tensor, dec_mask: torch.Tensor, dec_lengths: torch.Tensor, per_step: torch.Tensor
) -> torch.Tensor:
    """Mean over real steps of the largest attention mass on ceil(d) + 1 consecutive symbols, per item."""
    symbols = a.size(2)
    width = (torch.ceil(per_step - 1e-6).long() + 1).clamp(max=symbols)  # (B,)
    cum = torch.nn.functional.pad(a.cumsum(dim=2), (1, 0))  # (B, T_dec, L + 1): cum[..., j] = sum a[..., :j]
    starts = torch.arange(symbols, device=a.device)[None, :]  # (1, L)
    ends = (starts + width[:, None]).clamp(max=symbols)  # (B, L)
    ends = ends[:, None, :].expand(-1, a.size(1), -1)
    window = cum.gather(2, ends) - cum[:, :, :symbols]  # (B, T_dec, L) mass on [j, j + width)
    best = window.max(dim=2).values * dec_mask
    return best.sum(1) / dec_lengths


def _advance(a: torch.Tensor, dec_mask: torch.Tensor, per_step: torch.Tensor) -> torch.Tensor:
    """Share of real step pairs (t, t + k) whose attention centroid moves forward by a plausible amount.

    k = ceil(1 / d) steps, the time to read about one symbol: at r = 1 the centroid of a good alignment
    rests on a symbol for several steps, so step-to-step moves of 0 say nothing; over k steps a reversed
    alignment moves back a whole symbol and fails, while a held vowel (a move of 0) still passes.
    """
    steps = a.size(1)
    positions = torch.arange(a.size(2), device=a.device, dtype=a.dtype)
    mass = a.sum(2)
    centroid = (a * positions).sum(2) / mass.clamp(min=1e-8)  # (B, T_dec)
    lag = torch.ceil(1.0 / per_step - 1e-6).long().clamp(min=1)  # (B,)
    index = torch.arange(steps, device=a.device)[None, :] + lag[:, None]  # t + k
    later = index.clamp(max=steps - 1)
    delta = centroid.gather(1, later) - centroid
    real = dec_mask & (mass > 0)
    pairs = (index < steps) & real & real.gather(1, later)
    most = ADVANCE_MAX_BASE + ADVANCE_MAX_PER_STEP * per_step[:, None] * lag[:, None]
    plausible = (delta >= -ADVANCE_BACK_TOLERANCE) & (delta <= most) & pairs
    n_pairs = pairs.sum(1)
    return torch.where(n_pairs > 0, plausible.sum(1) / n_pairs.clamp(min=1), torch.ones_like(per_step))


def attention_health(
    alignments: torch.Tensor,
    text_lengths: torch.Tensor,
    dec_lengths: torch.Tensor,
    gate_fired: torch.Tensor | None = None,
    *,
    coverage_threshold: float = 0.1,
    end_tolerance: int = 2,
) -> dict[str, float]:
    """Batch-mean attention health.

    alignments: [B, T_dec, L] attention weights (rows sum to 1 over real symbols).
    text_lengths: [B] real symbols per item; dec_lengths: [B] real decoder steps per item
        (`tacotron.frames.decoder_steps(mel_lengths, r)`).
    gate_fired: optional [B] decoder step at which the gate first fired, -1 = never (then the last real
        step is used: end_alignment then asks whether attention reached the end at all).
    end_tolerance: symbols before the last one that still count as "at the end" (the final letter,
        punctuation and the EOS symbol are all legitimate resting places).
    Returns {"attn/diagonality", "attn/monotonicity", "attn/coverage", "attn/end_alignment",
    "attn/focus", "attn/advance", "attn/alignment"} as floats (see the module docstring).
    """
    per_item = attention_health_per_item(
        alignments,
        text_lengths,
        dec_lengths,
        gate_fired,
        coverage_threshold=coverage_threshold,
        end_tolerance=end_tolerance,
    )
    return {key: float(value.mean()) for key, value in per_item.items()}
