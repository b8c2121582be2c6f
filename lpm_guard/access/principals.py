"""Who is calling: a principal resolved from the request's bearer token.

The ``Authenticator`` protocol is the seam the Access issue fills with OAuth2 (Authlib, JWT
access tokens). Until an authenticator is installed, ``NoAuthenticator`` accepts no token,
so every protected route answers 401: closed by default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .scopes import Scope


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    scopes: frozenset[Scope] = field(default_factory=frozenset)

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
