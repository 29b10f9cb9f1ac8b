"""A Telegram token with stray whitespace is stripped (it works) and a malformed one is refused at start;
neither ever appears in a log line. Only 127.0.0.1 is contacted."""

from __future__ import annotations

import logging

import pytest
from tests.helpers.servers import recording_server

from tacotron.tracking.senders import (
    BackgroundSender,
    CredentialsError,
    Message,
    TelegramDestination,
    destinations_from_env,
)

SECRET = "SECRET-token-value"
TOKEN = f"123456:{SECRET}"


def _send_one(destination, caplog) -> BackgroundSender:
    sender = BackgroundSender([destination], timeout=2.0)
    with caplog.at_level(logging.DEBUG, logger="tacotron.tracking"):
        sender.submit(Message("rollback", 3, "run", "text", {}))
        sender.close(wait=5.0)
    return sender


@pytest.mark.parametrize("suffix", [" ", "\r", "\r\n", "\n "])
def test_token_with_trailing_whitespace_is_stripped_and_works(caplog, suffix):
    with recording_server() as telegram:
        found = destinations_from_env(
            {
                "TACOTRON_TELEGRAM_TOKEN": TOKEN + suffix,
                "TACOTRON_TELEGRAM_CHAT_ID": " 42\n",
                "TACOTRON_TELEGRAM_API": telegram.url,
            }
        )
        sender = _send_one(found[0], caplog)
        got = list(telegram.requests)
    assert sender.sent == 1 and sender.failures == 0
    assert [r.path for r in got] == [f"/bot{TOKEN}/sendMessage"]
    assert got[0].body["chat_id"] == "42"
    assert SECRET not in caplog.text


@pytest.mark.parametrize("token", [f"123456:{SECRET} x", f"'{TOKEN}'", "not-a-token", f"{TOKEN}\x00"])
def test_malformed_token_is_refused_without_echoing_it(token):
    with pytest.raises(CredentialsError, match="does not look like a bot token") as info:
        TelegramDestination(token, "42")
    assert SECRET not in str(info.value) and "not-a-token" not in str(info.value)


def test_an_error_that_quotes_the_url_is_logged_redacted(caplog):
    destination = TelegramDestination(TOKEN, "42", "http://127.0.0.1:1")
    destination._url = destination._url.replace("/sendMessage", " /sendMessage")  # urllib: InvalidURL
    sender = _send_one(destination, caplog)
    assert sender.failures == 1
    assert "InvalidURL" in caplog.text and "<redacted>" in caplog.text
    assert SECRET not in caplog.text
