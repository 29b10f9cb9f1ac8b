"""One trial = one short training run through the real `Trainer` (the code path of `tacotron train`).

Why the real trainer: a tuner with its own mini training loop finds settings for that loop, not for
ours. The trial's config is the base config with the sampled parameters applied, `train.max_steps =
tune.steps_per_trial` and `train.eval_every = tune.report_every`; `TrialReporter` (a `Callback`)
turns every evaluation into an intermediate score, reports it to Optuna and stops the trainer through
`request_stop` when the pruner (or a hard rule: no alignment, divergence) says the trial is hopeless.

Outcomes, each with its reason in the trial's user attributes:
- COMPLETE: value = the last evaluation's score plus the held-out intelligibility proxy's part (proxy.py;
            seconds per step as a second value when `tune.direction_speed`); user attrs "score_parts"
            (each weighted term), "proxy_kind", "proxy_value", "proxy_detail", "proxy_seconds";
- PRUNED:   user attr "prune_reason" (pruner verdict or hard rule);
- FAILED:   user attr "fail_reason" (exception type and message, NaN metric, out of memory). Never a
            fake value such as inf.
- FAILED + user attr "interrupted": the trial stopped before `tune.steps_per_trial` for a reason that
            says nothing about its config (SIGTERM/Ctrl+C, the study's time budget, a lost worker).
            Its value would be that of a shorter run, so it is never COMPLETE; the run loop
            re-queues its parameters (study.py) and the retry counts instead.

Every scored trial (pruned ones too) records "steps_to_align" and "seconds_to_align": the first
evaluation whose r-independent alignment passes `tune.alignment_threshold` (score.is_aligned), and
the trial's seconds from its start to the end of that evaluation; None when it never aligned.

Evaluation cost: the validation syntheses of a trial decode with a barely trained model that rarely
stops by its gate, so they ran to `model.max_decoder_steps` (3,000 frames at r = 3) and dominated
short CPU trials. A trial caps free-running decoding at `EVAL_DECODE_FACTOR` x the longest validation
utterance (in decoder steps at the trial's smallest r): `EvalDecodeCap` sets the model's limit in the
trial only (config and checkpoints keep the base value) and the trial records the cap as
"eval_max_decoder_steps".
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tacotron.config import Config
from tacotron.frames import decoder_steps
from tacotron.train.callbacks import Callback
from tacotron.tune.proxy import ProxyFn, measure_proxy, proxy_part
from tacotron.tune.pruning import pruner_kind
from tacotron.tune.score import TrialFailed, hard_prune_reason, is_aligned, score_parts, trial_score
from tacotron.tune.space import SearchSpace, apply_params
from tacotron.tune.stopping import StudyStop, TrialStopper, fault_point
from tacotron.tune.storage import INTERRUPTED

log = logging.getLogger(__name__)

FIRST_EVAL_SECONDS = "first_eval_seconds"  # trial user attribute read by study.BudgetGuard
EVAL_DECODE_FACTOR = 2.0  # free-running decoding in a trial's evaluation: at most 2x the longest reference
TrainerFactory = Callable[..., Any]  # (cfg, dataset_dir, run_dir, device=..., callbacks=..., resume=...)


def trial_config(base: Config, params: dict[str, Any]) -> Config:
    """The config a trial trains with: base + sampled params + the trial's short schedule."""
    cfg = apply_params(base, params)
    tune = cfg.tune
    cfg.train.max_steps = tune.steps_per_trial
    cfg.train.eval_every = tune.report_every
    cfg.train.checkpoint_every = tune.steps_per_trial  # one checkpoint, at the end: what export copies
    cfg.train.keep_last = 1
    cfg.train.early_stop_patience = 0  # the pruner decides when to stop
    cfg.tune.controller = False  # a trial measures its config; the live controller would change it mid-run
    return cfg


