"""``/v1/sessions``: open a live session through the gate, and look back at sessions.

Who may call: ``POST`` needs the ``generate:live`` scope (researchers approved for live use, not
expired or suspended), for identities of their own whose subject consented to live use. The
lists and a session's record: its owner, and reviewers (``review``) for everybody's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..access.guards import get_principal, require_scope
from ..access.principals import Principal
from ..access.scopes import Scope
from ..auditing.tags import AuditTag
from ..errors import NotFound
from ..listing import MAX_PAGE
from ..revocations import Revocation
from . import ledger
from .ledger import LiveSessionView, LiveStatus
from .opening import open_live_session
from .registry import TICKET_SECONDS
from .services import live_services
from .session import StopReason

router = APIRouter(tags=["sessions"])

Size = Literal["512x512", "1280x720", "720x1280"]


class SessionRequest(BaseModel):
    identity_id: str = Field(max_length=64)
    instructions: str | None = Field(default=None, max_length=2000)
    size: Size = "512x512"
    fps: int = Field(default=25, ge=10, le=30)


class SessionOpened(BaseModel):
    session_id: str
    stream_url: str
    ticket_expires_in_s: float
    audit_index: int


@router.post(
    "/v1/sessions",
    status_code=201,
    summary="Open a live session (scope generate:live; the gate decides, and audits it)",
)
async def open_session(
    body: SessionRequest,
    request: Request,
    principal: Annotated[Principal, Depends(require_scope(Scope.GENERATE_LIVE))],
) -> SessionOpened:
    opened = await run_in_threadpool(
        open_live_session,
        live_services(request.app),
        principal,
        body.identity_id,
        instructions=body.instructions,
        size=body.size,
        fps=body.fps,
    )
    # The stream is served by this node (the session lives here): its own URL, so that any
    # load balancer in front of the nodes works without sticky sessions.
    node_url = live_services(request.app).runtime.settings.node_url
    base = (node_url or str(request.base_url)).replace("http", "ws", 1).rstrip("/")
    return SessionOpened(
        session_id=opened.session_id,
        stream_url=f"{base}/v1/sessions/{opened.session_id}/stream?ticket={opened.ticket}",
        ticket_expires_in_s=TICKET_SECONDS,
        audit_index=opened.audit_index,
    )


def session_view(view: LiveSessionView) -> dict[str, Any]:
    return {
        "id": view.id,
        "owner": view.owner,
        "identity_id": view.identity_id,
        "size": view.size,
        "fps": view.fps,
        "status": view.status.value,
        "opened_at": view.opened_at,
        "ended_at": view.ended_at,
        "stop_reason": view.stop_reason,
        "stop_detail": view.stop_detail,
        "audit_index": view.audit_index,
        "frames": view.frames,
    }


@router.get(
    "/v1/sessions",
    summary="Live sessions, newest first: the caller's own; reviewers see everybody's "
    "(filters owner, status; pages: limit, before=<last id>)",
)
def list_sessions(
    request: Request,
    principal: Annotated[Principal, Depends(get_principal)],
    owner: Annotated[str | None, Query(max_length=256)] = None,
    status: LiveStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    before: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    views = ledger.list_sessions(
        request.app.state.runtime, principal, owner=owner, status=status, limit=limit, before=before
    )
    return [session_view(view) for view in views]


@router.get(
    "/v1/sessions/{session_id}",
    summary="One live session's record (its owner, or reviewers)",
)
def get_session(
    session_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(get_principal)],
) -> dict[str, Any]:
    return session_view(ledger.get_session(request.app.state.runtime, principal, session_id))


@router.delete(
    "/v1/sessions/{session_id}",
    summary="Revoke a live session: it stops within a second (its owner, or reviewers; "
    "reason: why, kept in the audit entry and the session's record)",
)
def revoke_session(
    session_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(get_principal)],
    reason: Annotated[str | None, Query(max_length=2000)] = None,
) -> dict[str, str]:
    services = live_services(request.app)
    why = (reason or "").strip()
    detail = f"the session was revoked by {principal.actor}" + (f": {why}" if why else "")
    # (1): the flag on its row, which the node running it reads twice a second.
    if not ledger.revoke(services.runtime, principal, session_id, detail):
        raise NotFound("no such live session (it has ended)")
    # (2): stopped at once where it runs here; elsewhere the notification (PostgreSQL) or the
    # node's watch and lease stop it.
    try:
        session, _ = services.registry.get(session_id)
    except NotFound:
        view = ledger.get_session(services.runtime, principal, session_id)
        services.runtime.revocations.publish_elsewhere(
            Revocation(
                identity_id=view.identity_id,
                revoked_at=datetime.now(UTC),
                revoked_by=principal.actor,
                session_id=session_id,
                detail=detail,
            )
        )
    else:
        session.stop(StopReason.REVOKED, detail)
    services.audit.record(
        AuditTag.SESSION_STREAM_REVOKE,
        principal.actor,
        objects={"session": session_id},
        payload={"reason": why} if why else None,
    )
    return {"session_id": session_id, "status": "revoked"}
