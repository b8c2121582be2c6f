"""Access errors; each is an RFC 9457 problem (see ``lpm_guard.errors``)."""

from __future__ import annotations

from ..errors import Forbidden, LpmGuardError, NotFound, Unauthenticated


class InvalidCredentials(Unauthenticated):
    slug, title = "invalid-credentials", "Wrong email or password"


class LoginThrottled(LpmGuardError):
    status, slug, title = 429, "login-throttled", "Too many failed sign-ins"


class QuotaExceeded(LpmGuardError):
    status, slug, title = 429, "quota-exceeded", "Daily generation quota exceeded"


class Conflict(LpmGuardError):
    status, slug, title = 409, "conflict", "Conflict"


class EmailTaken(Conflict):
    """An account with this email exists. Sign-up does not say so (``routes.apply``)."""

    slug, title = "email-taken", "An account with this email exists"


class NotApproved(Forbidden):
    slug, title = "not-approved", "Access is not approved"


class ApplicationNotFound(NotFound):
    pass


class ClientNotFound(NotFound):
    pass


class ResearcherNotFound(NotFound):
    pass
