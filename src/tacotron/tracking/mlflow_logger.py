"""`MlflowCallback`: the run in MLflow (params once, metrics per step, samples and report as artifacts).

Resume: the MLflow run id is kept in `run_dir/mlflow_run_id`, so a resumed run continues the same
MLflow run. MLflow refuses to change a logged param ("Changing param values is not allowed"), so on
resume only params not logged yet are logged; a param whose value changed (e.g. `--set
train.max_steps=...`) is recorded as the tag `changed_param.<key>` = "<old> -> <new> (resumed at step N)"
and a warning. Steps re-run after the checkpoint appear twice in a metric's history (MLflow keeps
both); metrics.jsonl holds the one consistent history.

Nested runs (Smart Tuner trials): give `parent_run_id` (or set TACOTRON_MLFLOW_PARENT_RUN_ID); the
trial's run gets the tag `mlflow.parentRunId`. `open_parent_run` / `end_run` create and close the
study's parent run. MLflow is imported inside functions (the GPU machine may not have it).

Store: `train.mlflow_tracking_uri` (a URI, or a folder path), else $MLFLOW_TRACKING_URI, else ./mlruns.
MLflow 3 refuses local folder stores unless MLFLOW_ALLOW_FILE_STORE=true; choosing a folder here is
that opt-in, so it is set for this process when unset (an explicit "false" is respected).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tacotron.train.callbacks import Callback

if TYPE_CHECKING:
    from tacotron.train.callbacks import StepResult
    from tacotron.train.trainer import Trainer

log = logging.getLogger(__name__)

RUN_ID_FILE = "mlflow_run_id"
ENV_PARENT_RUN = "TACOTRON_MLFLOW_PARENT_RUN_ID"
MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
PARAMS_PER_BATCH = 100  # MLflow's limit per log_batch
METRICS_PER_BATCH = 1000
REPORT_FILES = ("report.html", "report.md", "config.yaml", "events.jsonl")


def resolve_tracking_uri(configured: str) -> str:
    """A URI for MlflowClient: the configured one, a folder path made a file: URI, or the defaults."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI", "") or "mlruns"
    if "://" in uri or uri.startswith(("databricks", "sqlite:", "file:")):
        return uri
    return Path(uri).expanduser().resolve().as_uri()


def make_client(tracking_uri: str) -> Any:
    """MlflowClient for `tracking_uri` (opting in to the folder store for file: URIs, see module doc)."""
    if tracking_uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from tacotron.extras import require

    require("mlflow", "mlflow", "the MLflow logger (train.loggers: [mlflow])")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri)


def metric_name(name: str) -> str:
    """ "val/gate/accuracy" -> "val/gate.accuracy": one "/" level (the UI's group), dots below it.

    MLflow's folder store keeps a metric as a file at its name's path, so "val/gate" and
    "val/gate/accuracy" cannot both exist; one level of folders can never collide that way.
    """
    group, sep, rest = name.partition("/")
    return f"{group}{sep}{rest.replace('/', '.')}"


def flatten_config(cfg_dict: dict[str, Any]) -> dict[str, str]:
    """{"section.key": str(value)} (values cut to MLflow's length limit)."""
    return {
        f"{section}.{key}": str(value)[:MAX_PARAM_CHARS]
        for section, values in cfg_dict.items()
        for key, value in values.items()
    }


def open_run(
    client: Any,
    experiment: str,
    run_dir: Path,
    *,
    run_name: str | None = None,
    parent_run_id: str | None = None,
) -> tuple[str, bool]:
    """(run id, resumed): the run recorded in `run_dir/mlflow_run_id` if the store still has it, else a new one."""
    from mlflow.exceptions import MlflowException

    id_file = Path(run_dir) / RUN_ID_FILE
    if id_file.is_file():
        run_id = id_file.read_text(encoding="utf-8").strip()
        try:
            run = client.get_run(run_id)
        except MlflowException as err:
            log.warning(
                "%s names MLflow run %s, which this store lacks (%s); starting a new run",
                id_file,
                run_id,
                err,
            )
        else:
            if run.info.lifecycle_stage != "deleted":
                client.update_run(run_id, status="RUNNING")
                return run_id, True
            log.warning("MLflow run %s was deleted; starting a new run", run_id)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found is not None else client.create_experiment(experiment)
    tags = {"mlflow.parentRunId": parent_run_id} if parent_run_id else {}
    run = client.create_run(experiment_id, tags=tags, run_name=run_name or Path(run_dir).resolve().name)
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    tmp = id_file.with_name(id_file.name + ".tmp")
    tmp.write_text(run.info.run_id + "\n", encoding="utf-8")
    tmp.replace(id_file)
    return run.info.run_id, False


def log_params_once(
    client: Any, run_id: str, params: dict[str, str], note: str
) -> dict[str, tuple[str, str]]:
    """Log params the run lacks; changed values become `changed_param.<key>` tags. Returns the changes."""
    from mlflow.entities import Param, RunTag

    logged = client.get_run(run_id).data.params
    new = [Param(k, v) for k, v in params.items() if k not in logged]
    changed = {k: (logged[k], v) for k, v in params.items() if k in logged and logged[k] != v}
    for i in range(0, len(new), PARAMS_PER_BATCH):
        client.log_batch(run_id, params=new[i : i + PARAMS_PER_BATCH])
    if changed:
        tags = [
            RunTag(f"changed_param.{k}", f"{old} -> {now} ({note})"[:MAX_PARAM_CHARS])
            for k, (old, now) in changed.items()
        ]
        client.log_batch(run_id, tags=tags)
        log.warning("MLflow params changed on resume (kept as tags changed_param.*): %s", changed)
    return changed


