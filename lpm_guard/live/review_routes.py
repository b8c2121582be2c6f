"""``/v1/review/instructions``: a live session's instructions the policy held for a reviewer.

Who may call: reviewers and admins (the ``review`` scope), nobody else: a researcher, whose
tokens never carry ``review``, gets 403, and nobody decides a request of their own (403 from the
service); without a token, 401. The requester hears about it on the session's stream
(``session.instructions_held``, then ``session.updated`` or an ``instructions_refused`` error).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from ..access.guards import require_scope
from ..access.principals import Principal
from ..access.scopes import Scope
from ..auditing.services import AuditService
from ..listing import MAX_PAGE
from .holds import HeldStatus
from .reviews import InstructionReviewService

router = APIRouter(prefix="/v1/review/instructions", tags=["sessions"])
Reviewer = Annotated[Principal, Depends(require_scope(Scope.REVIEW))]


def review_service(request: Request) -> InstructionReviewService:
    runtime = request.app.state.runtime
    return InstructionReviewService(runtime, AuditService(runtime.audit))


Reviews = Annotated[InstructionReviewService, Depends(review_service)]


class Decision(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="Why (goes into the audit log)")


@router.get("", summary="Held live instructions by status, oldest first, with evidence (reviewers)")
def instruction_queue(
    reviews: Reviews,
    _: Reviewer,
    status: Annotated[HeldStatus | None, Query()] = HeldStatus.PENDING,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> list[dict[str, Any]]:
    return [view.as_json() for view in reviews.queue(status, limit)]


@router.get("/{review_id}", summary="Held live instructions' evidence and decision (reviewers)")
def instruction_item(reviews: Reviews, _: Reviewer, review_id: str) -> dict[str, Any]:
    return reviews.detail(review_id).as_json()


@router.post(
    "/{review_id}/approve",
    summary="Approve: the session applies the instructions within about half a second",
)
def approve(
    reviews: Reviews, principal: Reviewer, review_id: str, body: Decision
) -> dict[str, Any]:
    return reviews.decide(principal.actor, review_id, approve=True, reason=body.reason).as_json()


@router.post("/{review_id}/deny", summary="Deny: never applied; the requester hears the reason")
def deny(reviews: Reviews, principal: Reviewer, review_id: str, body: Decision) -> dict[str, Any]:
    return reviews.decide(principal.actor, review_id, approve=False, reason=body.reason).as_json()
