"""MLflow logger against a local folder store: params once, changed params on resume as tags (no
"Changing param values is not allowed"), per-step metrics, artifacts, nested trial runs, failed runs."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from tests.helpers.configs import tiny_config
from tests.helpers.servers import recording_server, refusing_url

from tacotron.tracking.mlflow_logger import (
    RUN_ID_FILE,
    MlflowCallback,
    end_run,
    make_client,
    open_parent_run,
    resolve_tracking_uri,
)

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(autouse=True)
def quiet_mlflow(monkeypatch):
    """No telemetry, no inherited tracking server or parent run."""
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in ("MLFLOW_TRACKING_URI", "TACOTRON_MLFLOW_PARENT_RUN_ID", "TACOTRON_ALERT_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)


def store(tmp_path: Path) -> str:
    return str(tmp_path / "mlruns")


def fake_trainer(run_dir: Path, step: int = 0, **train) -> SimpleNamespace:
    cfg = tiny_config(train=train)
    return SimpleNamespace(is_main=True, run_dir=run_dir, dataset_dir=run_dir / "data", step=step, cfg=cfg)


def only_run(client, experiment: str = "tacotron"):
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 1, [r.info.run_id for r in runs]
    return runs[0]


def test_tracking_uri_resolution(tmp_path, monkeypatch):
    assert resolve_tracking_uri(str(tmp_path / "m")) == (tmp_path / "m").as_uri()
    assert resolve_tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"
    assert resolve_tracking_uri("sqlite:///x.db") == "sqlite:///x.db"
    monkeypatch.chdir(tmp_path)
    assert resolve_tracking_uri("") == (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5001")
    assert resolve_tracking_uri("") == "http://127.0.0.1:5001"


def test_resume_reuses_the_run_and_changed_params_become_tags(tmp_path):
    run_dir = tmp_path / "run"
    first = MlflowCallback(store(tmp_path), "tacotron")
    first.on_train_start(fake_trainer(run_dir, max_steps=4))
    run_id = first.run_id
    first.on_train_end(fake_trainer(run_dir))
    assert (run_dir / RUN_ID_FILE).read_text().strip() == run_id

    again = MlflowCallback(store(tmp_path), "tacotron")
    again.on_train_start(fake_trainer(run_dir, step=4, max_steps=8))  # would raise without log_params_once
    assert again.run_id == run_id
    again.on_train_end(fake_trainer(run_dir))
    run = only_run(make_client(resolve_tracking_uri(store(tmp_path))))
    assert run.data.params["train.max_steps"] == "4"
    assert run.data.tags["changed_param.train.max_steps"] == "4 -> 8 (resumed at step 4)"
    assert run.data.tags["last_resume_step"] == "4"
    assert "changed_param.train.lr" not in run.data.tags
    assert run.info.status == "FINISHED" and again.failures == 0


def test_trials_nest_under_the_parent_run(tmp_path, monkeypatch):
    parent = open_parent_run(store(tmp_path), "study", tmp_path / "tune", run_name="study-1")
    assert open_parent_run(store(tmp_path), "study", tmp_path / "tune") == parent  # reused on restart
    direct = MlflowCallback(store(tmp_path), "study", parent_run_id=parent, tags={"trial": "0"})
    direct.on_train_start(fake_trainer(tmp_path / "trial_0"))
    direct.on_train_end(fake_trainer(tmp_path / "trial_0"))
    monkeypatch.setenv("TACOTRON_MLFLOW_PARENT_RUN_ID", parent)  # how a worker process learns it
    via_env = MlflowCallback(store(tmp_path), "study")
    via_env.on_train_start(fake_trainer(tmp_path / "trial_1"))
    via_env.on_train_end(fake_trainer(tmp_path / "trial_1"))
    end_run(store(tmp_path), parent)
    client = make_client(resolve_tracking_uri(store(tmp_path)))
    for trial in (direct, via_env):
        assert client.get_run(trial.run_id).data.tags["mlflow.parentRunId"] == parent
    assert client.get_run(direct.run_id).data.tags["trial"] == "0"
    assert client.get_run(parent).info.status == "FINISHED"


def test_crash_marks_the_run_failed_and_flushes_metrics(tmp_path):
    run_dir = tmp_path / "run"
    cb = MlflowCallback(store(tmp_path), "tacotron", flush_every=100)
    trainer = fake_trainer(run_dir)
    cb.on_train_start(trainer)
    step = SimpleNamespace(
        step=1, losses={"loss": 2.5, "mel/before": float("nan")}, grad_norm=0.5, lr=1e-3, skipped=False
    )
    cb.on_step_end(trainer, step)
    run_id = cb.run_id
    cb.on_crash(trainer, RuntimeError("boom"))
    client = make_client(resolve_tracking_uri(store(tmp_path)))
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["error"] == "RuntimeError: boom"
    assert [m.value for m in client.get_metric_history(run_id, "train/loss")] == [2.5]
    assert [m.step for m in client.get_metric_history(run_id, "train/mel.before")] == [
        1
    ]  # NaN kept, not dropped


def test_a_store_failing_mid_run_is_counted_not_fatal(tmp_path, caplog):
    cb = MlflowCallback(store(tmp_path), "tacotron")
    trainer = fake_trainer(tmp_path / "run")
    cb.on_train_start(trainer)
    cb.run_id = "0" * 32  # a run the store does not have: every write fails like a lost server
    step = SimpleNamespace(step=1, losses={"loss": 1.0}, grad_norm=0.5, lr=1e-3, skipped=False)
    cb.on_step_end(trainer, step)
    cb.on_checkpoint(trainer, tmp_path / "x.pt")
    assert cb.failures == 1 and "MLflow log_batch failed" in caplog.text


def test_tiny_training_with_resume_logs_to_the_file_store_and_alerts(tiny_dataset, tmp_path, monkeypatch):
    """A real Trainer, twice in one run folder: params once, no overwrite error, metrics of all steps,
    samples and report as artifacts; alerts: a refusing endpoint first, a recording one after resume."""
    from tacotron.health.monitor import HealthMonitor
    from tacotron.train import Trainer
    from tacotron.tune.callbacks import run_callbacks

    run_dir = tmp_path / "run"

    def train(max_steps: int, webhook: str) -> None:
        cfg = tiny_config()
        t = cfg.train
        t.max_steps, t.eval_every, t.checkpoint_every, t.log_every = max_steps, 2, 2, 1
        t.loggers, t.mlflow_tracking_uri = ["mlflow"], store(tmp_path)
        t.alerts = ["train_end", "rollback"]
        cfg.model.n_frames_per_step, cfg.model.max_decoder_steps = 3, 20
        cfg.tune.controller = False
        monkeypatch.setenv("TACOTRON_ALERT_WEBHOOK_URL", webhook)
        # run_callbacks: the Debug Reporter first, then tracking (train.loggers, train.alerts)
        trainer = Trainer(cfg, tiny_dataset, run_dir, device="cpu", callbacks=run_callbacks(cfg, run_dir))
        result = trainer.fit()
        assert result.step == max_steps
        health_cb, mlflow_cb, alert_cb = list(trainer.callbacks)
        assert isinstance(health_cb, HealthMonitor)
        assert mlflow_cb.failures == 0
        return alert_cb

    refused = train(2, refusing_url())
    assert refused.sender.failures == 1 and refused.sender.sent == 0
    with recording_server() as hook:
        delivered = train(4, hook.url)
        got = hook.wait_for(1)
    assert [r.body["kind"] for r in got] == ["train_end"] and got[0].body["step"] == 4

    client = make_client(resolve_tracking_uri(store(tmp_path)))
    run = only_run(client)
    assert run.info.run_id == (run_dir / RUN_ID_FILE).read_text().strip()
    assert run.info.status == "FINISHED" and delivered.sender.sent == 1
    assert run.data.params["train.max_steps"] == "2"
    assert run.data.tags["changed_param.train.max_steps"].startswith("2 -> 4")
    assert run.data.params["model.n_frames_per_step"] == "3"
    losses = client.get_metric_history(run.info.run_id, "train/loss")
    assert sorted({m.step for m in losses}) == [1, 2, 3, 4]
    assert all(m.value > 0 for m in losses)
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "val/loss")) == [2, 4]
    samples = [Path(a.path).name for a in client.list_artifacts(run.info.run_id, "samples")]
    assert any(s.startswith("step_00000004_") and s.endswith(".png") for s in samples)
    assert any(s.endswith(".wav") for s in samples)
    files = {Path(a.path).name for a in client.list_artifacts(run.info.run_id, "run")}
    assert {"report.html", "report.md", "config.yaml", "events.jsonl"} <= files
