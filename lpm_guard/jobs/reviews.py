"""The review queue of offline jobs, the service: what reviewers list, read, listen to and decide.

Shared by ``/v1/review/generations`` (reviewers, the ``review`` scope) and ``lpm-guard admin
review`` (the operator). Each decision records its own audit event. An approval sends the job
through the gate again (``Gate.release``: the owner's access and the identity's consent are
checked at that moment, so a consent revoked while the job waited stops it there); a denial,
or a release the gate refuses, fails the job and refunds its quota.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from ..access.errors import Conflict
from ..access.ids import utcnow
from ..auditing.tags import AuditTag
from ..consent.models import Use
from ..errors import NotFound
from ..gate.gate import GenerationDenied
from ..listing import claim, decision_reason, oldest_first
from .holds import GenerationReview, ReviewStatus, ReviewView
from .ledger import JobView, fail, job_directory
from .service import JobService


@dataclass(frozen=True)
class ReviewOutcome:
    review: ReviewView
    job: JobView


class ReviewService:
    def __init__(self, jobs: JobService) -> None:
        self.jobs = jobs
        self.runtime = jobs.runtime
        self.audit = jobs.services.audit

    def queue(
        self, status: ReviewStatus | None = ReviewStatus.PENDING, limit: int = 100
    ) -> list[ReviewView]:
        """Held jobs by status (pending unless asked), oldest first: the queue."""
        rows = oldest_first(self.runtime.engine, GenerationReview, status=status, limit=limit)
        return [ReviewView.of(row) for row in rows]

    def detail(self, review_id: str) -> ReviewView:
        """One item with its evidence."""
        with Session(self.runtime.engine) as session:
            row = session.get(GenerationReview, review_id)
        if row is None:
            raise NotFound(f"no review {review_id}")
        return ReviewView.of(row)

    def audio(self, actor: str, review_id: str) -> Path:
        """The speech a held job would render, for a reviewer to listen to; audited."""
        view = self.detail(review_id)
        speech = next(job_directory(self.runtime, view.job_id).glob("speech.*"), None)
        if speech is None:
            raise NotFound("the job's audio is no longer kept (the job ended)")
        self.audit.record(
            AuditTag.GENERATION_REVIEW_LISTEN,
            actor,
            objects={"review": review_id, "job": view.job_id},
        )
        return speech

    def decide(self, actor: str, review_id: str, *, approve: bool, reason: str) -> ReviewOutcome:
        """Approve (the job goes through the gate again, then to a worker) or deny (the job
        fails, refunded) a held job; exactly one decision per item."""
        item = self.detail(review_id)
        # (1): a reason, and never the requester's own.
        why = decision_reason(actor, item.owner, reason)
        # (2): claim the item: one decision, however many reviewers press at once.
        status = ReviewStatus.APPROVED if approve else ReviewStatus.DENIED
        decided = {"status": status, "decided_at": utcnow(), "decided_by": actor}
        if not claim(
            self.runtime.engine, GenerationReview, review_id, {**decided, "decision_reason": why}
        ):
            raise Conflict(f"the review is {self.detail(review_id).status}, not pending")
        # (3): the decision in the audit log.
        objects = {"review": review_id, "job": item.job_id, "identity": item.identity_id}
        self.audit.record(
            AuditTag.GENERATION_REVIEW_APPROVE if approve else AuditTag.GENERATION_REVIEW_DENY,
            actor,
            outcome="success" if approve else "deny",
            objects=objects,
            reasons=[why],
            payload={"request_entry": item.request_entry, "owner": item.owner},
        )
        # (4): denied: the job fails and its quota comes back.
        if not approve:
            fail(self.runtime, item.job_id, actor, f"a reviewer denied it: {why}")
            return self._outcome(review_id)
        # (5): approved: through the gate again now, then to a worker.
        evidence = item.evidence
        try:
            admission = self.jobs.services.gate.release(
                actor,
                item.owner,
                item.identity_id,
                Use.OFFLINE,
                held_entry=item.request_entry,
                review_id=review_id,
                reserved_s=float(evidence["seconds"]),
                day=str(evidence["quota_day"]),
            )
        except GenerationDenied as exc:
            fail(self.runtime, item.job_id, actor, f"approved, then refused by the gate: {exc}")
            return self._outcome(review_id)
        except BaseException:
            fail(self.runtime, item.job_id, "system", "the approved job could not be released")
            raise
        self.jobs.start_reviewed(
            item.job_id, admission, evidence.get("instructions"), int(evidence["fps"])
        )
        return self._outcome(review_id)

    def _outcome(self, review_id: str) -> ReviewOutcome:
        item = self.detail(review_id)
        return ReviewOutcome(item, self.jobs.get_any(item.job_id))
