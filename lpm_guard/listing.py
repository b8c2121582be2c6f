"""Lists of the gate's rows (live sessions, offline jobs): whose a caller sees, a page at a time,
newest first."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import Session, select

from .access.principals import Principal
from .access.scopes import Scope
from .errors import Forbidden, InvalidRequest

MAX_PAGE = 200


def isoformat(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC (``UtcDateTime`` columns come back aware, from SQLite too)."""
    return moment.isoformat() if moment is not None else None


def is_reviewer(principal: Principal) -> bool:
    return Scope.REVIEW in principal.scopes


def whose(principal: Principal, owner: str | None) -> str | None:
    """The owner a list is limited to: the caller's own, unless a reviewer asks (for one
    researcher's, or everybody's when ``owner`` is None)."""
    if is_reviewer(principal):
        return owner
    if owner is not None and owner != principal.subject:
        raise Forbidden("only reviewers list other researchers' sessions and jobs")
    return principal.subject


def newest_first(
    db: Session,
    model: Any,
    stamp: Any,
    *,
    owner: str | None,
    status: str | None,
    limit: int,
    before: str | None,
) -> list[Any]:
    """One page of ``model`` rows, newest ``stamp`` first (ties by id); ``before`` is the id of
    the last row of the previous page, and must be one the caller may see."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit takes 1 to {MAX_PAGE}")
    query = select(model)
    if owner is not None:
        query = query.where(model.owner == owner)
    if status is not None:
        query = query.where(model.status == status)
    if before is not None:
        anchor = db.get(model, before)
        if anchor is None or (owner is not None and anchor.owner != owner):
            raise InvalidRequest("before: give the id of the last item of the previous page")
        at = getattr(anchor, stamp.key)
        query = query.where(or_(stamp < at, and_(stamp == at, model.id < anchor.id)))
    query = query.order_by(stamp.desc(), model.id.desc()).limit(limit)
    return list(db.exec(query).all())


def oldest_first(engine: Any, model: Any, *, status: str | None, limit: int) -> list[Any]:
    """A review queue: ``model`` rows with ``status`` (all when None), oldest first (ties by
    id), at most ``limit``."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit takes 1 to {MAX_PAGE}")
    query = select(model).order_by(model.created_at, model.id)
    if status is not None:
        query = query.where(model.status == status)
    with Session(engine) as db:
        return list(db.exec(query.limit(limit)).all())


def decision_reason(actor: str, owner: str, reason: str) -> str:
    """A reviewer's reason, one line; refused when empty or when the reviewer is the one who
    asked (nobody decides their own request)."""
    why = " ".join(reason.split())
    if not why:
        raise InvalidRequest("give a reason for the decision")
    if actor == owner:
        raise Forbidden("a researcher cannot decide on their own request")
    return why


def claim(engine: Any, model: Any, review_id: str, values: dict[str, Any], *also: Any) -> bool:
    """Decide a pending ``model`` row (compare-and-set on its status, and ``also``): one
    decision, however many reviewers press at once. False when it was not pending."""
    with Session(engine) as db:
        result = db.execute(
            update(model)
            .where(model.id == review_id, model.status == "pending", *also)
            .values(**values)
        )
        db.commit()
    return bool(getattr(result, "rowcount", 0) == 1)