def open_parent_run(
    tracking_uri: str, experiment: str, out_dir: str | Path, run_name: str | None = None
) -> str:
    """The Smart Tuner's study run (reused across restarts via out_dir/mlflow_run_id); returns its id."""
    client = make_client(resolve_tracking_uri(tracking_uri))
    run_id, _ = open_run(client, experiment, Path(out_dir), run_name=run_name)
    return run_id


def end_run(tracking_uri: str, run_id: str, status: str = "FINISHED") -> None:
    """Mark a run FINISHED / FAILED / KILLED (e.g. the tuner's parent run when the study ends)."""
    make_client(resolve_tracking_uri(tracking_uri)).set_terminated(run_id, status=status)


class MlflowCallback(Callback):
    """Mirror a training run into MLflow (main rank only).

    Per-step metrics are `train/<loss term>`, `train/grad_norm`, `train/lr`, `train/skipped`, buffered
    and written every `flush_every` steps and at every evaluation/checkpoint; validation metrics keep
    their `val/...` names; below the first "/" the names use dots (`train/mel.before`, see
    `metric_name`). Artifacts: the evaluation's samples (alignment/mel images, wavs) under
    `samples/`, and at the end report.html/md, config.yaml and events.jsonl under `run/`.
    Logging errors after start-up (a tracking server going away) are warnings counted in `failures`;
    errors while opening the run raise, so a wrong URI shows at start.
    """

    def __init__(
        self,
        tracking_uri: str,
        experiment: str,
        *,
        parent_run_id: str | None = None,
        run_name: str | None = None,
        tags: dict[str, str] | None = None,
        flush_every: int = 10,
    ):
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.experiment = experiment
        self.parent_run_id = parent_run_id or os.environ.get(ENV_PARENT_RUN) or None
        self.run_name = run_name
        self.tags = dict(tags or {})
        self.flush_every = max(1, flush_every)
        self.run_id: str | None = None  # kept after the run ends (the tuner may want it)
        self.failures = 0
        self._active = False  # between on_train_start and on_train_end / on_crash
        self._client: Any = None
        self._pending: list[Any] = []

    # ---- hooks -----------------------------------------------------------------------------------
    def on_train_start(self, trainer: Trainer) -> None:
        if not trainer.is_main:
            return
        self._client = make_client(self.tracking_uri)
        self.run_id, resumed = open_run(
            self._client,
            self.experiment,
            trainer.run_dir,
            run_name=self.run_name,
            parent_run_id=self.parent_run_id,
        )
        note = f"resumed at step {trainer.step}"
        self._active = True
        log_params_once(self._client, self.run_id, flatten_config(trainer.cfg.to_dict()), note)
        tags = {
            "run_dir": str(Path(trainer.run_dir).resolve()),
            "dataset_dir": str(trainer.dataset_dir),
            **self.tags,
        }
        if resumed:
            tags["last_resume_step"] = str(trainer.step)
        for key, value in tags.items():
            self._client.set_tag(self.run_id, key, value)
        log.info("MLflow run %s (%s) in %s", self.run_id, "resumed" if resumed else "new", self.tracking_uri)

    def on_step_end(self, trainer: Trainer, result: StepResult) -> None:
        if not self._active:
            return
        values = {f"train/{k}": v for k, v in result.losses.items()}
        values.update(
            {
                "train/grad_norm": result.grad_norm,
                "train/lr": result.lr,
                "train/skipped": float(result.skipped),
            }
        )
        self._add(result.step, values)
        if result.step % self.flush_every == 0:
            self._flush()

    def on_eval_end(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        if not self._active:
            return
        self._add(trainer.step, metrics)
        self._flush()
        samples = sorted((Path(trainer.run_dir) / "samples").glob(f"step_{trainer.step:08d}_*"))
        for path in samples:
            self._guard("log_artifact", self._client.log_artifact, self.run_id, str(path), "samples")

    def on_checkpoint(self, trainer: Trainer, path: Path) -> None:
        if self._active:
            self._flush()

    def on_train_end(self, trainer: Trainer) -> None:
        self._finish(trainer, "FINISHED")

    def on_crash(self, trainer: Trainer, error: BaseException) -> None:
        """`fit()` raised: flush, then mark the run KILLED (Ctrl+C) or FAILED."""
        status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        if self._active:
            self._guard(
                "set_tag",
                self._client.set_tag,
                self.run_id,
                "error",
                f"{type(error).__name__}: {error}"[:5000],
            )
        self._finish(trainer, status)

    # ---- internals -------------------------------------------------------------------------------
    def _finish(self, trainer: Trainer, status: str) -> None:
        if not self._active:
            return
        self._active = False
        self._flush()
        for name in REPORT_FILES:
            path = Path(trainer.run_dir) / name
            if path.is_file():
                self._guard("log_artifact", self._client.log_artifact, self.run_id, str(path), "run")
        self._guard("set_terminated", self._client.set_terminated, self.run_id, status)
        log.info("MLflow run %s %s (%d logging failures)", self.run_id, status, self.failures)

    def _add(self, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._pending.extend(Metric(metric_name(k), float(v), now, step) for k, v in values.items())

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for i in range(0, len(pending), METRICS_PER_BATCH):
            self._guard(
                "log_batch", self._client.log_batch, self.run_id, metrics=pending[i : i + METRICS_PER_BATCH]
            )

    def _guard(self, what: str, call: Any, *args: Any, **kwargs: Any) -> None:
        """Tracking is a side channel: after start-up a failing store is logged and counted, not fatal."""
        from mlflow.exceptions import MlflowException

        try:
            call(*args, **kwargs)
        except (MlflowException, OSError) as err:
            self.failures += 1
            log.warning("MLflow %s failed (%d failures; training continues): %s", what, self.failures, err)
