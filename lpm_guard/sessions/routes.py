"""``/v1/sessions``: open a live session through the gate, and look back at sessions.

Who may call: ``POST`` needs the ``generate:live`` scope (researchers approved for live use, not
expired or suspended), for identities of their own whose subject consented to live use. The
lists and a session's record: its owner, and reviewers (``review``) for everybody's.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from ..access.ids import utcnow
from ..access.principals import Principal
from ..access.scopes import Scope
from ..access.standing import standing_of
from ..api.security import get_principal, require_scope
from ..auditing.tags import AuditTag
from ..consent.models import Use
from ..errors import LpmGuardError, NotFound
from ..generator import Character
from ..provenance.watermark import Watermarker
from . import ledger
from .ledger import LiveSessionView, LiveStatus
from .live import LiveSession, StopReason
from .records import SignedRecord, provenance_record
from .services import session_services

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
    services = session_services(request.app)
    admission = await run_in_threadpool(
        services.gate.admit,
        principal,
        body.identity_id,
        Use.LIVE,
        instructions=body.instructions,
    )
    width, height = (int(v) for v in body.size.split("x"))
    character = await run_in_threadpool(
        Character.from_photo, admission.photos[0], size=(width, height)
    )
    secret = services.runtime.keys.watermark_key().secret
    marker = Watermarker(secret, admission.receipt.index, width=width, height=height)
    session_id = "ses_" + secrets.token_urlsafe(12)

    def audit(tag: str, details: dict[str, Any]) -> None:
        services.audit.record(
            tag,
            principal.actor,
            outcome="deny" if tag.endswith(":deny") else "success",
            objects={"session": session_id, "identity": body.identity_id},
            payload=details,
        )
        if tag == "session:stream:stop":
            seconds = float(details.get("frames", 0)) / body.fps
            # A researcher suspended mid-stream has no quota left to charge; the audit entry
            # above keeps the seconds either way.
            if seconds > 0:
                with contextlib.suppress(LpmGuardError):
                    services.quotas.charge(principal.subject, seconds)

    def watch() -> tuple[StopReason, str] | None:
        # The researcher's standing, checked while the stream runs: suspension, expiry or a
        # disabled account ends it within a second, in this process or from another one.
        with Session(services.runtime.engine) as db:
            standing = standing_of(db, principal.subject, utcnow())
        if standing is None or standing.locked or Scope.GENERATE_LIVE not in standing.scopes:
            reason = standing.reason if standing is not None else "no such account"
            return StopReason.REVOKED, f"the researcher's access ended: {reason}"
        return None

    checker = await run_in_threadpool(services.checks.checker)
    try:
        session = LiveSession(
            character,
            session_id=session_id,
            fps=body.fps,
            frame_filter=marker.mark,
            checker=checker,
            audit=audit,
            watch=watch,
        )
    except BaseException:
        checker.close()
        raise
    try:
        if body.instructions:
            session.instruct_at_open(body.instructions)
        # The session's record: signed segments as it goes, the whole recording at the end.
        checkpoint = services.audit.checkpoint(force=True)
        consent_leaf = (
            services.runtime.audit.entry(admission.consent_index).leaf_hash
            if admission.consent_index is not None
            else b"\0" * 32
        )
        record = provenance_record(
            session_id,
            admission.receipt,
            checkpoint.note,
            admission.policy_version,
            consent_leaf,
        )
        directory = services.runtime.settings.data_dir / "sessions" / session_id
        session.sink = SignedRecord.start(services.provenance, directory, session, record)
        # Revoking the consent stops the stream at once (the bus calls back in-process).
        subscription = services.runtime.revocations.subscribe(
            lambda revocation: session.stop(StopReason.REVOKED, "consent revoked"),
            body.identity_id,
        )
        session.on_end(subscription.close)  # else the bus keeps every ended session alive
        ticket = services.registry.add(session, principal.subject, identity=body.identity_id)
        ledger.opened(
            services.runtime,
            session,
            owner=principal.subject,
            identity_id=body.identity_id,
            size=body.size,
            audit_index=admission.receipt.index,
        )
    except BaseException:
        # Not opened after all (the limits, a failing record): stopping it unstarted releases
        # the checker, the record and the subscription.
        session.stop(StopReason.ERROR, "the session could not be opened")
        raise
    base = str(request.base_url).replace("http", "ws", 1).rstrip("/")
    return SessionOpened(
        session_id=session_id,
        stream_url=f"{base}/v1/sessions/{session_id}/stream?ticket={ticket}",
        ticket_expires_in_s=60.0,
        audit_index=admission.receipt.index,
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
    limit: Annotated[int, Query(ge=1, le=ledger.MAX_PAGE)] = 50,
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
    summary="Revoke a live session: it stops within a second (its owner, or reviewers)",
)
def revoke_session(
    session_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(get_principal)],
) -> dict[str, str]:
    services = session_services(request.app)
    session, owner = services.registry.get(session_id)
    if owner != principal.subject and Scope.REVIEW not in principal.scopes:
        raise NotFound("no such live session")
    session.stop(StopReason.REVOKED, f"the session was revoked by {principal.actor}")
    services.audit.record(
        AuditTag.SESSION_STREAM_REVOKE, principal.actor, objects={"session": session_id}
    )
    return {"session_id": session_id, "status": "revoked"}
