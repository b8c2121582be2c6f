"""The OpenAPI schema says what errors look like (issue 18, L8): every error of the API is an
RFC 9457 problem (``problems``), so each operation declares its error responses as
``application/problem+json`` with the ``Problem`` schema: 401 and 403 where a token is needed,
404 where the path names something, the codes a route declares itself (413, 415, 429...), and
``default`` for the rest (409, 429, 503, 500). The OAuth2 endpoints answer in RFC 6749's
format instead, and the pages in HTML: they are left as FastAPI describes them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from .problems import MEDIA_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details, with the request id to quote.",
    "type": "object",
    "properties": {
        "type": {"type": "string", "description": "urn:lpm-guard:problem:SLUG or about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": ["string", "null"]},
    },
    "required": ["type", "title", "status"],
    "additionalProperties": True,
}
REF = {"$ref": "#/components/schemas/Problem"}
NOT_OURS = ("/oauth/", "/.well-known/")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {MEDIA_TYPE: {"schema": REF}}}


def declare_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the problem responses to ``schema`` (FastAPI's, changed in place and returned)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        if path.startswith(NOT_OURS):
            continue
        for method, operation in operations.items():
            if method not in HTTP_METHODS:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for code, response in responses.items():
                if code[0] in "45":
                    response["content"] = {MEDIA_TYPE: {"schema": REF}}
            if operation.get("security"):
                responses.setdefault("401", _problem("No valid access token"))
                responses.setdefault("403", _problem("The token may not do this"))
            if "{" in path:
                responses.setdefault("404", _problem("Nothing of that id (or not yours)"))
            responses.setdefault(
                "default", _problem("Any other error (409, 413, 429, 503, 500...)")
            )
    return schema


def install(app: FastAPI) -> None:
    """Make ``app.openapi`` return FastAPI's schema with the problem responses declared."""
    original: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        schema = original()  # cached by FastAPI on the app: declared once
        if "Problem" not in schema.get("components", {}).get("schemas", {}):
            declare_problems(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
