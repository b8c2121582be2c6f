"""Researchers as reviewers see them: standing, scopes, quota and today's use; and the one
action on them that is not an application decision, changing the daily quota."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine
from sqlmodel import Session, col, or_, select

from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..errors import InvalidRequest
from .errors import Conflict, ResearcherNotFound
from .ids import utcnow
from .models import AccountRow, ApplicationRow, ApplicationStatus, QuotaUsageRow
from .quotas import quota_day
from .schemas import QuotaChange, ResearcherView
from .scopes import Role
from .standing import latest_application, standing_of

# Only these standings have a quota worth showing or changing.
_WITH_ACCESS = frozenset({ApplicationStatus.APPROVED, ApplicationStatus.SUSPENDED})


class ResearcherService:
    def __init__(self, engine: Engine, audit: AuditService) -> None:
        self.engine = engine
        self.audit = audit

    def list(self, status: ApplicationStatus | None = None) -> list[ResearcherView]:
        """Researchers whose latest application is approved or suspended (or ``status``),
        newest decision first."""
        if status is not None and status not in _WITH_ACCESS:
            raise InvalidRequest("researchers are approved or suspended; see /v1/applications")
        now = utcnow()
        with Session(self.engine, expire_on_commit=False) as session:
            # (1): each researcher's latest application (the one their standing follows).
            statement = (
                select(ApplicationRow, AccountRow)
                .where(ApplicationRow.account_id == AccountRow.id)
                .where(AccountRow.role == Role.RESEARCHER.value)
                .order_by(col(ApplicationRow.submitted_at).desc())
            )
            latest: dict[str, tuple[ApplicationRow, AccountRow]] = {}
            for row, account in session.exec(statement):
                latest.setdefault(account.id, (row, account))
            wanted = {status} if status is not None else _WITH_ACCESS
            chosen = [
                (row, account)
                for row, account in latest.values()
                if ApplicationStatus(row.status) in wanted
            ]
            # (2): today's use, in one query.
            used = self._used_today(session, [account.id for _, account in chosen], now)
            views = [self._view(session, row, account, used, now) for row, account in chosen]
        views.sort(key=lambda view: view.decided_at or view.submitted_at, reverse=True)
        return views

    def get(self, account_id: str) -> ResearcherView:
        now = utcnow()
        with Session(self.engine, expire_on_commit=False) as session:
            row, account = self._latest(session, account_id)
            used = self._used_today(session, [account.id], now)
            return self._view(session, row, account, used, now)

    def set_quota(self, account: str, change: QuotaChange, actor: str) -> ResearcherView:
        """Change a researcher's daily quota (from tomorrow's and today's remainder alike)."""
        reason = change.reason.strip()
        if not reason:
            raise InvalidRequest("a quota change needs a written reason")
        with Session(self.engine, expire_on_commit=False) as session:
            # (1): the researcher has access (approved or suspended) to change.
            row, found = self._latest(session, account)
            status = ApplicationStatus(row.status)
            if status not in _WITH_ACCESS:
                raise Conflict(
                    f"the researcher's application is {status.value}; only approved or "
                    "suspended access has a quota",
                    current_status=status.value,
                )
            # (2): the change, on the application the standing follows.
            before = row.daily_quota_s
            row.daily_quota_s = change.daily_quota_s
            session.add(row)
            session.commit()
            account_id, application_id = found.id, row.id
        self.audit.record(
            AuditTag.ACCESS_QUOTA_CHANGE,
            actor,
            objects={"account": account_id, "application": application_id},
            reasons=[reason],
            payload={"from_s": before, "to_s": change.daily_quota_s},
        )
        return self.get(account_id)

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _latest(session: Session, key: str) -> tuple[ApplicationRow, AccountRow]:
        """The researcher by account id or email, and their latest application."""
        account = session.exec(
            select(AccountRow).where(or_(AccountRow.id == key, AccountRow.email == key.lower()))
        ).first()
        if account is None or account.role != Role.RESEARCHER.value:
            raise ResearcherNotFound(f"no researcher {key}")
        row = latest_application(session, account.id)
        if row is None:
            raise ResearcherNotFound(f"{key} has no application")
        return row, account

    @staticmethod
    def _used_today(
        session: Session, account_ids: Sequence[str], now: datetime
    ) -> dict[str, float]:
        if not account_ids:
            return {}
        statement = select(QuotaUsageRow.account_id, QuotaUsageRow.seconds).where(
            col(QuotaUsageRow.account_id).in_(account_ids), QuotaUsageRow.day == quota_day(now)
        )
        return {account_id: float(seconds) for account_id, seconds in session.exec(statement)}

    @staticmethod
    def _view(
        session: Session,
        row: ApplicationRow,
        account: AccountRow,
        used: dict[str, float],
        now: datetime,
    ) -> ResearcherView:
        standing = standing_of(session, account.id, now)
        assert standing is not None
        return ResearcherView(
            account_id=account.id,
            name=account.name,
            email=account.email,
            institution=row.institution,
            application_id=row.id,
            status=ApplicationStatus(row.status),
            standing=standing.reason,
            scopes=sorted(standing.scopes),
            submitted_at=row.submitted_at,
            decided_at=row.decided_at,
            decision_reason=row.decision_reason,
            expires_at=row.expires_at,
            daily_quota_s=row.daily_quota_s,
            used_today_s=used.get(account.id, 0.0),
            disabled=account.disabled,
        )
