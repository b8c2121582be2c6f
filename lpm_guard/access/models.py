"""Access tables: accounts, researcher applications, OAuth2 clients, codes and tokens, login
attempts and daily quota usage. Tokens, codes and client secrets are stored as SHA-256 digests;
passwords as argon2id hashes."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NewType

from sqlalchemy import Column, DateTime, Dialect, Float, String, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

AccountId = NewType("AccountId", str)
ApplicationId = NewType("ApplicationId", str)
ClientId = NewType("ClientId", str)


class ApplicationStatus(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    DENIED = "denied"
    SUSPENDED = "suspended"


class IntendedUse(StrEnum):
    OFFLINE = "offline"
    LIVE = "live"


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that comes back aware (UTC) from SQLite too, which stores it naive."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("timestamps must carry a time zone")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc() -> Column[datetime]:
    return Column(UtcDateTime(), nullable=False)


def _utc_or_none() -> Column[datetime]:
    return Column(UtcDateTime(), nullable=True)


class AccountRow(SQLModel, table=True):
    __tablename__ = "access_accounts"

    id: str = Field(sa_column=Column(String(40), primary_key=True))
    email: str = Field(sa_column=Column(String(320), nullable=False, unique=True))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    role: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    password_hash: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = Field(sa_column=_utc())
    disabled: bool = False
    password_must_change: bool = False
    """Set for one-time passwords: the first sign-in must choose a new password."""
    sandbox: bool = False
    """Made by ``lpm-guard demo``: its id starts with ``sandbox_`` (so every audit entry it
    makes says so) and every page shows a sandbox banner while it is signed in."""


class ApplicationRow(SQLModel, table=True):
    __tablename__ = "access_applications"

    id: str = Field(sa_column=Column(String(40), primary_key=True))
    account_id: str = Field(foreign_key="access_accounts.id", index=True, max_length=40)
    institution: str = Field(sa_column=Column(String(300), nullable=False))
    position: str = Field(sa_column=Column(String(200), nullable=False))
    research_purpose: str = Field(sa_column=Column(Text, nullable=False))
    ethics_reference: str = Field(sa_column=Column(String(200), nullable=False))
    intended_uses: str = Field(sa_column=Column(String(40), nullable=False))
    terms_version: str = Field(sa_column=Column(String(40), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    submitted_at: datetime = Field(sa_column=_utc())
    decided_at: datetime | None = Field(default=None, sa_column=_utc_or_none())
    decided_by: str | None = Field(default=None, max_length=256)
    decision_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    expires_at: datetime | None = Field(default=None, sa_column=_utc_or_none())
    daily_quota_s: float | None = Field(default=None, sa_column=Column(Float, nullable=True))


class ClientRow(SQLModel, table=True):
    __tablename__ = "access_clients"

    client_id: str = Field(sa_column=Column(String(64), primary_key=True))
    owner_id: str = Field(foreign_key="access_accounts.id", index=True, max_length=40)
    name: str = Field(sa_column=Column(String(200), nullable=False))
    secret_hash: str = Field(sa_column=Column(String(64), nullable=False))
    scope: str = Field(sa_column=Column(String(200), nullable=False))
    created_at: datetime = Field(sa_column=_utc())
    revoked_at: datetime | None = Field(default=None, sa_column=_utc_or_none())


class AuthorizationCodeRow(SQLModel, table=True):
    __tablename__ = "access_authorization_codes"

    code_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    client_id: str = Field(sa_column=Column(String(64), nullable=False))
    account_id: str = Field(foreign_key="access_accounts.id", max_length=40)
    redirect_uri: str = Field(sa_column=Column(Text, nullable=False))
    scope: str = Field(sa_column=Column(String(200), nullable=False))
    code_challenge: str = Field(sa_column=Column(String(128), nullable=False))
    code_challenge_method: str = Field(sa_column=Column(String(8), nullable=False))
    created_at: datetime = Field(sa_column=_utc())
    expires_at: datetime = Field(sa_column=_utc())
    used_at: datetime | None = Field(default=None, sa_column=_utc_or_none())


class TokenRow(SQLModel, table=True):
    """One issued access token (by its JWT ``jti``) and the refresh token issued with it.

    ``family`` is shared by every token descended from one authorization: a replayed code or
    a reused refresh token revokes the whole family.
    """

    __tablename__ = "access_tokens"

    jti: str = Field(sa_column=Column(String(64), primary_key=True))
    family: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    client_id: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    account_id: str = Field(foreign_key="access_accounts.id", index=True, max_length=40)
    grant_type: str = Field(sa_column=Column(String(40), nullable=False))
    scope: str = Field(sa_column=Column(String(200), nullable=False))
    issued_at: datetime = Field(sa_column=_utc())
    expires_at: datetime = Field(sa_column=_utc())
    refresh_hash: str | None = Field(
        default=None, sa_column=Column(String(64), nullable=True, unique=True)
    )
    refresh_expires_at: datetime | None = Field(default=None, sa_column=_utc_or_none())
    access_revoked: bool = False
    refresh_revoked: bool = False


class LoginAttemptRow(SQLModel, table=True):
    __tablename__ = "access_login_attempts"

    id: int | None = Field(default=None, primary_key=True)
    account_key: str = Field(sa_column=Column(String(320), nullable=False, index=True))
    address: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    attempted_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False, index=True))
    succeeded: bool = False


class QuotaUsageRow(SQLModel, table=True):
    __tablename__ = "access_quota_usage"
    __table_args__ = (UniqueConstraint("account_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: str = Field(foreign_key="access_accounts.id", max_length=40)
    day: str = Field(sa_column=Column(String(10), nullable=False))
    seconds: float = Field(sa_column=Column(Float, nullable=False))
