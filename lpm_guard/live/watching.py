"""A running live session's watch and meter: whether it may go on, and what it has cost.

Twice a second (``live.WATCH_EVERY_S``) the render thread asks; the watch reads, in one short
database session, the researcher's standing and today's use of their quota, the session's own
row (the revoked flag ``DELETE /v1/sessions/{id}`` sets on any node) and its identity's
consent. So a revocation from any process or machine (the CLI, another server) stops the stream
within about half a second, whatever the notifications do. While instructions of the session's
wait for a reviewer, it also reads their decisions (``holds``) and applies an approval or
passes on a denial, wherever it was taken. Every ``CHARGE_EVERY_S`` it adds the
seconds streamed since the last charge to the quota and the session's row (renewing its lease);
the session stops with reason ``quota`` when the day's use reaches the allowance, and its end
charges the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlmodel import Session, select

from ..access.ids import utcnow
from ..access.interfaces import Quotas
from ..access.models import QuotaUsageRow
from ..access.quotas import quota_day
from ..access.scopes import Scope
from ..access.standing import standing_of
from ..consent.models import IdentityStatus
from ..logs import get_logger
from ..runtime import Runtime
from . import holds, ledger
from .session import LiveSession, StopReason

log = get_logger(__name__)

CHARGE_EVERY_S = 2.0
GENERATABLE = (IdentityStatus.CONSENTED.value, IdentityStatus.APPROVED.value)


class LiveWatch:
    """The ``Watch`` of one session (call it), and its meter (``settle`` at the end)."""

    def __init__(
        self,
        runtime: Runtime,
        quotas: Quotas,
        *,
        session_id: str,
        owner: str,
        fps: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.quotas = quotas
        self.session_id = session_id
        self.owner = owner
        self.fps = fps
        self.session: LiveSession | None = None  # set once the session exists
        self.charged_s = 0.0
        self.held: set[str] = set()  # ids of its instructions waiting for a reviewer
        self._clock = clock
        self._charged_at = clock()

    def _streamed(self) -> tuple[int, float]:
        frames = self.session.stats.frames if self.session is not None else 0
        return frames, frames / self.fps

    def __call__(self) -> tuple[StopReason, str] | None:
        now = utcnow()
        with Session(self.runtime.engine) as db:
            standing = standing_of(db, self.owner, now)
            reading = ledger.watch(db, self.session_id, now)
            used = db.exec(
                select(QuotaUsageRow.seconds).where(
                    QuotaUsageRow.account_id == self.owner, QuotaUsageRow.day == quota_day(now)
                )
            ).first()
        # (1): the researcher's standing: suspension, expiry or a disabled account.
        if standing is None or standing.locked or Scope.GENERATE_LIVE not in standing.scopes:
            reason = standing.reason if standing is not None else "no such account"
            return StopReason.REVOKED, f"the researcher's access ended: {reason}"
        # (2): the session revoked, from any node.
        if reading.revoked:
            return StopReason.REVOKED, reading.revoke_detail or "the session was revoked"
        # (3): the identity's consent, withdrawn by anyone, anywhere.
        if reading.consent_status not in GENERATABLE or not reading.live_allowed:
            return StopReason.REVOKED, "consent revoked"
        if reading.consent_expired:
            return StopReason.REVOKED, "consent expired"
        # (4): the quota: charged as it streams; spent ends the session.
        frames, streamed = self._streamed()
        used_s = used or 0.0
        if self._clock() - self._charged_at >= CHARGE_EVERY_S:
            paid = self.charged_s
            self._charge(frames, streamed)
            used_s += self.charged_s - paid  # read before this charge
        unpaid = streamed - self.charged_s
        allowance = standing.application.daily_quota_s if standing.application else None
        if allowance is not None and used_s + unpaid >= allowance:
            return StopReason.QUOTA, f"today's quota of {allowance:g} generated seconds is spent"
        # (5): held instructions a reviewer decided on, from any node.
        if self.held:
            self._deliver()
        return None

    def _deliver(self) -> None:
        """Take this session's decided held instructions to it: approved ones to the
        performer (``session.updated``), denied ones to the client as a refusal."""
        for item in holds.deliveries(self.runtime, self.session_id):
            self.held.discard(item.id)
            if self.session is None:
                continue
            if item.status is holds.HeldStatus.APPROVED:
                self.session.apply_reviewed(item.id, item.instructions)
            else:
                self.session.refuse_reviewed(item.id, item.decision_reason or "")

    def _charge(self, frames: int, streamed: float) -> None:
        self._charged_at = self._clock()
        seconds = streamed - self.charged_s
        ledger.charge(self.runtime, self.quotas, self.session_id, self.owner, seconds, frames)
        self.charged_s = streamed

    def settle(self) -> tuple[float, float]:
        """At the end: charge what was streamed since the last charge. Returns (seconds
        charged in all, seconds left uncharged: not 0 only if the database refused)."""
        frames, streamed = self._streamed()
        try:
            self._charge(frames, streamed)
        except Exception:
            log.exception("charging the end of a live session failed", session=self.session_id)
        return self.charged_s, max(0.0, streamed - self.charged_s)
