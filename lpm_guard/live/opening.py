"""Opening a live session: the gate's admission, then everything a stream needs, or nothing.

``open_live_session`` is blocking work (the gate's database reads and audit entry, the
character's face fit, the first checkpoint's signature, the record's first segment, the ledger
row), so the route runs it in a worker thread and the event loop keeps serving the streams
already open.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from ..access.principals import Principal
from ..auditing.tags import AuditTag
from ..consent.models import Use
from ..performers import Direction, portrait_of
from ..performers.backends import backend_for
from ..policy import Use as PolicyUse
from ..provenance.services import generation_record
from ..provenance.watermark import Watermarker
from ..revocations import Revocation
from . import holds, ledger
from .checks import policy_stop
from .records import SignedRecord
from .services import LiveServices
from .session import LiveSession, PolicyStop, StopReason
from .watching import LiveWatch


@dataclass(frozen=True)
class OpenedSession:
    session_id: str
    ticket: str  # opens the stream once, within the registry's ticket lifetime
    audit_index: int  # the gate's allow entry


def open_live_session(
    services: LiveServices,
    principal: Principal,
    identity_id: str,
    *,
    instructions: str | None,
    size: str,
    fps: int,
) -> OpenedSession:
    """Admit the request through the gate, then build and register the session: watermarked
    frames, speech checks, the signed record, the revocation subscription and its ledger row.
    Instructions the policy sends to review are held for a reviewer once the stream starts
    (``session.instructions_held`` after ``session.created``); the gate admits the session
    without them.
    Raises the gate's refusal (audited there); if anything after admission fails, the session
    is stopped unstarted, which releases what it had taken."""
    # Instructions the policy sends to review (and nothing stricter) do not stop the session:
    # it opens without them, and they wait for a reviewer as a session.update's would.
    held = None
    if instructions:
        verdict = policy_stop(services.policy.check_text(instructions, PolicyUse.LIVE))
        if verdict is not None and verdict.review:
            held, instructions = (instructions, verdict), None
    admission = services.gate.admit(principal, identity_id, Use.LIVE, instructions=instructions)
    width, height = (int(v) for v in size.split("x"))
    # The performer (the CPU generator here, or a remote worker) gets the photo and nothing
    # else: no key, no audit, no record. Every frame it sends comes back through the gate.
    portrait = portrait_of(admission.photos[0], size=(width, height), landmarks=admission.landmarks)
    performer = backend_for(services.runtime.settings).start(portrait, Direction(fps=fps))
    secret = services.runtime.keys.watermark_key().secret
    marker = Watermarker(secret, admission.receipt.index, width=width, height=height)
    session_id = "ses_" + secrets.token_urlsafe(12)

    watch = LiveWatch(
        services.runtime,
        services.quotas,
        session_id=session_id,
        owner=principal.subject,
        fps=fps,
    )

    def audit(tag: AuditTag, details: dict[str, Any]) -> None:
        if tag == AuditTag.SESSION_STREAM_STOP:
            # What was streamed since the last charge is charged before the entry that ends
            # the session, which carries the total (a failed charge is logged and shown).
            charged, uncharged = watch.settle()
            details = {**details, "charged_s": round(charged, 3)}
            if uncharged:
                details["uncharged_s"] = round(uncharged, 3)
        services.audit.record(
            tag,
            principal.actor,
            outcome="deny" if tag.endswith(":deny") else "success",
            objects={"session": session_id, "identity": identity_id},
            payload=details,
        )

    def hold(text: str, stop: PolicyStop) -> str:
        held = holds.hold(
            services.runtime,
            session_id=session_id,
            owner=principal.subject,
            actor=principal.actor,
            identity_id=identity_id,
            instructions=text,
            stop=stop,
        )
        watch.held.add(held.id)
        return held.id

    try:
        checker = services.checks.checker()
    except BaseException:
        performer.close()
        raise
    try:
        session = LiveSession(
            performer,
            session_id=session_id,
            frame_filter=marker.mark,
            checker=checker,
            audit=audit,
            watch=watch,
            hold=hold,
        )
    except BaseException:
        checker.close()
        performer.close()
        raise
    watch.session = session
    try:
        if instructions:
            session.instruct_at_open(instructions)
        elif held is not None:
            session.hold_at_open(*held)
        # The session's record: signed segments as it goes, the whole recording at the end.
        record = generation_record(
            services.audit,
            session_id,
            admission.receipt,
            admission.policy_version,
            admission.consent_index,
        )
        directory = ledger.record_directory(services.runtime, session_id)
        session.sink = SignedRecord.start(services.provenance, directory, session, record)

        # Revoking the consent (or this session) stops the stream at once: the bus calls back
        # in this process, and from others where the database notifies (PostgreSQL); the
        # watch is the guarantee everywhere.
        def revoked(revocation: Revocation) -> None:
            if revocation.session_id is None:
                session.stop(StopReason.REVOKED, "consent revoked")
            elif revocation.session_id == session_id:
                session.stop(StopReason.REVOKED, revocation.detail or "the session was revoked")

        subscription = services.runtime.revocations.subscribe(revoked, identity_id)
        session.on_end(subscription.close)  # else the bus keeps every ended session alive

        # Instructions still waiting for a reviewer can no longer be applied.
        def close_holds() -> None:
            holds.close_for_session(services.runtime, session_id)

        session.on_end(close_holds)
        services.lease.hold(ledger.SessionLeases(services.registry))  # while it runs
        ticket = services.registry.add(session, principal.subject, identity=identity_id)
        ledger.opened(
            services.runtime,
            session,
            owner=principal.subject,
            identity_id=identity_id,
            size=size,
            audit_index=admission.receipt.index,
            per_owner=services.runtime.settings.live_sessions_per_researcher,
        )
    except BaseException:
        # Not opened after all (the limits, a failing record): stopping it unstarted releases
        # the checker, the record and the subscription.
        session.stop(StopReason.ERROR, "the session could not be opened")
        raise
    return OpenedSession(session_id, ticket, admission.receipt.index)
