"""Where alerts go (a webhook, a Telegram bot), where their credentials come from, and a background sender.

Credentials are read only from environment variables or from a file named by one, and that file must
lie outside any git work tree, so that a token can never be committed with a config. The
config has no field for them at all, so a token in a YAML file is rejected as an unknown key.

Environment:
    TACOTRON_ALERT_WEBHOOK_URL   POST JSON {"text", "kind", "step", "run", "event"} here
    TACOTRON_TELEGRAM_TOKEN      bot token; with TACOTRON_TELEGRAM_CHAT_ID
    TACOTRON_TELEGRAM_CHAT_ID
    TACOTRON_TELEGRAM_API        API base URL (default https://api.telegram.org; tests point it at 127.0.0.1)
    TACOTRON_ALERT_CREDENTIALS   a YAML/JSON file outside the repository with keys webhook_url,
                                 telegram_token, telegram_chat_id (environment variables win)
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import queue
import re
import stat
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

ENV_WEBHOOK = "TACOTRON_ALERT_WEBHOOK_URL"
ENV_TELEGRAM_TOKEN = "TACOTRON_TELEGRAM_TOKEN"
ENV_TELEGRAM_CHAT = "TACOTRON_TELEGRAM_CHAT_ID"
ENV_TELEGRAM_API = "TACOTRON_TELEGRAM_API"
ENV_CREDENTIALS = "TACOTRON_ALERT_CREDENTIALS"
TELEGRAM_API = "https://api.telegram.org"
_TELEGRAM_TOKEN_RE = re.compile(r"\d+:[A-Za-z0-9_-]{8,}")  # bot id, colon, secret (BotFather's format)
_FILE_KEYS = {
    "webhook_url": ENV_WEBHOOK,
    "telegram_token": ENV_TELEGRAM_TOKEN,
    "telegram_chat_id": ENV_TELEGRAM_CHAT,
}


class CredentialsError(ValueError):
    """The alert credentials file is missing, malformed, or inside a git work tree."""


@dataclass(frozen=True)
class Message:
    """One alert: a short human text plus the machine-readable event it came from."""

    kind: str
    step: int
    run: str
    text: str
    event: dict[str, Any]


class Destination(Protocol):
    name: str

    def send(self, message: Message, timeout: float) -> None:
        """Deliver or raise (urllib errors, OSError); never log secrets."""


def _post_json(url: str, payload: dict[str, Any], timeout: float) -> None:
    data = json.dumps(payload, default=str).encode("utf-8")
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http(s) only, checked)
        response.read()


def _check_http(url: str, what: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise CredentialsError(f"{what} must be an http(s) URL, got {url[:16]!r}...")
    return url


class WebhookDestination:
    """POST JSON; "text" makes it work with Slack/Mattermost-style incoming webhooks too."""

    name = "webhook"

    def __init__(self, url: str):
        self._url = _check_http(url.strip(), ENV_WEBHOOK)
        self.secrets = (self._url,)

    def send(self, message: Message, timeout: float) -> None:
        payload = {"text": message.text, "kind": message.kind, "step": message.step, "run": message.run}
        _post_json(self._url, {**payload, "event": message.event}, timeout)


class TelegramDestination:
    """Bot API sendMessage. The token is part of the URL, so errors are reported without the URL.

    The token is stripped (a trailing newline or CR from a file or `export` is common) and must look like
    BotFather's "digits:secret"; a malformed one is refused at start without echoing it, rather than
    failing on every alert with an error that would quote the URL.
    """

    name = "telegram"

    def __init__(self, token: str, chat_id: str, api_base: str = TELEGRAM_API):
        token, chat_id = token.strip(), str(chat_id).strip()
        if not _TELEGRAM_TOKEN_RE.fullmatch(token):
            raise CredentialsError(
                f"{ENV_TELEGRAM_TOKEN} does not look like a bot token ('<digits>:<letters, digits, - or _>', "
                f"{len(token)} characters given); check it for quotes or stray characters"
            )
        if not re.fullmatch(r"-?\d+|@\w+", chat_id):
            raise CredentialsError(f"{ENV_TELEGRAM_CHAT} must be a numeric chat id or @channel name")
        self._url = f"{_check_http(api_base, ENV_TELEGRAM_API).rstrip('/')}/bot{token}/sendMessage"
        self._chat_id = chat_id
        self.secrets = (token,)

    def send(self, message: Message, timeout: float) -> None:
        _post_json(self._url, {"chat_id": self._chat_id, "text": message.text}, timeout)


def destinations_from_env(env: dict[str, str] | None = None) -> list[Destination]:
    """Destinations configured by the environment (and the credentials file it names); [] if none."""
    env = dict(os.environ if env is None else env)
    if env.get(ENV_CREDENTIALS):
        for key, value in read_credentials_file(Path(env[ENV_CREDENTIALS])).items():
            env.setdefault(_FILE_KEYS[key], value)
    found: list[Destination] = []
    if env.get(ENV_WEBHOOK):
        found.append(WebhookDestination(env[ENV_WEBHOOK]))
    token, chat = env.get(ENV_TELEGRAM_TOKEN), env.get(ENV_TELEGRAM_CHAT)
    if token and chat:
        found.append(TelegramDestination(token, chat, env.get(ENV_TELEGRAM_API) or TELEGRAM_API))
    elif token or chat:
        raise CredentialsError(f"Telegram alerts need both {ENV_TELEGRAM_TOKEN} and {ENV_TELEGRAM_CHAT}")
    return found


def git_work_tree_of(path: Path) -> Path | None:
    """The enclosing git work tree (a folder holding `.git`, a directory or a worktree file), or None."""
    for folder in path.resolve().parents:
        if (folder / ".git").exists():
            return folder
    return None


def read_credentials_file(path: Path) -> dict[str, str]:
    """Keys webhook_url / telegram_token / telegram_chat_id from a YAML or JSON mapping outside any repository."""
    import yaml

    if not path.is_file():
        raise CredentialsError(f"{ENV_CREDENTIALS}={path}: no such file")
    tree = git_work_tree_of(path)
    if tree is not None:
        raise CredentialsError(
            f"{ENV_CREDENTIALS}={path} lies inside the git work tree {tree}; keep credentials outside any "
            "repository (e.g. ~/.config/tacotron/alerts.yaml) so they cannot be committed"
        )
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is readable by other users; chmod 600 it", path)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise CredentialsError(f"{path}: expected a mapping with keys {sorted(_FILE_KEYS)}")
    unknown = sorted(set(data) - set(_FILE_KEYS))
    if unknown:
        raise CredentialsError(f"{path}: unknown keys {unknown}; expected {sorted(_FILE_KEYS)}")
    return {k: str(v) for k, v in data.items() if v not in (None, "")}


class BackgroundSender:
    """Deliver messages from a daemon thread so a slow or dead endpoint never blocks training.

    Each request has `timeout` seconds; a failure is logged as a warning (destination and error type,
    never the URL, which may hold a token) and counted in `failures`. A full queue drops the message
    (counted in `dropped`). `close(wait)` waits at most `wait` seconds for what is queued.
    """

    def __init__(self, destinations: list[Destination], timeout: float, max_queue: int = 64):
        self.destinations = list(destinations)
        self.timeout = timeout
        self.sent = 0
        self.failures = 0
        self.dropped = 0
        self._queue: queue.Queue[Message | None] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._work, name="tacotron-alerts", daemon=True)
        self._thread.start()

    def submit(self, message: Message) -> bool:
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self.dropped += 1
            log.warning(
                "alert queue full: dropped %s alert at step %d (%d dropped)",
                message.kind,
                message.step,
                self.dropped,
            )
            return False
        return True

    def close(self, wait: float) -> None:
        try:
            self._queue.put(None, timeout=max(wait, 0.01))
        except queue.Full:
            log.warning("alert sender still busy; %d queued alerts are abandoned", self._queue.qsize())
            return
        self._thread.join(timeout=wait)
        if self._thread.is_alive():
            log.warning("alert sender did not finish within %.1f s; leaving it behind (daemon thread)", wait)

    def _work(self) -> None:
        while True:
            message = self._queue.get()
            if message is None:
                return
            for destination in self.destinations:
                self._deliver(destination, message)

    def _deliver(self, destination: Destination, message: Message) -> None:
        try:
            destination.send(message, self.timeout)
        except (
            OSError,
            http.client.HTTPException,
            ValueError,
        ) as err:  # URLError, HTTPError, timeouts, resets
            self.failures += 1
            log.warning(
                "alert %s (step %d) to %s failed: %s: %s (%d failures so far; training continues)",
                message.kind,
                message.step,
                destination.name,
                type(err).__name__,
                _redact(_without_urls(err), getattr(destination, "secrets", ())),
                self.failures,
            )
            return
        self.sent += 1


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every secret (token, webhook URL) replaced: some errors (http.client.InvalidURL) quote
    the URL they refused."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def _without_urls(err: BaseException) -> str:
    """urllib's messages carry a reason, not the URL; HTTPError's str has code and reason only."""
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        return str(err.reason)
    return str(err)
