"""Errors of live sessions and offline jobs."""

from __future__ import annotations

from ..errors import LpmGuardError


class ProtocolError(LpmGuardError):
    """A client message the live protocol does not accept; the session tells the client why."""

    status, slug, title = 400, "protocol-error", "Not a valid session message"


class SessionLimitReached(LpmGuardError):
    status, slug, title = 429, "session-limit", "Too many live sessions"
