"""The consent services: the request-time check, revocation, synthetic characters, protected
identities, and our own watermark refused as consent."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlmodel import Session, select

from lpm_guard.consent.errors import (
    IdentityCollision,
    LinkGone,
    ProtectedIdentityMatch,
    WrongState,
)
from lpm_guard.consent.models import (
    ConsentRecord,
    Identity,
    IdentityStatus,
    ReferencePhoto,
    Use,
)
from lpm_guard.consent.services import ConsentService
from lpm_guard.revocations import Revocation
from lpm_guard.runtime import Runtime
from tests.consent.consenting import consent_person
from tests.mailbox import Mailbox

from .conftest import PRINCIPALS, People, invite_and_read_token, png

A = PRINCIPALS["token-researcher-a"]
B = PRINCIPALS["token-researcher-b"]
REVIEWER = "reviewer-1"


def consented(
    service: ConsentService,
    smtp_server: Mailbox,
    photo: np.ndarray,
    uses: tuple[Use, ...] = (Use.OFFLINE, Use.LIVE),
    email: str = "subject@example.org",
) -> tuple[str, str]:
    """A person consented the whole way (live capture, reviewer); their identity's id and the
    withdrawal token emailed to them."""
    done = consent_person(
        service, smtp_server, A, enrolled=photo, live=photo, uses=uses, email=email
    )
    return done.identity_id, smtp_server.withdrawal_token(email)


def entries(runtime: Runtime) -> list[dict[str, object]]:
    size = runtime.audit.size()
    return [json.loads(runtime.audit.entry(i).body) for i in range(size)]


def test_the_request_check_allows_consented_uses_of_matching_references(
    service: ConsentService, people: People, smtp_server: Mailbox, runtime: Runtime
) -> None:
    identity_id, _ = consented(service, smtp_server, people.t1[2], uses=(Use.OFFLINE,))
    reference = people.t1[2][::-1, ::-1].copy()[::-1, ::-1]  # another copy of the same picture
    allowed = service.check_request(A.subject, identity_id, Use.OFFLINE, [reference])
    assert allowed.allowed and allowed.reasons == ()
    # Not covering the use; another researcher; a reference of another person; a group.
    live = service.check_request(A.subject, identity_id, Use.LIVE, [reference])
    assert not live.allowed and live.reasons == ("consent does not cover live generation",)
    theirs = service.check_request(B.subject, identity_id, Use.OFFLINE, [reference])
    assert not theirs.allowed and "caller's" in theirs.reasons[0]
    other = service.check_request(A.subject, identity_id, Use.OFFLINE, [people.t1[0]])
    assert not other.allowed and "does not match the identity" in other.reasons[0]
    group = service.check_request(A.subject, identity_id, Use.OFFLINE, [people.group])
    assert not group.allowed
    # Once the consent's term is over, nothing is allowed.
    with Session(runtime.engine) as session:
        identity = session.get(Identity, identity_id)
        assert identity is not None
        identity.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(identity)
        session.commit()
    expired = service.check_request(A.subject, identity_id, Use.OFFLINE, [reference])
    assert expired.reasons == ("consent expired",)
    # Every decision is in the audit log, as allow or deny, with its reasons.
    checks = [e for e in entries(runtime) if e["action"] == "consent:request:check"]
    assert [e["outcome"] for e in checks] == ["allow", "deny", "deny", "deny", "deny", "deny"]
    assert checks[-1]["reasons"] == ["consent expired"]
    assert allowed.audit_index == checks[0]["index"]


def test_revocation_by_the_subject_denies_the_next_request_and_notifies(
    service: ConsentService, people: People, smtp_server: Mailbox, runtime: Runtime
) -> None:
    identity_id, withdrawal = consented(service, smtp_server, people.t1[5])
    heard: list[Revocation] = []
    others: list[Revocation] = []
    runtime.revocations.subscribe(heard.append, identity_id)
    runtime.revocations.subscribe(others.append, "idn_someone_else")
    assert service.check_request(A.subject, identity_id, Use.LIVE, [people.t1[5]]).allowed
    with Session(runtime.engine) as session:
        hashes = sorted(p.sha256 for p in session.exec(select(ReferencePhoto)).all())

    service.revoke_by_subject(withdrawal)

    decision = service.check_request(A.subject, identity_id, Use.LIVE, [people.t1[5]])
    assert not decision.allowed
    assert "the identity is revoked, not consented" in decision.reasons
    assert [r.identity_id for r in heard] == [identity_id] and heard[0].revoked_by == "subject"
    assert others == []
    # Photos, descriptors and the captured evidence are gone; the audit log keeps hashes.
    with Session(runtime.engine) as session:
        assert session.exec(select(ReferencePhoto)).all() == []
        record = session.exec(select(ConsentRecord)).one()
        assert record.evidence is None and record.revoked_at is not None
    revoked = next(e for e in entries(runtime) if e["action"] == "consent:consent:revoke")
    assert revoked["payload"] == {"deleted_photo_sha256": hashes}  # type: ignore[comparison-overlap]
    # The revocation link works once.
    with pytest.raises(LinkGone):
        service.revoke_by_subject(withdrawal)


def test_a_reviewer_revokes_and_open_invitations_die(
    service: ConsentService, people: People, runtime: Runtime, smtp_server: Mailbox
) -> None:
    identity = service.create_identity(
        A, "Subject", [png(people.t1[5])], subject_email="subject@example.org"
    )
    _, token = invite_and_read_token(service, smtp_server, A, identity.id, [Use.LIVE])
    heard: list[Revocation] = []
    runtime.revocations.subscribe(heard.append)
    service.revoke_by_reviewer(REVIEWER, identity.id, "the subject phoned us")
    assert heard[0].revoked_by == REVIEWER
    with pytest.raises(LinkGone):
        service.read_invitation(token)
    with pytest.raises(WrongState):
        service.invite(A, identity.id, [Use.LIVE])


def test_synthetic_characters_need_a_reviewer_and_must_resemble_nobody(
    service: ConsentService, people: People, smtp_server: Mailbox
) -> None:
    attestation = "This character was drawn by our lab's artist and depicts no real person."
    drawn = people.t1[4]  # stands in for an AI-generated face nobody consented for
    character = service.enroll_synthetic(
        A,
        "Avatar",
        "ai-generated",
        attestation,
        [png(drawn)],
        [Use.LIVE],  # type: ignore[arg-type]
    )
    assert character.status == IdentityStatus.PENDING_REVIEW
    pending = service.check_request(A.subject, character.id, Use.LIVE, [drawn])
    assert not pending.allowed and "pending_review" in pending.reasons[0]
    service.review_synthetic(REVIEWER, character.id, approve=True, reason="clearly synthetic")
    assert service.check_request(A.subject, character.id, Use.LIVE, [drawn]).allowed
    # A "synthetic" character that is a consented person's face is refused.
    identity_id, _ = consented(service, smtp_server, people.t1[5])
    with pytest.raises(IdentityCollision):
        service.enroll_synthetic(
            A,
            "Lookalike",
            "drawn",
            attestation,
            [png(people.t1[5])],
            [Use.LIVE],  # type: ignore[arg-type]
        )
    assert identity_id


def test_protected_identities_are_refused_everywhere(
    service: ConsentService, people: People, smtp_server: Mailbox
) -> None:
    identity_id, _ = consented(service, smtp_server, people.t1[2])
    assert service.check_request(A.subject, identity_id, Use.LIVE, [people.t1[2]]).allowed
    protected = service.add_protected(
        REVIEWER, "A public figure", "public figure", [png(people.t1[2])]
    )
    assert [p.id for p in service.list_protected()] == [protected.id]
    # Checked on every request, even for an identity consented before the protection...
    decision = service.check_request(A.subject, identity_id, Use.LIVE, [people.t1[2]])
    assert not decision.allowed
    assert decision.reasons == (f"a face matches protected identity {protected.id}",)
    # ...and on every enrollment.
    with pytest.raises(ProtectedIdentityMatch):
        service.create_identity(B, "Again", [png(people.t1[2])])
    with pytest.raises(ProtectedIdentityMatch):
        service.enroll_synthetic(
            B,
            "Cartoon",
            "drawn",  # type: ignore[arg-type]
            "A drawing made for the study that depicts nobody in particular.",
            [png(people.t1[2])],
            [Use.LIVE],
        )
    # Other people are unaffected.
    assert service.create_identity(B, "Someone else", [png(people.t1[5])]).status == (
        IdentityStatus.AWAITING_CONSENT
    )
