"""What an account may do now: its role, its latest application, and the scopes they grant.

Checked when a token is issued and again on every request, so a suspended or expired researcher
is shut out at once, whatever tokens they hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from .models import AccountRow, ApplicationRow, ApplicationStatus, IntendedUse
from .scopes import Role, Scope

ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.ADMIN: frozenset({Scope.ADMIN, Scope.REVIEW, Scope.AUDIT_READ}),
    Role.REVIEWER: frozenset({Scope.REVIEW, Scope.AUDIT_READ}),
    Role.RESEARCHER: frozenset({Scope.IDENTITIES_WRITE}),
}
USE_SCOPES: dict[IntendedUse, Scope] = {
    IntendedUse.OFFLINE: Scope.GENERATE_OFFLINE,
    IntendedUse.LIVE: Scope.GENERATE_LIVE,
}


@dataclass(frozen=True)
class Standing:
    account: AccountRow
    application: ApplicationRow | None
    scopes: frozenset[Scope]
    locked: bool
    """True when the account may not act at all (disabled, suspended, access expired)."""
    reason: str


def parse_uses(text: str) -> list[IntendedUse]:
    return [IntendedUse(part) for part in text.split(",") if part]


def latest_application(session: Session, account_id: str) -> ApplicationRow | None:
    statement = (
        select(ApplicationRow)
        .where(ApplicationRow.account_id == account_id)
        .order_by(col(ApplicationRow.submitted_at).desc())
        .limit(1)
    )
    return session.exec(statement).first()


def standing_of(session: Session, account_id: str, now: datetime) -> Standing | None:
    """The account's standing, or None if there is no such account."""
    account = session.get(AccountRow, account_id)
    if account is None:
        return None
    role = Role(account.role)
    if account.disabled:
        return Standing(account, None, frozenset(), True, "the account is disabled")
    if role is not Role.RESEARCHER:
        return Standing(account, None, ROLE_SCOPES[role], False, f"{role.value} account")
    application = latest_application(session, account_id)
    if application is None:
        return Standing(account, None, frozenset(), False, "no application")
    status = ApplicationStatus(application.status)
    if status is ApplicationStatus.SUSPENDED:
        return Standing(account, application, frozenset(), True, "access is suspended")
    if status is not ApplicationStatus.APPROVED:
        return Standing(account, application, frozenset(), False, f"application {status.value}")
    if application.expires_at is None or application.expires_at <= now:
        return Standing(account, application, frozenset(), True, "access has expired")
    uses = {USE_SCOPES[use] for use in parse_uses(application.intended_uses)}
    return Standing(
        account, application, ROLE_SCOPES[Role.RESEARCHER] | uses, False, "access approved"
    )
