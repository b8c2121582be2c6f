"""Request ids, request logging and the API's security headers, as plain ASGI middleware."""

from __future__ import annotations

import re
import time
import uuid
from contextvars import ContextVar

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..logs import get_logger

HEADER = "X-Request-ID"
# A caller may pass its own id (to follow a request across services) if it looks like one.
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
_SCOPE_KEY = "lpm_guard.request_id"
log = get_logger("lpm_guard.http")

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
"""On every response; a response that sets its own ``Cache-Control`` (the web pages) keeps it."""


def current_request_id(scope: Scope | None = None) -> str | None:
    """This request's id; ``scope`` finds it after the middleware has returned (the handler
    of unexpected errors runs outside every middleware)."""
    found = _request_id.get()
    if found is None and scope is not None:
        found = scope.get(_SCOPE_KEY)
    return found


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = dict(scope["headers"]).get(HEADER.lower().encode(), b"").decode("latin-1")
        request_id = offered if _ACCEPTABLE.match(offered) else uuid.uuid4().hex
        scope[_SCOPE_KEY] = request_id
        token = _request_id.set(request_id)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")
            _request_id.reset(token)