class TrialReporter(Callback):
    """Scores each evaluation, reports it to the Optuna trial and requests a stop when hopeless."""

    def __init__(self, trial: Any, cfg: Config):
        self.trial = trial
        self.cfg = cfg
        self.history: list[dict[str, float]] = []  # every evaluation's metrics
        self.steps: list[int] = []  # the step of each evaluation
        self.seconds: list[float] = []  # seconds from the trial's start to the end of each evaluation
        self.scores: list[tuple[int, float]] = []
        self.prune_reason: str | None = None
        self.fail_reason: str | None = None
        self.started = time.monotonic()
        self.first_eval_seconds: float | None = None  # what a trial costs before it can be judged

    def on_eval_end(self, trainer: Any, metrics: dict[str, float]) -> None:
        step = trainer.step
        elapsed = time.monotonic() - self.started
        if self.first_eval_seconds is None:
            self.first_eval_seconds = elapsed
        self.steps.append(step)
        self.seconds.append(elapsed)
        self.history.append(dict(metrics))
        try:
            score = trial_score(metrics, self.cfg.tune)
        except TrialFailed as err:
            self.fail_reason = f"step {step}: {err}"
            trainer.request_stop(f"trial failed: {self.fail_reason}")
            return
        self.scores.append((step, score))
        multi = self.cfg.tune.direction_speed
        if not multi:
            self.trial.report(score, step)
        reason = hard_prune_reason(self.history, step, self.cfg.tune)
        if reason is None and not multi and self.trial.should_prune():
            reason = f"{pruner_kind(self.cfg.tune)} pruner at step {step}: score {score:.4f}"
        if reason is not None:
            self.prune_reason = reason
            trainer.request_stop(f"trial pruned: {reason}")

    def alignment_reached(self) -> tuple[int, float] | None:
        """(step, seconds) of the first evaluation that counts as aligned (`score.is_aligned`), or None."""
        for step, seconds, metrics in zip(self.steps, self.seconds, self.history, strict=True):
            if is_aligned(metrics, self.cfg.tune):
                return step, seconds
        return None


class TrialInterrupted(TrialFailed):
    """The trial was cut short for a reason unrelated to its config; recorded FAILED + "interrupted"."""


def eval_decoder_steps(dataset_dir: Path, cfg: Config, factor: float = EVAL_DECODE_FACTOR) -> int | None:
    """`factor` x the longest validation utterance in decoder steps at the smallest r the trial uses."""
    from tacotron.data.dataset import PreparedDataset

    frames = PreparedDataset(dataset_dir, "val").lengths
    if not frames:
        return None
    return decode_cap(max(frames), smallest_r(cfg), factor)


def decode_cap(longest_frames: int, r: int, factor: float = EVAL_DECODE_FACTOR) -> int:
    """Decoder steps for `factor` x `longest_frames` mel frames at reduction factor r (at least 1)."""
    return max(1, decoder_steps(math.ceil(factor * longest_frames), r))


def smallest_r(cfg: Config) -> int:
    """The smallest reduction factor a run uses (its r schedule included): the most decoder steps."""
    return max(1, min([cfg.model.n_frames_per_step, *(int(point[1]) for point in cfg.train.r_schedule)]))


class EvalDecodeCap(Callback):
    """Caps the model's free-running decoding (the evaluation's syntheses) for one trial."""

    def __init__(self, max_decoder_steps: int):
        self.max_decoder_steps = max_decoder_steps

    def on_train_start(self, trainer: Any) -> None:
        model = trainer.model
        model.max_decoder_steps = min(int(model.max_decoder_steps), self.max_decoder_steps)


def failure_reason(err: BaseException) -> str:
    """A one-line reason; out-of-memory errors are named as such."""
    text = f"{type(err).__name__}: {err}".strip()
    if "out of memory" in text.lower() or type(err).__name__ == "OutOfMemoryError":
        return f"out of memory: {text}"
    return text[:2000]


