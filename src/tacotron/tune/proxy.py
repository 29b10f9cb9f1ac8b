"""The intelligibility proxy at the end of a trial: held-out WER where an ASR judge is installed, else
validation mel loss.

Why: alignment and loss say a run will probably speak; a recogniser transcribing a few held-out
sentences says whether it does. It runs once, at the end of a COMPLETE trial (pruned and failed
trials are not worth it), on `tune.proxy_sentences` sentences of the validation split (never trained
on), with decoding capped like the trial's evaluations, so it stays cheap on CPU. The judge lives in
infer/ (a higher layer than tune/), so it comes in as a callable (`ProxyFn`); `tacotron tune` passes
`tacotron.infer.trial_proxy.judge_proxy`. Without one, or when it cannot judge (pocketsphinx missing,
a language it cannot hear), the proxy is the last validation mel loss, which the score already holds:
then it adds nothing to the score and is only recorded. With a WER, the final score adds
`tune.score_proxy_weight` x WER. Every trial of a study should see the same judge (same installation),
or their final scores are not comparable; the report shows which proxy each trial had.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tacotron.config import Config
from tacotron.tune.score import MEL_KEY

log = logging.getLogger(__name__)

WER = "wer"
VAL_MEL = "val_mel"


@dataclass
class ProxyResult:
    kind: str  # WER (ASR judge on held-out sentences) or VAL_MEL (fallback)
    value: float
    detail: str  # what was measured, for the report


# (trial run folder, trial config, dataset folder, device) -> a result, or None when it cannot judge
ProxyFn = Callable[[Path, Config, Path, str], "ProxyResult | None"]


def measure_proxy(
    fn: ProxyFn | None, run_dir: Path, cfg: Config, dataset_dir: Path, device: str, last: dict[str, float]
) -> ProxyResult:
    """The judge's result when there is one and it can judge, else the last validation mel loss."""
    why = "no ASR judge in this process" if fn is None else "tune.proxy_sentences = 0"
    if fn is not None and cfg.tune.proxy_sentences > 0:
        try:
            result = fn(run_dir, cfg, dataset_dir, device)
        except Exception as err:  # a judge that breaks says nothing about the trial's config
            log.warning(
                "intelligibility proxy failed (%s: %s); using validation mel loss", type(err).__name__, err
            )
            result, why = None, f"judge failed: {type(err).__name__}: {err}"[:300]
        else:
            why = "the judge cannot judge here (not installed, or not this language)"
        if result is not None and math.isfinite(result.value):
            return result
    return ProxyResult(VAL_MEL, float(last.get(MEL_KEY, float("nan"))), f"validation mel loss ({why})")


def proxy_part(result: ProxyResult, cfg: Config) -> float:
    """What the proxy adds to a trial's final score: weight x WER, nothing for the val-mel fallback."""
    return cfg.tune.score_proxy_weight * result.value if result.kind == WER else 0.0
