"""Sign-in throttling: too many failures from one address, for one account from one address,
or for one account from everywhere, in a window refuse further attempts (right password or not)
until the window has moved on.

A stranger who knows an account's email locks it only from their own address (issue 18, L3):
the owner, from another address, still signs in. The per-account bound over every address is
far higher; it stops guessing spread over many addresses. Refused attempts are not failures
(no password was checked): they neither extend the window nor fill the attempts table, and the
audit log records them per source and window at counts 1, 2, 4, 8... (``worth_recording``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from .models import LoginAttemptRow


@dataclass(frozen=True)
class ThrottlePolicy:
    window: timedelta = timedelta(minutes=15)
    per_account: int = 5  # for one account from one address
    per_address: int = 20  # from one address, whatever accounts it tries
    per_account_anywhere: int = 100  # for one account, from every address together


def _failures_since(session: Session, since: datetime, **match: str) -> int:
    statement = (
        select(func.count())
        .select_from(LoginAttemptRow)
        .where(col(LoginAttemptRow.attempted_at) > since)
        .where(col(LoginAttemptRow.succeeded).is_(False))
    )
    for column, value in match.items():
        statement = statement.where(getattr(LoginAttemptRow, column) == value)
    return int(session.exec(statement).one())


def _last_success(session: Session, account_key: str) -> datetime | None:
    statement = (
        select(func.max(LoginAttemptRow.attempted_at))
        .where(LoginAttemptRow.account_key == account_key)
        .where(col(LoginAttemptRow.succeeded).is_(True))
    )
    value = session.exec(statement).one()  # max() keeps the column's type: aware UTC
    return value if isinstance(value, datetime) else None


@dataclass(frozen=True)
class Refusal:
    reason: str
    source: str  # what the refusal is counted against, for the audit log's tally


def throttled(
    session: Session, policy: ThrottlePolicy, account_key: str, address: str, now: datetime
) -> Refusal | None:
    """Why this attempt is refused, or None if it may go ahead."""
    since = now - policy.window
    # (1): failures from this address, whatever account they tried.
    if _failures_since(session, since, address=address) >= policy.per_address:
        return Refusal("too many failed sign-ins from this address", f"address:{address}")
    # (2): failures for this account since its last success, from this address, then from all.
    success = _last_success(session, account_key)
    account_since = max(since, success) if success else since
    pair = _failures_since(session, account_since, account_key=account_key, address=address)
    if pair >= policy.per_account:
        reason = "too many failed sign-ins for this account from this address"
        return Refusal(reason, f"pair:{address}:{account_key}")
    if _failures_since(session, account_since, account_key=account_key) >= (
        policy.per_account_anywhere
    ):
        reason = "too many failed sign-ins for this account"
        return Refusal(reason, f"pair:{address}:{account_key}")
    return None


def worth_recording(count: int) -> bool:
    """Whether the ``count``-th refusal of one source in one window gets its own audit entry:
    the 1st, 2nd, 4th, 8th...: a flood of N refusals appends about log2(N) entries, each
    stating how many there have been."""
    return count > 0 and count & (count - 1) == 0


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
