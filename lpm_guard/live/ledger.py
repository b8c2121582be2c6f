"""Live sessions on the books: one row per session the gate admitted, kept after it ends.

The registry holds the sessions this process runs; this table is what people look back at (the
researcher's dashboard, the reviewer console) and what every process shares: ``opened`` when the
gate has admitted a session (``POST /v1/sessions``, under this node's lease), ``charge`` as it
streams (the seconds, the frames, the lease renewed), ``revoke`` from any node (the flag the
running session's watch reads), ``ended`` from the session's end hook (``LiveSession.on_end``),
and ``recover`` for the rows whose node stopped renewing its lease. The decisions themselves are
in the audit log (the gate's allow entry, ``session:stream:stop``); the row points at the allow
entry by its index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    String,
    Text,
    delete,
    false,
    func,
    or_,
    text,
    update,
)
from sqlalchemy import select as sa_select
from sqlmodel import Field, Session, SQLModel, col, select

from ..access.interfaces import Quotas
from ..access.models import UtcDateTime
from ..access.principals import Principal
from ..auditing.services import AuditService
from ..auditing.tags import AuditTag
from ..consent.models import Identity, Use
from ..errors import NotFound
from ..listing import is_reviewer, isoformat, newest_first, whose
from ..runtime import Runtime
from .errors import SessionLimitReached
from .holds import close_for_session
from .registry import SessionRegistry
from .session import LiveSession, StopReason


class LiveStatus(StrEnum):
    OPEN = "open"
    ENDED = "ended"


class LiveSessionRow(SQLModel, table=True):
    __tablename__ = "live_sessions"

    id: str = Field(sa_column=Column(String(40), primary_key=True))
    owner: str = Field(sa_column=Column(String(256), nullable=False, index=True))
    identity_id: str = Field(sa_column=Column(String(40), nullable=False))
    size: str = Field(sa_column=Column(String(16), nullable=False))
    fps: int = Field(sa_column=Column(Integer, nullable=False))
    status: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    opened_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False, index=True))
    ended_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    stop_reason: str | None = Field(default=None, sa_column=Column(String(32), nullable=True))
    stop_detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    audit_index: int = Field(sa_column=Column(Integer, nullable=False))
    frames: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    # The lease: the node (process) that runs the session and when it last said so.
    node_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    heartbeat_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True)
    )
    # Set by ``DELETE /v1/sessions/{id}`` on any node; the node running it stops it.
    revoked_at: datetime | None = Field(
        default=None, sa_column=Column(UtcDateTime(), nullable=True)
    )
    revoke_detail: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    charged_s: float = Field(
        default=0.0, sa_column=Column(Float, nullable=False, server_default=text("0"))
    )
    # Where its stream is served: the URL of the node that holds it (``LPM_NODE_URL``).
    node_url: str | None = Field(default=None, sa_column=Column(String(512), nullable=True))


@dataclass(frozen=True)
class LiveSessionView:
    id: str
    owner: str
    identity_id: str
    size: str
    fps: int
    status: LiveStatus
    opened_at: str | None
    ended_at: str | None
    stop_reason: str | None
    stop_detail: str | None
    audit_index: int
    frames: int

    @classmethod
    def of(cls, row: LiveSessionRow) -> LiveSessionView:
        return cls(
            row.id,
            row.owner,
            row.identity_id,
            row.size,
            row.fps,
            LiveStatus(row.status),
            isoformat(row.opened_at),
            isoformat(row.ended_at),
            row.stop_reason,
            row.stop_detail,
            row.audit_index,
            row.frames,
        )


def opened(
    runtime: Runtime,
    session: LiveSession,
    *,
    owner: str,
    identity_id: str,
    size: str,
    audit_index: int,
    per_owner: int | None = None,
) -> None:
    """Put an admitted session on the books, and have its end recorded however it ends.
    Called once the session is registered (a session refused by the limits is not on them).
    ``per_owner``: the owner's open sessions on every node, this one included, may not exceed
    it; counted after the insert, so two nodes opening at once both see both (and refuse
    rather than overrun)."""
    row = LiveSessionRow(
        id=session.session_id,
        owner=owner,
        identity_id=identity_id,
        size=size,
        fps=session.fps,
        status=LiveStatus.OPEN,
        opened_at=datetime.now(UTC),
        audit_index=audit_index,
    )
    row.node_id, row.heartbeat_at = runtime.node_id, row.opened_at
    row.node_url = runtime.settings.node_url
    with Session(runtime.engine) as db:
        db.add(row)
        db.commit()
    if per_owner is not None:
        with Session(runtime.engine) as db:
            holding = open_sessions(db, owner)
            if holding > per_owner:
                db.execute(
                    delete(LiveSessionRow).where(col(LiveSessionRow.id) == session.session_id)
                )
                db.commit()
                raise SessionLimitReached(
                    f"at most {per_owner} live sessions at a time", limit=per_owner
                )
    session.on_end(lambda: ended(runtime, session))
    if session.stopped:  # it ended before its hook was in place (a revocation, at once)
        ended(runtime, session)


def ended(runtime: Runtime, session: LiveSession) -> None:
    """The session is over: when, why, and how many frames it sent (its end hook)."""
    reason, detail = session.stop_reason or (StopReason.SHUTDOWN, "")
    with Session(runtime.engine) as db:
        db.execute(
            update(LiveSessionRow)
            .where(
                col(LiveSessionRow.id) == session.session_id,
                col(LiveSessionRow.status) == LiveStatus.OPEN,  # the first end wins
            )
            .values(
                status=LiveStatus.ENDED,
                ended_at=datetime.now(UTC),
                stop_reason=reason.value,
                stop_detail=detail or None,
                frames=session.stats.frames,
            )
        )
        db.commit()


def open_sessions(db: Session, owner: str) -> int:
    """The owner's live sessions open on any node."""
    statement = (
        sa_select(func.count())
        .select_from(LiveSessionRow)
        .where(col(LiveSessionRow.owner) == owner, col(LiveSessionRow.status) == LiveStatus.OPEN)
    )
    return int(db.execute(statement).scalar_one())


