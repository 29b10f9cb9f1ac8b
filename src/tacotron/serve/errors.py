"""Bad input becomes a 4xx with one readable sentence in `detail`, never a 500.

`BodySizeLimit` rejects oversized bodies before they are buffered or parsed (both by Content-Length and
by counting streamed bytes, since chunked uploads have no length). The validation handler flattens
pydantic's error list into "field: message" text that a person can act on.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeLimit:
    """Pure ASGI middleware: 413 for request bodies over `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(declared.decode("latin-1"))(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:  # raised inside the route, turned into 413 there
                    raise HTTPException(413, self._message(f"more than {received}"))
            return message

        await self.app(scope, limited_receive, send)

    def _message(self, size: str) -> str:
        return f"request body too large: {size} bytes, limit {self.max_bytes}"

    def _too_large(self, size: str) -> JSONResponse:
        return JSONResponse({"detail": self._message(size)}, status_code=413)


def describe_validation_errors(errors: list[dict[str, Any]]) -> str:
    """pydantic/FastAPI errors -> "text: String should have at least 1 character; seed: ..."."""
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        where = ".".join(loc) or "body"
        if err.get("type") == "json_invalid":
            where = "body"
            msg = f"not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})"
        elif err.get("type") == "missing" and where == "body":
            msg = "a JSON object body is required"
        else:
            msg = err.get("msg", "invalid")
        parts.append(f"{where}: {msg}")
    return "; ".join(parts) or "invalid request"


async def _validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = list(exc.errors())
    return JSONResponse(
        {"detail": describe_validation_errors(errors), "errors": _json_safe(errors)}, status_code=422
    )


def _json_safe(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop pydantic's `ctx`/`input`, which may hold exceptions or the whole (large) body."""
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in errors
    ]


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_handler)
