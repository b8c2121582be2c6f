"""What other domains of the gate may ask of access (typing Protocols; inject, don't import
the classes)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from fastapi import Request
from sqlmodel import Session

from .schemas import QuotaView


class Quotas(Protocol):
    def check(self, subject: str, now: datetime | None = None) -> QuotaView:
        """Today's allowance, use and remainder for an approved researcher; raises
        ``NotApproved`` for anyone else."""
        ...

    def charge(self, subject: str, seconds: float, now: datetime | None = None) -> QuotaView:
        """Spend ``seconds`` of today's quota, or raise ``QuotaExceeded`` (429) and spend
        nothing; ``NotApproved`` (403) for anyone but an approved researcher."""
        ...

    def refund(self, subject: str, seconds: float, day: str, *, reason: str) -> None:
        """Give back ``seconds`` charged on ``day`` (a reserved job that failed)."""
        ...

    def use(self, session: Session, subject: str, seconds: float, now: datetime) -> None:
        """Add ``seconds`` generated (live, as it streams) inside the caller's transaction."""
        ...


def get_quotas(request: Request) -> Quotas:
    """FastAPI dependency: the app's quota service (``Depends(get_quotas)``)."""
    quotas: Quotas = request.app.state.access.quotas
    return quotas