def holder_url(runtime: Runtime, session_id: str) -> str | None:
    """The URL of the node serving an open session's stream (None: ended or unknown)."""
    with Session(runtime.engine) as db:
        row = db.get(LiveSessionRow, session_id)
    if row is None or row.status != LiveStatus.OPEN:
        return None
    return row.node_url


@dataclass(frozen=True, slots=True)
class WatchReading:
    """What a running session's watch reads about itself, in one query: its revoked flag and
    its identity's consent."""

    revoked: bool
    revoke_detail: str | None
    consent_status: str | None  # None: the identity is gone
    live_allowed: bool
    consent_expired: bool


def watch(db: Session, session_id: str, now: datetime) -> WatchReading:
    row = db.execute(
        sa_select(
            col(LiveSessionRow.revoked_at),
            col(LiveSessionRow.revoke_detail),
            col(Identity.status),
            col(Identity.allowed_uses),
            col(Identity.expires_at),
        )
        .select_from(LiveSessionRow)
        .outerjoin(Identity, col(Identity.id) == col(LiveSessionRow.identity_id))
        .where(col(LiveSessionRow.id) == session_id)
    ).first()
    if row is None:  # the row is written before the stream can start: gone means stop
        return WatchReading(True, "the session is not on the books", None, False, False)
    revoked_at, detail, status, uses, expires_at = row
    return WatchReading(
        revoked_at is not None,
        detail,
        status,
        Use.LIVE.value in (uses or "").split(","),
        expires_at is not None and _aware(expires_at) <= now,
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def charge(
    runtime: Runtime,
    quotas: Quotas,
    session_id: str,
    owner: str,
    seconds: float,
    frames: int,
) -> None:
    """In one transaction: ``seconds`` streamed added to the owner's use of the day and to the
    session's row, its frame count, and its lease renewed."""
    now = datetime.now(UTC)
    with Session(runtime.engine) as db:
        quotas.use(db, owner, seconds, now)
        db.execute(
            update(LiveSessionRow)
            .where(col(LiveSessionRow.id) == session_id)
            .values(
                charged_s=col(LiveSessionRow.charged_s) + seconds,
                frames=frames,
                heartbeat_at=now,
            )
        )
        db.commit()


def revoke(runtime: Runtime, principal: Principal, session_id: str, detail: str) -> bool:
    """Flag an open session revoked, on whichever node runs it (its owner, or reviewers);
    returns False if it had already ended. The node running it stops it at its next watch."""
    with Session(runtime.engine) as db:
        row = db.get(LiveSessionRow, session_id)
        if row is None or (row.owner != principal.subject and not is_reviewer(principal)):
            raise NotFound("no such live session")
        result = db.execute(
            update(LiveSessionRow)
            .where(
                col(LiveSessionRow.id) == session_id,
                col(LiveSessionRow.status) == LiveStatus.OPEN,
                col(LiveSessionRow.revoked_at).is_(None),
            )
            .values(revoked_at=datetime.now(UTC), revoke_detail=detail)
        )
        db.commit()
    return getattr(result, "rowcount", 0) == 1


def record_directory(runtime: Runtime, session_id: str) -> Path:
    """Where a session's signed segments and recording live: under the shared media directory."""
    return runtime.settings.media_dir / "sessions" / session_id


def _lapsed(node_id: str | None, before: datetime) -> Any:
    """Sessions this node may close: its own (a restart under the same node id), sessions from
    before leases, or those whose lease was last renewed before ``before``."""
    return or_(
        col(LiveSessionRow.node_id) == node_id if node_id is not None else false(),
        col(LiveSessionRow.node_id).is_(None),
        col(LiveSessionRow.heartbeat_at).is_(None),
        col(LiveSessionRow.heartbeat_at) < before,
    )


def recover(runtime: Runtime, lease_s: float | None = None, *, own: bool = True) -> int:
    """Close the rows of sessions a crash or restart cut off: this node's own and other
    nodes' whose lease lapsed (never a live neighbour's), each with its stop entry (the frames
    and seconds charged until its node stopped); returns how many. Run at start-up and then
    periodically (``leases.NodeLease``)."""
    lease = runtime.settings.node_lease_s if lease_s is None else lease_s
    before = datetime.now(UTC) - timedelta(seconds=lease)
    mine = runtime.node_id if own else None  # own: at start-up only, never while running it
    with Session(runtime.engine) as db:
        candidates = list(
            db.exec(
                select(LiveSessionRow).where(
                    col(LiveSessionRow.status) == LiveStatus.OPEN, _lapsed(mine, before)
                )
            ).all()
        )
    audit = AuditService(runtime.audit)
    closed = 0
    for row in candidates:
        with Session(runtime.engine) as db:
            result = db.execute(
                update(LiveSessionRow)
                .where(
                    col(LiveSessionRow.id) == row.id,
                    col(LiveSessionRow.status) == LiveStatus.OPEN,
                    _lapsed(mine, before),
                )
                .values(
                    status=LiveStatus.ENDED,
                    ended_at=datetime.now(UTC),
                    stop_reason=StopReason.SHUTDOWN.value,
                    stop_detail="interrupted by a restart (its node stopped)",
                )
            )
            db.commit()
        if getattr(result, "rowcount", 0) != 1:
            continue  # its node renewed the lease meanwhile, or another node closed it
        closed += 1
        close_for_session(runtime, row.id)  # its held instructions can no longer be applied
        # The segment being written and the whole recording were unsigned when the node
        # stopped (each is signed only as it closes): removed; the signed segments stay.
        for leftover in record_directory(runtime, row.id).glob(".*.unsigned.mp4"):
            leftover.unlink(missing_ok=True)
        audit.record(
            AuditTag.SESSION_STREAM_STOP,
            "system",
            objects={"session": row.id, "identity": row.identity_id},
            payload={
                "reason": StopReason.SHUTDOWN.value,
                "detail": "interrupted by a restart (its node stopped)",
                "frames": row.frames,
                "charged_s": round(row.charged_s, 3),
                "node": row.node_id,
            },
        )
    return closed


def list_sessions(
    runtime: Runtime,
    principal: Principal,
    *,
    owner: str | None = None,
    status: LiveStatus | None = None,
    limit: int = 50,
    before: str | None = None,
) -> list[LiveSessionView]:
    """The caller's live sessions (reviewers: everybody's, or ``owner``'s), newest first."""
    with Session(runtime.engine) as db:
        rows = newest_first(
            db,
            LiveSessionRow,
            col(LiveSessionRow.opened_at),
            owner=whose(principal, owner),
            status=status.value if status is not None else None,
            limit=limit,
            before=before,
        )
    return [LiveSessionView.of(row) for row in rows]


def get_session(runtime: Runtime, principal: Principal, session_id: str) -> LiveSessionView:
    """One live session of the caller's (reviewers see every one)."""
    with Session(runtime.engine) as db:
        row = db.get(LiveSessionRow, session_id)
    if row is None or (row.owner != principal.subject and not is_reviewer(principal)):
        raise NotFound("no such live session")
    return LiveSessionView.of(row)


class SessionLeases:
    """Live sessions under a node's lease (``lpm_guard.leases``): renewed while running, and
    those revoked from another node before their stream started stopped here (a started one's
    watch has stopped it already); closed with their stop entry once lapsed."""

    kind = "sessions"

    def __init__(self, registry: SessionRegistry | None = None) -> None:
        self.registry = registry  # this node's running sessions (None: a CLI command)

    def renew(self, runtime: Runtime, now: datetime) -> None:
        mine = [
            col(LiveSessionRow.node_id) == runtime.node_id,
            col(LiveSessionRow.status) == LiveStatus.OPEN,
        ]
        if self.registry is not None:
            # Only the sessions it still runs: one whose end could not be written (the
            # database was away) lapses, and the lease rules close it, rather than stay open
            # on the books, counted against its owner's limit, for as long as this node lives.
            mine.append(col(LiveSessionRow.id).in_(self.registry.held()))
        with Session(runtime.engine) as db:
            db.execute(update(LiveSessionRow).where(*mine).values(heartbeat_at=now))
            db.commit()
            flagged = (
                db.exec(
                    select(LiveSessionRow.id, LiveSessionRow.revoke_detail).where(
                        *mine, col(LiveSessionRow.revoked_at).is_not(None)
                    )
                ).all()
                if self.registry is not None
                else []
            )
        for session_id, detail in flagged:
            assert self.registry is not None
            try:
                session, _ = self.registry.get(session_id)
            except NotFound:
                continue
            session.stop(StopReason.REVOKED, detail or "the session was revoked")

    def recover(self, runtime: Runtime, *, own: bool) -> int:
        return recover(runtime, own=own)
