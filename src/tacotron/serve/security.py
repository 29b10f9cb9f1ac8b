"""Who may talk to the service: Host-header check, optional API key, and where the key comes from.

- `HostCheck` (ASGI): a request whose Host header (port ignored) is not in `allowed_hosts` gets 421.
  A web page on another site whose name an attacker re-points to 127.0.0.1 (DNS rebinding) sends its
  own name as Host, so a loopback service cannot be reached that way. Default: loopback names only.
- `ApiKeyCheck` (ASGI): when a key is set, every /api/ and /v1/ path (`PROTECTED_PREFIXES`; /v1/ is the
  OpenAI-compatible speech endpoint) except /api/health needs
  `Authorization: Bearer KEY` or `X-API-Key: KEY` (401 otherwise; constant-time comparison). The page,
  /docs and /openapi.json stay open: they hold no data.
- `load_api_key`: the key comes from the environment (`TACOTRON_API_KEY`) or a file
  (`--api-key-file`), never from a command-line value, which any user could read in `ps` and which
  shell history keeps.
- `bind_warnings`: what to tell the operator who binds a non-loopback address.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from tacotron.serve.settings import LOOPBACK_HOSTS, check_api_key

ENV_API_KEY = "TACOTRON_API_KEY"
OPEN_API_PATHS = frozenset({"/api/health"})
PROTECTED_PREFIXES = ("/api/", "/v1/")


class ApiKeyError(ValueError):
    """The API key (environment or file) is missing, unreadable or unusable; never contains the key."""


def load_api_key(key_file: str | Path | None, env: Mapping[str, str] | None = None) -> str | None:
    """The key from `key_file` or `$TACOTRON_API_KEY` (surrounding whitespace stripped), or None.

    Both at once is an error (which one would win is a guess). A key file readable by other users is
    refused, like ssh does with private keys.
    """
    env = os.environ if env is None else env
    from_env = env.get(ENV_API_KEY)
    if key_file is not None and from_env:
        raise ApiKeyError(f"give the API key either in ${ENV_API_KEY} or in --api-key-file, not both")
    if key_file is not None:
        path = Path(key_file)
        if not path.is_file():
            raise ApiKeyError(f"--api-key-file {path}: no such file")
        if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ApiKeyError(f"--api-key-file {path} is readable by other users; chmod 600 it")
        key, source = path.read_text(encoding="utf-8").strip(), f"--api-key-file {path}"
    elif from_env is not None:
        key, source = from_env.strip(), f"${ENV_API_KEY}"
    else:
        return None
    try:
        check_api_key(key)
    except ValueError as err:
        raise ApiKeyError(f"{source}: {err}") from err
    return key


def is_loopback(host: str) -> bool:
    """Whether a bind address or Host name stays on this machine (localhost, 127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def allowed_hosts_for(bind: str, extra: Iterable[str] = ()) -> tuple[str, ...]:
    """Loopback names, the bind address itself when it is a specific address, and `extra` names."""
    hosts = list(LOOPBACK_HOSTS)
    name = bind.strip("[]")
    if name not in ("0.0.0.0", "::", ""):
        hosts.append(f"[{name}]" if ":" in name else name)
    hosts.extend(h.strip() for h in extra if h.strip())
    return tuple(dict.fromkeys(h.lower() for h in hosts))


def bind_warnings(bind: str, api_key: str | None, allowed_hosts: Iterable[str]) -> list[str]:
    """Warnings for an operator: reachable from other machines without a key, any Host accepted."""
    warnings = []
    if not is_loopback(bind) and api_key is None:
        warnings.append(
            f"serving on {bind}, reachable from other machines, without an API key: anyone who can reach "
            f"this port can use the model. Set ${ENV_API_KEY} or --api-key-file, or bind 127.0.0.1"
        )
    if "*" in allowed_hosts:
        warnings.append("--allowed-hosts '*': any Host header is accepted (no DNS-rebinding protection)")
    elif not is_loopback(bind) and all(is_loopback(h) for h in allowed_hosts):
        warnings.append(
            f"serving on {bind} but only loopback Host names are allowed: clients reaching this machine "
            "by name or address get 421 until you list those names in --allowed-hosts"
        )
    return warnings


_HOST_RE = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::\d{1,5})?")


def host_name(value: str) -> str:
    """A Host header without its port, lowercased: "Example.COM:80" -> "example.com", "[::1]:8" -> "[::1]";
    "" for anything that is not a well-formed host[:port]."""
    match = _HOST_RE.fullmatch(value.strip().lower())
    return match.group(1) if match else ""


class HostCheck:
    """Pure ASGI middleware: 421 unless the Host header names this service."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        self.allowed = {h.lower() for h in allowed_hosts}
        self.any = "*" in self.allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.any:
            await self.app(scope, receive, send)
            return
        values = [v for k, v in scope["headers"] if k == b"host"]
        host = host_name(values[0].decode("latin-1")) if len(values) == 1 else ""
        if host and host in self.allowed:
            await self.app(scope, receive, send)
            return
        shown = "missing" if not values else ("repeated" if len(values) > 1 else repr(host[:100]))
        detail = (
            f"Host header {shown} is not served here (allowed: {', '.join(sorted(self.allowed))}); "
            "the operator can add names with --allowed-hosts"
        )
        await JSONResponse({"detail": detail}, status_code=421)(scope, receive, send)


class ApiKeyCheck:
    """Pure ASGI middleware: 401 on `PROTECTED_PREFIXES` paths (but `OPEN_API_PATHS`) without the right key."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.key = api_key.encode("ascii")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(PROTECTED_PREFIXES) or path in OPEN_API_PATHS:
            await self.app(scope, receive, send)
            return
        if self._authorised(scope["headers"]):
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {
                "detail": "missing or wrong API key: send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)

    def _authorised(self, headers: list[tuple[bytes, bytes]]) -> bool:
        offered = []
        for name, value in headers:
            if name == b"x-api-key":
                offered.append(value.strip())
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                offered.append(value[7:].strip())
        # every offered value is compared (constant time each), so timing does not tell which one matched
        return any([hmac.compare_digest(value, self.key) for value in offered])
