"""The review queue of held live instructions, the service: what reviewers list, read and decide.

Shared by ``/v1/review/instructions`` (reviewers, the ``review`` scope) and ``lpm-guard admin
review instructions`` (the operator). Each decision records its own audit event
(``session:review:approve`` or ``:deny``). One decision per row, whoever presses at once: the
status moves from pending by compare-and-set, and only while the session is still open on the
books (a row of a session that ended is closed as ``session_ended`` instead). The session's own
node applies an approval at its next watch (``holds.deliveries``), wherever the decision was
taken.
"""

from __future__ import annotations

from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from ..access.errors import Conflict
from ..access.ids import utcnow
from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..errors import NotFound
from ..listing import claim, decision_reason, oldest_first
from ..runtime import Runtime
from .holds import HeldStatus, InstructionReview, InstructionReviewView, close_for_session
from .ledger import LiveSessionRow, LiveStatus


class InstructionReviewService:
    def __init__(self, runtime: Runtime, audit: AuditService) -> None:
        self.runtime = runtime
        self.audit = audit

    def queue(
        self, status: HeldStatus | None = HeldStatus.PENDING, limit: int = 100
    ) -> list[InstructionReviewView]:
        """Held instructions by status (pending unless asked), oldest first: the queue."""
        rows = oldest_first(self.runtime.engine, InstructionReview, status=status, limit=limit)
        return [InstructionReviewView.of(row) for row in rows]

    def detail(self, review_id: str) -> InstructionReviewView:
        with Session(self.runtime.engine) as db:
            row = db.get(InstructionReview, review_id)
        if row is None:
            raise NotFound(f"no held instructions {review_id}")
        return InstructionReviewView.of(row)

    def decide(
        self, actor: str, review_id: str, *, approve: bool, reason: str
    ) -> InstructionReviewView:
        """Approve (the session applies them at its next watch) or deny (the requester hears
        the reason) held instructions; exactly one decision per row."""
        item = self.detail(review_id)
        # (1): a reason, and never the requester's own.
        why = decision_reason(actor, item.owner, reason)
        # (2): claim the row while the session is open: one decision, however many press.
        status = HeldStatus.APPROVED if approve else HeldStatus.DENIED
        still_open = sa_select(col(LiveSessionRow.id)).where(
            col(LiveSessionRow.id) == item.session_id,
            col(LiveSessionRow.status) == LiveStatus.OPEN,
        )
        decided = {"status": status, "decided_at": utcnow(), "decided_by": actor}
        if not claim(
            self.runtime.engine,
            InstructionReview,
            review_id,
            {**decided, "decision_reason": why},
            col(InstructionReview.session_id).in_(still_open),
        ):
            if self._ended(item):  # its node went away without closing it: closed now
                close_for_session(self.runtime, item.session_id)
            raise Conflict(
                f"the held instructions are {self.detail(review_id).status}, not pending"
            )
        # (3): the decision in the audit log.
        self.audit.record(
            AuditTag.SESSION_REVIEW_APPROVE if approve else AuditTag.SESSION_REVIEW_DENY,
            actor,
            outcome="success" if approve else "deny",
            objects={
                "review": review_id,
                "session": item.session_id,
                "identity": item.identity_id,
            },
            reasons=[why],
            payload={"owner": item.owner, "rule_ids": item.rule_ids},
        )
        return self.detail(review_id)

    def _ended(self, item: InstructionReviewView) -> bool:
        with Session(self.runtime.engine) as db:
            row = db.get(LiveSessionRow, item.session_id)
        return row is None or row.status != LiveStatus.OPEN
