"""``/v1/review/generations``: offline jobs the policy held for a reviewer (``reviews``).

Who may call: reviewers and admins (the ``review`` scope), nobody else: a researcher, whose
tokens never carry ``review``, gets 403, and nobody decides a request of their own (403 from the
service); without a token, 401. The requester follows the job itself (``GET
/v1/generations/{id}``: status ``awaiting_review`` and the ``review`` reason).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from ..access.guards import require_scope
from ..access.principals import Principal
from ..access.scopes import Scope
from ..listing import MAX_PAGE
from .holds import ReviewStatus, ReviewView
from .reviews import ReviewOutcome, ReviewService
from .routes import Jobs

router = APIRouter(prefix="/v1/review/generations", tags=["generations"])
Reviewer = Annotated[Principal, Depends(require_scope(Scope.REVIEW))]


def review_service(jobs: Jobs) -> ReviewService:
    return ReviewService(jobs)


Reviews = Annotated[ReviewService, Depends(review_service)]


class Decision(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="Why (goes into the audit log)")


def _view(view: ReviewView) -> dict[str, Any]:
    return {**dataclasses.asdict(view), "status": view.status.value}


def _outcome(outcome: ReviewOutcome) -> dict[str, Any]:
    job = dataclasses.asdict(outcome.job)
    return {"review": _view(outcome.review), "job": {**job, "status": outcome.job.status.value}}


@router.get("", summary="Held offline jobs by status, oldest first, with evidence (reviewers)")
def review_queue(
    reviews: Reviews,
    _: Reviewer,
    status: Annotated[ReviewStatus | None, Query()] = ReviewStatus.PENDING,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> list[dict[str, Any]]:
    return [_view(view) for view in reviews.queue(status, limit)]


@router.get("/{review_id}", summary="One held job's evidence and decision (reviewers)")
def review_item(reviews: Reviews, _: Reviewer, review_id: str) -> dict[str, Any]:
    return _view(reviews.detail(review_id))


@router.get(
    "/{review_id}/audio",
    summary="The held job's speech, for a reviewer to listen to (audited)",
    response_class=FileResponse,
)
def review_audio(reviews: Reviews, principal: Reviewer, review_id: str) -> FileResponse:
    path = reviews.audio(principal.actor, review_id)
    return FileResponse(path, headers={"Cache-Control": "no-store"})


@router.post(
    "/{review_id}/approve",
    summary="Approve: the job goes through the gate again (consent re-checked), then renders",
)
def approve(
    reviews: Reviews, principal: Reviewer, review_id: str, body: Decision
) -> dict[str, Any]:
    return _outcome(reviews.decide(principal.actor, review_id, approve=True, reason=body.reason))


@router.post("/{review_id}/deny", summary="Deny: the job fails and its quota is refunded")
def deny(reviews: Reviews, principal: Reviewer, review_id: str, body: Decision) -> dict[str, Any]:
    return _outcome(reviews.decide(principal.actor, review_id, approve=False, reason=body.reason))
