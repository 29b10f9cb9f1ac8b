"""Alerts: events reach a webhook and a Telegram-style endpoint, are rate-limited, and a refusing or slow
endpoint never blocks or breaks the caller. Only 127.0.0.1 is contacted."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from tests.helpers.servers import recording_server, refusing_url

from tacotron.config import Config, ConfigError, apply_overrides
from tacotron.tracking import build_tracking_callbacks
from tacotron.tracking.alerts import AlertCallback, RateLimiter
from tacotron.tracking.senders import (
    CredentialsError,
    TelegramDestination,
    WebhookDestination,
    destinations_from_env,
)
from tacotron.train.logging import EventLog

TOKEN = "123456:SECRET-token-value"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fake_trainer(run_dir: Path) -> SimpleNamespace:
    """What AlertCallback reads from a Trainer: is_main, run_dir, events (a real EventLog), step."""
    return SimpleNamespace(is_main=True, run_dir=run_dir, events=EventLog(run_dir / "events.jsonl"), step=0)


def started(cb: AlertCallback, trainer: SimpleNamespace) -> AlertCallback:
    """As the Trainer wires it: on_train_start, and every logged event reaches `on_event`."""
    cb.on_train_start(trainer)
    trainer.events.listeners.append(lambda record: cb.on_event(trainer, record))
    return cb


def test_health_events_reach_webhook_and_telegram(tmp_path):
    run = tmp_path / "run_a"
    with recording_server() as hook, recording_server() as telegram:
        trainer = fake_trainer(run)
        trainer.events.log(0, "rollback", reason="before start: not alerted")
        destinations = [
            WebhookDestination(hook.url + "/hook"),
            TelegramDestination(TOKEN, "42", telegram.url),
        ]
        cb = started(
            AlertCallback(["rollback", "no_alignment", "train_end"], destinations, min_interval_s=0), trainer
        )
        trainer.events.log(5, "rollback", reason="to step 4", action="checkpoints/step_00000004.pt")
        trainer.events.log(6, "lr_scaled", reason="x0.5")  # not listed
        trainer.events.log(
            8, "no_alignment", reason="diagonality 0.1 < 0.5", fix="raise loss.guided_attn_weight"
        )
        trainer.events.log(10, "train_end", reason="max_steps", action="checkpoint")
        cb.on_train_end(trainer)
        hooks, grams = hook.wait_for(3), telegram.wait_for(3)
    assert [r.body["kind"] for r in hooks] == ["rollback", "no_alignment", "train_end"]
    assert [r.body["step"] for r in hooks] == [5, 8, 10]
    assert hooks[0].path == "/hook" and hooks[0].body["run"] == "run_a"
    assert "to step 4" in hooks[0].body["text"] and hooks[0].body["event"]["action"].endswith(
        "step_00000004.pt"
    )
    assert "guided_attn_weight" in hooks[1].body["text"]
    assert "finished at step 10" in hooks[2].body["text"]
    assert {r.path for r in grams} == {f"/bot{TOKEN}/sendMessage"}
    assert [r.body["chat_id"] for r in grams] == ["42"] * 3
    assert cb.sender.sent == 6 and cb.sender.failures == 0


def test_rate_limit_per_kind_and_per_hour_with_final_kinds_exempt():
    clock = FakeClock()
    limiter = RateLimiter(min_interval_s=60, max_per_hour=3, clock=clock)
    assert limiter.allow("rollback")
    assert not limiter.allow("rollback")  # same kind within a minute
    assert limiter.allow("no_alignment")
    clock.now += 61
    assert limiter.allow("rollback")
    clock.now += 61
    assert not limiter.allow("give_up")  # 3 this hour already
    assert limiter.allow("train_end")  # final kinds are exempt from the hourly cap
    clock.now += 3600
    assert limiter.allow("give_up")


def test_repeated_events_are_suppressed_and_counted(tmp_path):
    clock = FakeClock()
    with recording_server() as hook:
        trainer = fake_trainer(tmp_path)
        cb = started(
            AlertCallback(["rollback"], [WebhookDestination(hook.url)], min_interval_s=300, clock=clock),
            trainer,
        )
        for step in (1, 2, 3):
            trainer.events.log(step, "rollback")
        clock.now += 301
        trainer.events.log(4, "rollback")
        cb.on_train_end(trainer)
        got = hook.wait_for(2)
    assert [r.body["step"] for r in got] == [1, 4]
    assert cb.suppressed == 2


def test_refusing_endpoint_is_counted_and_logged_without_the_token(tmp_path, caplog):
    trainer = fake_trainer(tmp_path)
    destinations = [WebhookDestination(refusing_url()), TelegramDestination(TOKEN, "42", refusing_url())]
    cb = started(AlertCallback(["rollback", "train_end"], destinations, min_interval_s=0), trainer)
    with caplog.at_level(logging.WARNING, logger="tacotron.tracking"):
        t0 = time.monotonic()
        trainer.events.log(3, "rollback")
        trainer.events.log(4, "train_end")
        cb.on_train_end(trainer)  # waits for the queue: refused connections fail at once
        elapsed = time.monotonic() - t0
    assert elapsed < 3.0
    assert cb.sender.failures == 4 and cb.sender.sent == 0
    warnings = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert len(warnings) == 4 and any("telegram" in w for w in warnings)
    assert TOKEN not in caplog.text and "SECRET" not in caplog.text


def test_slow_endpoint_never_blocks_the_training_thread(tmp_path):
    with recording_server(delay_s=2.0) as slow:
        trainer = fake_trainer(tmp_path)
        cb = started(
            AlertCallback(["rollback"], [WebhookDestination(slow.url)], min_interval_s=0, timeout_s=0.3),
            trainer,
        )
        t0 = time.monotonic()
        trainer.events.log(1, "rollback")
        hook_time = time.monotonic() - t0
        slow.wait_for(1)
        cb.on_train_end(trainer)
        total = time.monotonic() - t0
    assert hook_time < 0.2, f"logging the event blocked for {hook_time:.2f} s"
    assert total < 2.0  # close() waits about one timeout, not for the slow server
    assert cb.sender.failures == 1  # the 0.3 s timeout


def test_crash_is_alerted_with_the_exception(tmp_path):
    with recording_server() as hook:
        trainer = fake_trainer(tmp_path)
        trainer.step = 17
        cb = started(AlertCallback(["crash"], [WebhookDestination(hook.url)]), trainer)
        cb.on_crash(trainer, RuntimeError("CUDA out of memory"))
        got = hook.wait_for(1)
    assert got[0].body["kind"] == "crash" and got[0].body["step"] == 17
    assert "RuntimeError: CUDA out of memory" in got[0].body["text"]


def test_other_ranks_send_nothing(tmp_path):
    trainer = fake_trainer(tmp_path)
    trainer.is_main = False
    cb = started(AlertCallback(["rollback"], [WebhookDestination(refusing_url())]), trainer)
    trainer.events.log(1, "rollback")
    cb.on_train_end(trainer)
    assert cb.sender is None


# ---- credentials ----------------------------------------------------------------------------------
def test_credentials_come_from_env_and_telegram_needs_both():
    found = destinations_from_env({"TACOTRON_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/x"})
    assert [d.name for d in found] == ["webhook"]
    assert destinations_from_env({}) == []
    with pytest.raises(CredentialsError, match="TACOTRON_TELEGRAM_CHAT_ID"):
        destinations_from_env({"TACOTRON_TELEGRAM_TOKEN": TOKEN})
    with pytest.raises(CredentialsError, match="http"):
        destinations_from_env({"TACOTRON_ALERT_WEBHOOK_URL": "file:///etc/passwd"})


def test_credentials_file_inside_a_git_work_tree_is_refused(tmp_path):
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "configs").mkdir()
    secret = repo / "configs" / "alerts.yaml"
    secret.write_text(f"telegram_token: '{TOKEN}'\ntelegram_chat_id: 42\n")
    with pytest.raises(CredentialsError, match="inside the git work tree"):
        destinations_from_env({"TACOTRON_ALERT_CREDENTIALS": str(secret)})


def test_credentials_file_outside_the_repository_is_read_and_env_wins(tmp_path):
    secret = tmp_path / "home" / "alerts.yaml"
    secret.parent.mkdir()
    secret.write_text(
        f"telegram_token: '{TOKEN}'\ntelegram_chat_id: 42\nwebhook_url: http://127.0.0.1:1/file\n"
    )
    secret.chmod(0o600)
    env = {"TACOTRON_ALERT_CREDENTIALS": str(secret), "TACOTRON_ALERT_WEBHOOK_URL": "http://127.0.0.1:2/env"}
    found = {d.name: d for d in destinations_from_env(env)}
    assert set(found) == {"webhook", "telegram"}
    assert found["webhook"]._url == "http://127.0.0.1:2/env"
    assert found["telegram"]._url == f"https://api.telegram.org/bot{TOKEN}/sendMessage"
    secret.write_text("bot_token: x\n")
    with pytest.raises(CredentialsError, match="unknown keys"):
        destinations_from_env({"TACOTRON_ALERT_CREDENTIALS": str(secret)})
    with pytest.raises(CredentialsError, match="no such file"):
        destinations_from_env({"TACOTRON_ALERT_CREDENTIALS": str(tmp_path / "missing.yaml")})


def test_a_token_in_the_config_is_an_unknown_key(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(f"train:\n  telegram_token: '{TOKEN}'\n")
    with pytest.raises(ConfigError, match="unknown config key 'train.telegram_token'"):
        Config.load(path)
    with pytest.raises(ConfigError, match="train.alert_webhook_url"):
        apply_overrides(Config(), ["train.alert_webhook_url=http://example.invalid"])


# ---- factory --------------------------------------------------------------------------------------
def test_factory_builds_only_what_is_configured(tmp_path, caplog):
    cfg = Config()
    cfg.train.loggers = ["tensorboard"]
    assert build_tracking_callbacks(cfg, tmp_path, env={}) == []
    cfg.train.alerts = ["rollback", "train_end"]
    with caplog.at_level(logging.WARNING, logger="tacotron.tracking"):
        assert build_tracking_callbacks(cfg, tmp_path, env={}) == []
    assert "no destination" in caplog.text
    (cb,) = build_tracking_callbacks(cfg, tmp_path, env={"TACOTRON_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/"})
    assert isinstance(cb, AlertCallback) and cb.kinds == {"rollback", "train_end"}
    cfg.train.loggers = ["tensorboard", "wandb"]
    with pytest.raises(ConfigError, match="wandb"):
        build_tracking_callbacks(cfg, tmp_path, env={})
