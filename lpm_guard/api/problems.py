"""Every error as RFC 9457 problem+json, with the request id; no stack traces to clients."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from ..errors import LpmGuardError
from ..logs import get_logger
from .middleware import HEADER, SECURITY_HEADERS, current_request_id

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:lpm-guard:problem:"
log = get_logger(__name__)


def problem(
    request: Request,
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    request_id = current_request_id(request.scope)
    body: dict[str, Any] = {
        "type": f"{TYPE_PREFIX}{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
        "instance": request.url.path,
        "request_id": request_id,
    }
    if detail:
        body["detail"] = detail
    body.update(extensions)
    # A 500 is sent from outside every middleware: it carries their headers itself.
    every = {**SECURITY_HEADERS, **({HEADER: request_id} if request_id else {}), **(headers or {})}
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=every)


async def _lpm_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LpmGuardError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
    if "retry_after_s" in exc.extensions and exc.status in (429, 503):
        headers = {"Retry-After": str(exc.extensions["retry_after_s"])}
    return problem(request, exc.status, exc.slug, exc.title, exc.detail, headers, **exc.extensions)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    from http import HTTPStatus

    phrase = HTTPStatus(exc.status_code).phrase
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    return problem(request, exc.status_code, "", phrase, detail, dict(exc.headers or {}) or None)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"location": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
        for err in exc.errors()
    ]
    return problem(
        request,
        422,
        "invalid-request",
        "The request is not valid",
        "; ".join(f"{e['location']}: {e['message']}" for e in errors),
        errors=errors,
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", path=request.url.path)
    return problem(
        request,
        500,
        "internal-error",
        "Internal server error",
        "Something went wrong on our side; quote the request id when you report it.",
    )


async def _refused_by_database(request: Request, exc: Exception) -> JSONResponse:
    """A value the database cannot store (too long, a NUL byte): bad input that got past the
    checks at the edge. Nothing was written; the client hears a 422, not a 500."""
    log.warning("the database refused a value", path=request.url.path, error=str(exc)[:200])
    return problem(
        request,
        422,
        "invalid-request",
        "The request is not valid",
        "a value is too long or holds characters that cannot be stored",
    )


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    """The database cannot be reached (stopped, restarting, the network): a 503 the client may
    retry. The request's transaction was rolled back: nothing of it was written."""
    log.warning("the database cannot be reached", path=request.url.path, error=str(exc)[:200])
    return problem(
        request,
        503,
        "database-unavailable",
        "Service unavailable",
        "the database cannot be reached; try again shortly",
        {"Retry-After": "5"},
        retry_after_s=5,
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(LpmGuardError, _lpm_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DataError, _refused_by_database)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(InterfaceError, _database_down)
    app.add_exception_handler(Exception, _unexpected)
