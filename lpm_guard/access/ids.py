"""Random identifiers and the digests under which secrets are stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def digest(secret: str) -> str:
    """SHA-256 of a random token (codes, refresh tokens, client secrets): they carry 190+ bits,
    so a fast hash suffices; passwords use argon2 instead."""
    return hashlib.sha256(secret.encode()).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)
