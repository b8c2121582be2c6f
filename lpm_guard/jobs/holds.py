"""Offline jobs the policy sent to review: one row per held job, with the evidence a reviewer
decides on.

The gate holds a request whose policy decision is "review" (and that nothing else stopped): its
quota is reserved and its files sit in the job's directory, under no node's lease, until a
reviewer approves (``reviews``: the gate checks access and consent again, then the job is
queued) or denies (the job fails and is refunded). The evidence is what the policy saw: the
instructions' text, each audio file's transcript, and each check's action, categories, rules,
layer and score. It stays in the database for the reviewer; the audit log keeps none of it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Integer, String, Text
from sqlmodel import Field, Session, SQLModel

from ..access.ids import utcnow
from ..access.models import UtcDateTime
from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..listing import isoformat
from ..policy import Decision
from ..runtime import Runtime


class ReviewStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


class GenerationReview(SQLModel, table=True):
    __tablename__ = "generation_reviews"

    id: str = Field(sa_column=Column(String(40), primary_key=True))
    job_id: str = Field(sa_column=Column(String(40), nullable=False, unique=True))
    owner: str = Field(sa_column=Column(String(256), nullable=False, index=True))
    identity_id: str = Field(sa_column=Column(String(40), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    reasons: str = Field(sa_column=Column(Text, nullable=False))  # JSON list
    evidence: str = Field(sa_column=Column(Text, nullable=False))  # JSON object
    request_entry: int = Field(sa_column=Column(Integer, nullable=False))  # the gate's hold
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False, index=True))
    decided_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True)
    )
    decided_by: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    decision_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


@dataclass(frozen=True)
class ReviewView:
    id: str
    job_id: str
    owner: str
    identity_id: str
    status: ReviewStatus
    reasons: list[str]
    evidence: dict[str, Any]
    request_entry: int
    created_at: str | None
    age_s: float
    decided_at: str | None
    decided_by: str | None
    decision_reason: str | None

    @classmethod
    def of(cls, row: GenerationReview) -> ReviewView:
        return cls(
            row.id,
            row.job_id,
            row.owner,
            row.identity_id,
            ReviewStatus(row.status),
            list(json.loads(row.reasons)),
            dict(json.loads(row.evidence)),
            row.request_entry,
            isoformat(row.created_at),
            round(((row.decided_at or utcnow()) - row.created_at).total_seconds(), 1),
            isoformat(row.decided_at),
            row.decided_by,
            row.decision_reason,
        )


def check_evidence(source: str, decision: Decision) -> dict[str, Any]:
    """One policy check as a reviewer reads it: which input, what it decided, and why."""
    return {
        "input": source,
        "action": decision.action.value,
        "categories": list(decision.categories),
        "rule_ids": list(decision.rule_ids),
        "layer": decision.layer,
        "score": None if decision.score is None else round(decision.score, 3),
        "reason": decision.reason,
    }


def hold(
    runtime: Runtime,
    job_id: str,
    owner: str,
    actor: str,
    identity_id: str,
    *,
    reasons: list[str],
    evidence: dict[str, Any],
    request_entry: int,
) -> ReviewView:
    """Put a held job in the review queue (its row is in place, awaiting review) and audit it."""
    review_id = "rev_" + secrets.token_urlsafe(12)
    row = GenerationReview(
        id=review_id,
        job_id=job_id,
        owner=owner,
        identity_id=identity_id,
        status=ReviewStatus.PENDING,
        reasons=json.dumps(reasons),
        evidence=json.dumps(evidence),
        request_entry=request_entry,
        created_at=utcnow(),
    )
    with Session(runtime.engine, expire_on_commit=False) as session:
        session.add(row)
        session.commit()
    AuditService(runtime.audit).record(
        AuditTag.GENERATION_REVIEW_SUBMIT,
        actor,
        outcome="review",
        objects={"review": review_id, "job": job_id, "identity": identity_id},
        reasons=reasons,
        payload={"request_entry": request_entry},
    )
    return ReviewView.of(row)
