"""A request body bounded while it streams (issue 18, M3).

Starlette's form parser spools every file part to disk as it reads; a size checked afterwards
comes after the disk has taken the whole body (2 GiB put 2,070 MiB in temporary files before
the 422). ``bounded`` gives a route a ``Request`` whose body ends in a 413 problem as soon as
more than the limit has arrived, so the parser never holds more than the limit; a declared
``Content-Length`` over it is refused before a byte is read.
"""

from __future__ import annotations

from fastapi import Request
from starlette.types import Message

from ..errors import LpmGuardError


class BodyTooLarge(LpmGuardError):
    status, slug, title = 413, "body-too-large", "The request body is too large"


def bounded(request: Request, limit: int) -> Request:
    """``request`` with its body limited to ``limit`` bytes (raises ``BodyTooLarge``)."""
    message = f"the request body is larger than the {limit}-byte limit"
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(message, limit_bytes=limit)
    receive = request.receive
    received = 0

    async def limited() -> Message:
        nonlocal received
        event = await receive()
        if event["type"] == "http.request":
            received += len(event.get("body", b""))
            if received > limit:
                raise BodyTooLarge(message, limit_bytes=limit)
        return event

    return Request(request.scope, limited)