class TrialObjective:
    """The Optuna objective: sample, train, score. Picklable state only (paths, configs)."""

    def __init__(
        self,
        base: Config,
        dataset_dir: str | Path,
        space: SearchSpace,
        out_dir: str | Path,
        device: str = "auto",
        trainer_factory: TrainerFactory | None = None,
        extra_callbacks: Callable[[Any], list[Callback]] | None = None,
        deadline: float | None = None,
        stop: StudyStop | None = None,
        proxy: ProxyFn | None = None,
    ):
        self.base = base
        self.dataset_dir = Path(dataset_dir)
        self.space = space
        self.out_dir = Path(out_dir)
        self.device = device
        self.trainer_factory = trainer_factory
        self.extra_callbacks = extra_callbacks  # tests inject faults here: (trial) -> callbacks
        self.deadline = deadline  # time.time() when the study's budget ends; trials are cut to fit
        self.stop = stop if stop is not None else StudyStop()  # SIGTERM/Ctrl+C (runner.run_trials)
        self.proxy = proxy  # held-out intelligibility judge (proxy.py); None = validation mel loss
        self.last_trial_number: int | None = None
        self._eval_cap: dict[int, int | None] = {}  # smallest r -> cap (the dataset does not change)

    def __call__(self, trial: Any) -> float | tuple[float, float]:
        import optuna

        self.last_trial_number = trial.number
        if self.stop.requested:  # created in the moment the stop arrived: give it no parameters
            return self._interrupt(trial, f"{self.stop.reason} before the trial started")
        params = self.space.suggest(trial)
        fault_point("params_sampled")
        cfg = trial_config(self.base, params)
        if self.deadline is not None:
            left = max(0.1, (self.deadline - time.time()) / 60)
            cfg.train.max_minutes = min(cfg.train.max_minutes or left, left)
        run_dir = self.out_dir / "trials" / f"trial_{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir.resolve()))
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("effective_batch", cfg.train.batch_size * cfg.train.grad_accum_steps)
        cap = self._eval_decode_cap(cfg)
        if cap is not None:
            trial.set_user_attr("eval_max_decoder_steps", cap)
        reporter = TrialReporter(trial, cfg)
        started = time.monotonic()
        try:
            steps, stop_reason = self._train(trial, cfg, run_dir, reporter, cap)
        except TrialInterrupted as err:
            return self._interrupt(trial, str(err))
        except KeyboardInterrupt:
            trial.set_user_attr(INTERRUPTED, "KeyboardInterrupt (second Ctrl+C)")
            trial.set_user_attr("fail_reason", "interrupted: KeyboardInterrupt (second Ctrl+C)")
            raise
        except Exception as err:
            trial.set_user_attr("fail_reason", failure_reason(err))
            raise
        seconds = time.monotonic() - started
        self._record(trial, reporter, steps, seconds)
        if reporter.fail_reason:
            trial.set_user_attr("fail_reason", reporter.fail_reason)
            raise TrialFailed(reporter.fail_reason)
        if reporter.prune_reason:
            trial.set_user_attr("prune_reason", reporter.prune_reason)
            raise optuna.TrialPruned(reporter.prune_reason)
        wanted = cfg.tune.steps_per_trial
        if steps < wanted:
            why = stop_reason or "the run stopped early"
            if self.stop.requested or why.startswith(("signal", "study stop", "time budget")):
                why = self.stop.reason if self.stop.requested else why
                return self._interrupt(trial, f"{why} at step {steps} of {wanted}")
            reason = f"stopped at step {steps} of tune.steps_per_trial={wanted}: {why}"
            trial.set_user_attr("fail_reason", reason)
            raise TrialFailed(reason)
        if not reporter.scores:
            reason = f"no evaluation ran in {steps} steps (tune.report_every={cfg.tune.report_every})"
            trial.set_user_attr("fail_reason", reason)
            raise TrialFailed(reason)
        score = reporter.scores[-1][1] + self._final_parts(trial, cfg, run_dir, reporter.history[-1])
        fault_point("trial_scored")
        if cfg.tune.direction_speed:
            return score, seconds / max(1, steps)
        return score

    def _final_parts(self, trial: Any, cfg: Config, run_dir: Path, last: dict[str, float]) -> float:
        """Judge the finished trial (proxy.py), record the score's parts; returns the proxy's part."""
        started = time.monotonic()
        result = measure_proxy(self.proxy, run_dir, cfg, self.dataset_dir, self.device, last)
        trial.set_user_attr("proxy_seconds", round(time.monotonic() - started, 3))
        part = proxy_part(result, cfg)
        trial.set_user_attr("proxy_kind", result.kind)
        trial.set_user_attr("proxy_value", result.value if math.isfinite(result.value) else None)
        trial.set_user_attr("proxy_detail", result.detail)
        parts = {name: round(value, 6) for name, value in score_parts(last, cfg.tune).items()}
        trial.set_user_attr("score_parts", {**parts, "proxy": round(part, 6)})
        return part

    def _interrupt(self, trial: Any, reason: str) -> Any:
        """Record the trial as interrupted (FAILED); the run loop re-queues its parameters."""
        trial.set_user_attr(INTERRUPTED, reason)
        trial.set_user_attr("fail_reason", f"interrupted: {reason}")
        raise TrialInterrupted(reason)

    def _eval_decode_cap(self, cfg: Config) -> int | None:
        if cfg.train.n_val_synth <= 0:
            return None
        key = smallest_r(cfg)
        if key not in self._eval_cap:
            cap = eval_decoder_steps(self.dataset_dir, cfg)
            self._eval_cap[key] = cap
            if cap is not None and cap < cfg.model.max_decoder_steps:
                log.info(
                    "trial evaluations decode at most %d steps (%g x the longest validation utterance "
                    "at r=%d; model.max_decoder_steps=%d stays in the config)",
                    cap,
                    EVAL_DECODE_FACTOR,
                    key,
                    cfg.model.max_decoder_steps,
                )
        cap = self._eval_cap[key]
        return None if cap is None else min(cap, cfg.model.max_decoder_steps)

    def _train(
        self, trial: Any, cfg: Config, run_dir: Path, reporter: TrialReporter, cap: int | None
    ) -> tuple[int, str | None]:
        """Train the trial; (final step, the trainer's stop reason or None)."""
        from tacotron.tune.callbacks import run_callbacks

        factory = self.trainer_factory
        if factory is None:
            from tacotron.train import Trainer as factory
        callbacks = [TrialStopper(self.stop), reporter, *run_callbacks(cfg, run_dir)]
        if cap is not None:
            callbacks.append(EvalDecodeCap(cap))
        if self.extra_callbacks is not None:
            callbacks.extend(self.extra_callbacks(trial))
        if self.stop.requested:
            raise TrialInterrupted(f"{self.stop.reason} before the trial started training")
        trainer = factory(
            cfg, self.dataset_dir, run_dir, device=self.device, callbacks=callbacks, resume=False
        )
        result = trainer.fit()
        return int(trainer.step), getattr(result, "stop_reason", None)

    @staticmethod
    def _record(trial: Any, reporter: TrialReporter, steps: int, seconds: float) -> None:
        trial.set_user_attr("steps", steps)
        trial.set_user_attr("seconds", round(seconds, 3))
        reached = reporter.alignment_reached()
        trial.set_user_attr("steps_to_align", reached[0] if reached else None)
        trial.set_user_attr("seconds_to_align", round(reached[1], 3) if reached else None)
        if reporter.first_eval_seconds is not None:
            trial.set_user_attr(FIRST_EVAL_SECONDS, round(reporter.first_eval_seconds, 3))
        if reporter.history:
            last = {
                k: v for k, v in reporter.history[-1].items() if isinstance(v, float) and math.isfinite(v)
            }
            trial.set_user_attr("val_metrics", last)
