"""Who is calling: a principal resolved from the request's bearer token.

The ``Authenticator`` protocol is the seam: ``lpm_guard.access.authenticator.TokenAuthenticator``
checks OAuth2 JWT access tokens (and the account's standing on every request). Without one,
``NoAuthenticator`` accepts no token, so every protected route answers 401: closed by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .scopes import Role, Scope


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    """The calling account's stable id: the owner key other domains store."""
    scopes: frozenset[Scope] = field(default_factory=frozenset)
    role: Role | None = None
    client_id: str | None = None
    """The OAuth2 client the token was issued to (an API client, or the web pages)."""

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return self.subject


class Authenticator(Protocol):
    def authenticate(self, token: str) -> Principal | None:
        """The principal a bearer token stands for, or None if it stands for nobody."""
        ...


class NoAuthenticator:
    def authenticate(self, token: str) -> Principal | None:
        return None
