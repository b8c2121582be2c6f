"""Live instructions the policy sent to review: one row per held ``session.update``, with the
evidence a reviewer decides on.

A running session whose new instructions the policy answers "review" neither applies nor
refuses them: ``hold`` writes them here (pending) and audits ``session:instructions:review``;
the requester hears ``session.instructions_held``. A reviewer approves or denies
(``reviews``: compare-and-set on the status, one decision per row). The session's watch, on
the node that runs it, reads its decided rows through the database (``deliveries``: each one
taken once) and instructs the performer, or tells the client the reviewer said no. A session
that ends closes its pending rows as ``session_ended`` (``close_for_session``; ``ledger.recover``
does it for a session whose node went away). The instructions' text stays here for the reviewer;
the audit log keeps none of it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Float, String, Text, update
from sqlmodel import Field, Session, SQLModel, col, select

from ..access.ids import utcnow
from ..access.models import UtcDateTime
from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..listing import isoformat
from ..runtime import Runtime
from .session import PolicyStop


class HeldStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    SESSION_ENDED = "session_ended"  # the session ended before anyone decided


class InstructionReview(SQLModel, table=True):
    __tablename__ = "live_instruction_reviews"

    id: str = Field(sa_column=Column(String(40), primary_key=True))
    session_id: str = Field(sa_column=Column(String(40), nullable=False, index=True))
    owner: str = Field(sa_column=Column(String(256), nullable=False, index=True))
    identity_id: str = Field(sa_column=Column(String(40), nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    instructions: str = Field(sa_column=Column(Text, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))  # the policy's
    rule_ids: str = Field(sa_column=Column(Text, nullable=False))  # JSON list
    categories: str = Field(sa_column=Column(Text, nullable=False))  # JSON list
    layer: str = Field(sa_column=Column(String(32), nullable=False))
    score: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    created_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False, index=True))
    decided_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True)
    )
    decided_by: str | None = Field(default=None, sa_column=Column(String(256), nullable=True))
    decision_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # When the session's watch took the decision to the session (approved: applied).
    delivered_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True)
    )


@dataclass(frozen=True)
class InstructionReviewView:
    id: str
    session_id: str
    owner: str
    identity_id: str
    status: HeldStatus
    instructions: str
    reason: str
    rule_ids: list[str]
    categories: list[str]
    layer: str
    score: float | None
    created_at: str | None
    age_s: float
    decided_at: str | None
    decided_by: str | None
    decision_reason: str | None
    delivered_at: str | None

    @classmethod
    def of(cls, row: InstructionReview) -> InstructionReviewView:
        return cls(
            row.id,
            row.session_id,
            row.owner,
            row.identity_id,
            HeldStatus(row.status),
            row.instructions,
            row.reason,
            list(json.loads(row.rule_ids)),
            list(json.loads(row.categories)),
            row.layer,
            row.score,
            isoformat(row.created_at),
            round(((row.decided_at or utcnow()) - row.created_at).total_seconds(), 1),
            isoformat(row.decided_at),
            row.decided_by,
            row.decision_reason,
            isoformat(row.delivered_at),
        )

    def as_json(self) -> dict[str, Any]:
        return {**self.__dict__, "status": self.status.value}


def hold(
    runtime: Runtime,
    *,
    session_id: str,
    owner: str,
    actor: str,
    identity_id: str,
    instructions: str,
    stop: PolicyStop,
) -> InstructionReviewView:
    """Put held instructions in the review queue and audit it."""
    review_id = "irv_" + secrets.token_urlsafe(12)
    row = InstructionReview(
        id=review_id,
        session_id=session_id,
        owner=owner,
        identity_id=identity_id,
        status=HeldStatus.PENDING,
        instructions=instructions,
        reason=stop.reason,
        rule_ids=json.dumps(list(stop.rule_ids)),
        categories=json.dumps(list(stop.categories)),
        layer=stop.layer,
        score=stop.score,
        created_at=utcnow(),
    )
    with Session(runtime.engine, expire_on_commit=False) as db:
        db.add(row)
        db.commit()
    AuditService(runtime.audit).record(
        AuditTag.SESSION_INSTRUCTIONS_REVIEW,
        actor,
        outcome="review",
        objects={"review": review_id, "session": session_id, "identity": identity_id},
        reasons=[stop.reason],
        payload={"rule_ids": list(stop.rule_ids), "categories": list(stop.categories)},
    )
    return InstructionReviewView.of(row)


def deliveries(runtime: Runtime, session_id: str) -> list[InstructionReviewView]:
    """This session's decided rows not yet taken to it, oldest first; each is returned once
    (marked delivered by compare-and-set, so two readers never both act on one)."""
    with Session(runtime.engine) as db:
        rows = db.exec(
            select(InstructionReview)
            .where(
                col(InstructionReview.session_id) == session_id,
                col(InstructionReview.status).in_([HeldStatus.APPROVED, HeldStatus.DENIED]),
                col(InstructionReview.delivered_at).is_(None),
            )
            .order_by(col(InstructionReview.decided_at), col(InstructionReview.id))
        ).all()
        taken = []
        for row in rows:
            result = db.execute(
                update(InstructionReview)
                .where(
                    col(InstructionReview.id) == row.id,
                    col(InstructionReview.delivered_at).is_(None),
                )
                .values(delivered_at=utcnow())
            )
            if getattr(result, "rowcount", 0) == 1:
                taken.append(InstructionReviewView.of(row))
        db.commit()
    return taken


def close_for_session(runtime: Runtime, session_id: str) -> int:
    """The session ended: its rows still pending can no longer be applied; returns how many."""
    with Session(runtime.engine) as db:
        result = db.execute(
            update(InstructionReview)
            .where(
                col(InstructionReview.session_id) == session_id,
                col(InstructionReview.status) == HeldStatus.PENDING,
            )
            .values(
                status=HeldStatus.SESSION_ENDED,
                decided_at=utcnow(),
                decided_by="system",
                decision_reason="the session ended before a decision",
            )
        )
        db.commit()
    return int(getattr(result, "rowcount", 0))
