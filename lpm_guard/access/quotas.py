"""Daily quota of generated seconds per researcher (UTC days).

Offline, the gate reserves the audio's seconds with ``charge`` when it admits a job (atomic: two
concurrent requests cannot both spend the last seconds) and the job ``refund``s them if it
fails. Live, a session adds what it streamed with ``use`` as it runs, and stops when its
researcher's use reaches the allowance.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, case, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..errors import InvalidRequest
from .errors import NotApproved, QuotaExceeded
from .ids import utcnow
from .models import QuotaUsageRow
from .schemas import QuotaView
from .standing import standing_of


def quota_day(now: datetime) -> str:
    """The day a quota is counted in (UTC)."""
    return now.date().isoformat()


class QuotaService:
    def __init__(self, engine: Engine, audit: AuditService) -> None:
        self.engine = engine
        self.audit = audit

    def _allowance(self, session: Session, subject: str, now: datetime) -> float:
        standing = standing_of(session, subject, now)
        if standing is None or standing.locked or standing.application is None:
            raise NotApproved(standing.reason if standing else "no such account")
        quota = standing.application.daily_quota_s
        if not standing.scopes or quota is None:
            raise NotApproved(standing.reason)
        return quota

    def _used(self, session: Session, subject: str, day: str) -> float:
        statement = select(QuotaUsageRow.seconds).where(
            QuotaUsageRow.account_id == subject, QuotaUsageRow.day == day
        )
        return float(session.exec(statement).first() or 0.0)

    def check(self, subject: str, now: datetime | None = None) -> QuotaView:
        """Today's allowance, use and remainder for ``subject`` (an approved researcher)."""
        now = now or utcnow()
        with Session(self.engine, expire_on_commit=False) as session:
            quota = self._allowance(session, subject, now)
            used = self._used(session, subject, quota_day(now))
        return QuotaView(
            day=quota_day(now), daily_quota_s=quota, used_s=used, remaining_s=max(0.0, quota - used)
        )

    @staticmethod
    def _ensure_row(session: Session, subject: str, day: str) -> None:
        """Make sure the day's row exists (a concurrent insert is as good as ours)."""
        found = session.exec(
            select(QuotaUsageRow.id).where(
                QuotaUsageRow.account_id == subject, QuotaUsageRow.day == day
            )
        ).first()
        if found is None:
            try:
                with session.begin_nested():
                    session.add(QuotaUsageRow(account_id=subject, day=day, seconds=0.0))
            except IntegrityError:
                pass

    def charge(self, subject: str, seconds: float, now: datetime | None = None) -> QuotaView:
        """Spend ``seconds`` of today's quota, or raise ``QuotaExceeded`` and spend nothing."""
        if not seconds > 0:
            raise InvalidRequest("a charge is a positive number of seconds")
        now = now or utcnow()
        day = quota_day(now)
        with Session(self.engine, expire_on_commit=False) as session:
            quota = self._allowance(session, subject, now)
            # (1): make sure today's row exists.
            self._ensure_row(session, subject, day)
            # (2): one conditional UPDATE: it adds only if the sum stays within the quota.
            result = session.exec(
                update(QuotaUsageRow)
                .where(col(QuotaUsageRow.account_id) == subject, col(QuotaUsageRow.day) == day)
                .where(col(QuotaUsageRow.seconds) + seconds <= quota)
                .values(seconds=col(QuotaUsageRow.seconds) + seconds)
            )
            charged = result.rowcount == 1
            session.commit()
            used = self._used(session, subject, day)
        view = QuotaView(
            day=day, daily_quota_s=quota, used_s=used, remaining_s=max(0.0, quota - used)
        )
        if not charged:
            self.audit.record(
                AuditTag.ACCESS_QUOTA_EXCEED,
                subject,
                outcome="denied",
                objects={"account": subject},
                payload={"requested_s": seconds, "remaining_s": view.remaining_s},
            )
            raise QuotaExceeded(
                f"{seconds:g} s asked, {view.remaining_s:g} s left of today's {quota:g} s",
                remaining_s=view.remaining_s,
            )
        self.audit.record(
            AuditTag.ACCESS_QUOTA_CHARGE,
            subject,
            objects={"account": subject},
            payload={"seconds": seconds, "used_s": view.used_s},
        )
        return view

    def refund(self, subject: str, seconds: float, day: str, *, reason: str) -> None:
        """Give back ``seconds`` charged on ``day`` (a reserved job that failed); never below
        zero. Recorded whatever the researcher's standing now."""
        if not seconds > 0:
            return
        with Session(self.engine) as session:
            session.exec(
                update(QuotaUsageRow)
                .where(col(QuotaUsageRow.account_id) == subject, col(QuotaUsageRow.day) == day)
                .values(
                    seconds=case(
                        (
                            col(QuotaUsageRow.seconds) > seconds,
                            col(QuotaUsageRow.seconds) - seconds,
                        ),
                        else_=0.0,
                    )
                )
            )
            session.commit()
        self.audit.record(
            AuditTag.ACCESS_QUOTA_REFUND,
            "system",
            objects={"account": subject},
            reasons=[reason],
            payload={"seconds": seconds, "day": day},
        )

    def use(self, session: Session, subject: str, seconds: float, now: datetime) -> None:
        """Add ``seconds`` that were generated (a live session, as it streams) inside the
        caller's transaction: use is a fact, added whatever is left or the researcher's standing
        now; stopping at the allowance is the session's watch's job. Not audited one by one:
        the session's stop entry carries its total."""
        if seconds > 0:
            day = quota_day(now)
            self._ensure_row(session, subject, day)
            session.exec(
                update(QuotaUsageRow)
                .where(col(QuotaUsageRow.account_id) == subject, col(QuotaUsageRow.day) == day)
                .values(seconds=col(QuotaUsageRow.seconds) + seconds)
            )
