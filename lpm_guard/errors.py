"""The gate's error family. Each maps to an RFC 9457 problem: a type slug, a title, a status."""

from __future__ import annotations

from typing import Any, ClassVar


class LpmGuardError(Exception):
    """Base of every error the gate raises on purpose; the API renders it as problem+json."""

    status: ClassVar[int] = 400
    slug: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions


class NotFound(LpmGuardError):
    status, slug, title = 404, "not-found", "Not found"


class InvalidRequest(LpmGuardError):
    status, slug, title = 422, "invalid-request", "The request is not valid"


class Unauthenticated(LpmGuardError):
    status, slug, title = 401, "unauthenticated", "Authentication required"


class Forbidden(LpmGuardError):
    status, slug, title = 403, "forbidden", "Not allowed"


class Unavailable(LpmGuardError):
    status, slug, title = 503, "unavailable", "Service unavailable"


class IntegrityFailure(LpmGuardError):
    status, slug, title = 500, "integrity-failure", "Integrity check failed"
