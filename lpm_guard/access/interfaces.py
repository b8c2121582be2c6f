"""What other domains of the gate may ask of access (typing Protocols; inject, don't import
the classes)."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from fastapi import Request

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


def get_quotas(request: Request) -> Quotas:
    """FastAPI dependency: the app's quota service (``Depends(get_quotas)``)."""
    quotas: Quotas = request.app.state.access.quotas
    return quotas
