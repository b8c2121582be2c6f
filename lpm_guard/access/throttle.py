"""Sign-in throttling: too many failures for one account, or from one address, in a window
refuse further attempts (right password or not) until the window has moved on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from .models import LoginAttemptRow


@dataclass(frozen=True)
class ThrottlePolicy:
    window: timedelta = timedelta(minutes=15)
    per_account: int = 5
    per_address: int = 20


def _failures_since(session: Session, column: str, value: str, since: datetime) -> int:
    statement = (
        select(func.count())
        .select_from(LoginAttemptRow)
        .where(getattr(LoginAttemptRow, column) == value)
        .where(col(LoginAttemptRow.attempted_at) > since)
        .where(col(LoginAttemptRow.succeeded).is_(False))
    )
    return int(session.exec(statement).one())


def _last_success(session: Session, account_key: str) -> datetime | None:
    statement = (
        select(func.max(LoginAttemptRow.attempted_at))
        .where(LoginAttemptRow.account_key == account_key)
        .where(col(LoginAttemptRow.succeeded).is_(True))
    )
    value = session.exec(statement).one()  # max() keeps the column's type: aware UTC
    return value if isinstance(value, datetime) else None


def throttled(
    session: Session, policy: ThrottlePolicy, account_key: str, address: str, now: datetime
) -> str | None:
    """Why this attempt is refused, or None if it may go ahead."""
    since = now - policy.window
    # (1): failures from this address, whatever account they tried.
    if _failures_since(session, "address", address, since) >= policy.per_address:
        return "too many failed sign-ins from this address"
    # (2): failures for this account since its last success.
    success = _last_success(session, account_key)
    account_since = max(since, success) if success else since
    if _failures_since(session, "account_key", account_key, account_since) >= policy.per_account:
        return "too many failed sign-ins for this account"
    return None


KEEP = timedelta(days=1)
"""Attempts older than this are deleted: the audit log keeps the history, this table only
what the throttle needs."""


def record_attempt(
    session: Session, account_key: str, address: str, now: datetime, succeeded: bool
) -> None:
    session.exec(delete(LoginAttemptRow).where(col(LoginAttemptRow.attempted_at) < now - KEEP))
    session.add(
        LoginAttemptRow(
            account_key=account_key, address=address, attempted_at=now, succeeded=succeeded
        )
    )
