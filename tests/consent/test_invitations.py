"""Invitations reach the person, never the researcher: sent by the gate to the subject's own
address (a real SMTP server on loopback), refused, reported, blocked, limited."""

from __future__ import annotations

import json
import logging
import secrets
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from lpm_guard.consent.errors import AddressBlocked, MailUnavailable, TooManyInvitations
from lpm_guard.consent.models import (
    AddressBlock,
    ConsentRecord,
    Identity,
    IdentityStatus,
    Invitation,
    Use,
    utcnow,
)
from lpm_guard.consent.services import ConsentService
from lpm_guard.consent.settings import ConsentSettings
from lpm_guard.runtime import Runtime
from tests import mailbox
from tests.mailbox import Mailbox, text

from .conftest import PRINCIPALS, People, auth, invite_and_read_token, png

A, B = auth("token-researcher-a"), auth("token-researcher-b")
REVIEWER = auth("token-reviewer")
ADDRESS = "Ada.Subject@Example.org"


def enroll(
    api: TestClient, photo: np.ndarray, email: str = ADDRESS, headers: dict[str, str] = A
) -> Any:
    return api.post(
        "/v1/consent/identities",
        headers=headers,
        data={"display_name": "Ada Subject", "subject_email": email},
        files=[("photos", ("one.png", png(photo), "image/png"))],
    )


def invite(api: TestClient, identity_id: str, headers: dict[str, str] = A) -> Any:
    return api.post(
        f"/v1/consent/identities/{identity_id}/invitations",
        headers=headers,
        json={"uses": ["offline", "live"], "excluded_content": "political speech"},
    )


def audit_bodies(runtime: Runtime) -> list[dict[str, Any]]:
    return [json.loads(runtime.audit.entry(i).body) for i in range(runtime.audit.size())]


def test_the_invitation_reaches_the_subject_and_never_the_researcher(
    api: TestClient,
    people: People,
    smtp_server: Mailbox,
    runtime: Runtime,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    researcher_saw: list[str] = []
    created = enroll(api, people.t1[0])
    assert created.status_code == 201, created.text
    identity = created.json()
    researcher_saw.append(created.text)
    # The researcher sees the address they entered, masked.
    assert identity["subject_email"] == "A***@example.org"

    sent = invite(api, identity["id"])
    assert sent.status_code == 201, sent.text
    researcher_saw.append(sent.text)
    body = sent.json()
    assert set(body) == {
        "invitation_id",
        "identity_id",
        "sent_to",
        "link_expires_at",
        "consent_expires_at",
    }
    assert body["sent_to"] == "A***@example.org"

    # (1): the message arrived at the subject's address, from the configured sender.
    message = smtp_server.last()
    assert message["To"] == "Ada.Subject@example.org"
    assert "consent@lpm.example.org" in message["From"]
    assert "researcher-a" in message["Subject"]
    content = text(message)
    for expected in ("researcher-a", "offline video clips", "live, real-time video"):
        assert expected in content
    assert "political speech" in content and "Refuse" in content and "report" in content
    [link] = smtp_server.links(message)
    assert link.startswith("https://lpm.test/consent.html#")
    token = smtp_server.invitation_token()

    # (2): the link works for the subject: who asks, for which uses, attempts left.
    page = api.get("/v1/consent/invitation", headers={"Consent-Token": token})
    assert page.status_code == 200, page.text
    shown = page.json()
    assert shown["researcher_name"] == "researcher-a"
    assert shown["allowed_uses"] == ["live", "offline"]
    assert shown["excluded_content"] == "political speech"
    assert shown["attempts_left"] == 5
    assert shown["invitation_id"] == body["invitation_id"]
    assert "challenge_phrase" not in shown and "token" not in shown

    # (3): no response of the researcher's flow, no audit entry and no log line holds the
    # token or the link.
    for path in ("/v1/consent/identities", f"/v1/consent/identities/{identity['id']}"):
        response = api.get(path, headers=A)
        assert response.status_code == 200
        researcher_saw.append(response.text)
    researcher_saw.append(json.dumps(audit_bodies(runtime)))
    researcher_saw.append(api.get("/v1/audit/checkpoint").text)
    # Our log lines (the loopback server's own "mail.log" shows what it received: not ours).
    ours = [r for r in caplog.records if not r.name.startswith("mail.log")]
    researcher_saw.append("\n".join(f"{r.getMessage()} {r.__dict__}" for r in ours))
    researcher_saw.append("".join(capsys.readouterr()))
    for seen in researcher_saw:
        assert token not in seen and "consent.html#" not in seen
    # The database keeps a hash of the token and the address sealed.
    with Session(runtime.engine) as session:
        row = session.exec(select(Invitation)).one()
        assert row.token_hash != token
        stored = session.get(Identity, identity["id"])
        assert stored is not None and stored.subject_email is not None
        assert b"example.org" not in stored.subject_email.lower()


def test_refusal_report_and_block(
    api: TestClient, people: People, smtp_server: Mailbox, runtime: Runtime
) -> None:
    identity = enroll(api, people.t1[0]).json()
    assert invite(api, identity["id"]).status_code == 201
    token = smtp_server.invitation_token()
    subject = {"Consent-Token": token}

    refused = api.post(
        "/v1/consent/invitation/refusal", headers=subject, json={"report": True, "block": True}
    )
    assert refused.status_code == 200, refused.text
    assert refused.json() == {"refused": True, "reported": True, "blocked": True}
    # The link is spent.
    gone = api.get("/v1/consent/invitation", headers=subject)
    assert gone.status_code == 410 and gone.json()["why"] == "refused"
    again = api.post("/v1/consent/invitation/refusal", headers=subject, json={})
    assert again.status_code == 410

    # Reviewers see the report; researchers cannot.
    reports = api.get("/v1/consent/review/reports", headers=REVIEWER)
    assert reports.status_code == 200
    [report] = reports.json()
    assert report["identity_id"] == identity["id"] and report["researcher"] == "researcher-a"
    assert report["refused_at"] is not None
    assert api.get("/v1/consent/review/reports", headers=A).status_code == 403

    # The address is blocked: no new invitation, and no new identity under it (in any case).
    blocked = invite(api, identity["id"])
    assert blocked.status_code == 409, blocked.text
    assert blocked.json()["type"].endswith("address-blocked")
    anew = enroll(api, people.t1[0], email="ada.subject@EXAMPLE.ORG", headers=B)
    assert anew.status_code == 409 and anew.json()["type"].endswith("address-blocked")
    assert len(smtp_server.messages) == 1
    # Audited: the refusal, the report, the block, and each refused invitation.
    actions = [(e["action"], e["outcome"]) for e in audit_bodies(runtime)]
    for expected in [
        ("consent:invitation:refuse", "success"),
        ("consent:invitation:report", "success"),
        ("consent:address:block", "success"),
        ("consent:invitation:create", "deny"),
        ("consent:identity:create", "deny"),
    ]:
        assert expected in actions
    with Session(runtime.engine) as session:
        [row] = session.exec(select(AddressBlock)).all()
        assert row.reason == "refused" and "example" not in row.email_hash


def test_a_refusal_without_block_leaves_the_address_open(
    service: ConsentService, people: People, smtp_server: Mailbox
) -> None:
    identity = service.create_identity(
        PRINCIPALS["token-researcher-a"], "Ada", [png(people.t1[1])], subject_email=ADDRESS
    )
    _, token = invite_and_read_token(
        service, smtp_server, PRINCIPALS["token-researcher-a"], identity.id
    )
    view = service.refuse_invitation(token)
    assert (view.refused, view.reported, view.blocked) == (True, False, False)
    assert service.list_reported() == []
    service.invite(PRINCIPALS["token-researcher-a"], identity.id, [Use.LIVE])
    assert len(smtp_server.messages) == 2


@pytest.fixture
def limited(runtime: Runtime, consent_settings: ConsentSettings) -> ConsentService:
    settings = consent_settings.model_copy(
        update={"invitations_per_identity_per_day": 2, "invitations_per_researcher_per_day": 3}
    )
    return ConsentService(runtime, settings)


def test_daily_limits_per_identity_and_per_researcher(
    limited: ConsentService, people: People, smtp_server: Mailbox, runtime: Runtime
) -> None:
    a, b = PRINCIPALS["token-researcher-a"], PRINCIPALS["token-researcher-b"]
    first = limited.create_identity(a, "One", [png(people.t1[0])], subject_email="one@example.org")
    second = limited.create_identity(a, "Two", [png(people.t1[2])], subject_email="two@example.org")
    limited.invite(a, first.id, [Use.LIVE])
    limited.invite(a, first.id, [Use.LIVE])
    with pytest.raises(TooManyInvitations, match="this identity received 2 invitations"):
        limited.invite(a, first.id, [Use.LIVE])
    limited.invite(a, second.id, [Use.LIVE])
    with pytest.raises(TooManyInvitations, match="you received 3") as refused:
        limited.invite(a, second.id, [Use.LIVE])
    assert refused.value.status == 429
    assert len(smtp_server.messages) == 3
    # Another researcher has their own allowance.
    theirs = limited.create_identity(
        b, "Three", [png(people.t1[5])], subject_email="three@example.org"
    )
    limited.invite(b, theirs.id, [Use.LIVE])
    # A day later the allowance is back.
    with Session(runtime.engine) as session:
        for row in session.exec(select(Invitation)).all():
            row.created_at = row.created_at - timedelta(hours=25)
            session.add(row)
        session.commit()
    limited.invite(a, first.id, [Use.LIVE])
    denied = [
        e
        for e in audit_bodies(runtime)
        if e["action"] == "consent:invitation:create" and e["outcome"] == "deny"
    ]
    assert len(denied) == 2 and "limit" in denied[0]["reasons"][0]


def test_attempts_per_invitation(
    service: ConsentService, people: People, smtp_server: Mailbox, runtime: Runtime
) -> None:
    a = PRINCIPALS["token-researcher-a"]
    identity = service.create_identity(a, "Ada", [png(people.t1[1])], subject_email=ADDRESS)
    _, token = invite_and_read_token(service, smtp_server, a, identity.id)
    assert service.read_invitation(token).attempts_left == service.settings.max_attempts
    with Session(runtime.engine) as session:
        row = session.exec(select(Invitation)).one()
        row.attempts = service.settings.max_attempts - 1
        session.add(row)
        session.commit()
    assert service.read_invitation(token).attempts_left == 1
    with Session(runtime.engine) as session:
        row = session.exec(select(Invitation)).one()
        row.attempts += 1
        session.add(row)
        session.commit()
    with pytest.raises(Exception, match="spent on failed attempts"):
        service.read_invitation(token)


def test_no_mail_server_no_invitation(
    api: TestClient,
    people: People,
    runtime: Runtime,
    consent_settings: ConsentSettings,
    smtp_server: Mailbox,
) -> None:
    identity = enroll(api, people.t1[0]).json()
    # The server goes away: a 503 problem, and no invitation row stays behind.
    api.app.state.consent_settings = consent_settings.model_copy(  # type: ignore[attr-defined]
        update={"smtp_port": mailbox.free_port()}
    )
    down = invite(api, identity["id"])
    assert down.status_code == 503, down.text
    assert down.headers["content-type"] == "application/problem+json"
    assert down.json()["type"].endswith("mail-unavailable")
    # No server configured at all: the same, and never a token in its place.
    api.app.state.consent_settings = consent_settings.model_copy(  # type: ignore[attr-defined]
        update={"smtp_host": None}
    )
    unset = invite(api, identity["id"])
    assert unset.status_code == 503 and "LPM_CONSENT_SMTP_HOST" in unset.json()["detail"]
    assert "token" not in unset.json() and "url" not in unset.json()
    with Session(runtime.engine) as session:
        assert session.exec(select(Invitation)).all() == []
    assert smtp_server.messages == []
    denied = [
        e
        for e in audit_bodies(runtime)
        if e["action"] == "consent:invitation:create" and e["outcome"] == "deny"
    ]
    assert len(denied) == 2


@pytest.mark.parametrize(
    "email",
    [
        "ada@example.org\r\nBcc: all@example.org",
        "ada\x00@example.org",
        "<script>x</script>@e.org",
        "Ada <ada@example.org>",
        "ada@example.org, eve@example.org",
        "ada\u200b@example.org",
        '"ada smith"@example.org',
        "ada@[127.0.0.1]",
        "not an address",
        "",
    ],
)
def test_a_bad_address_is_refused(api: TestClient, people: People, email: str) -> None:
    response = enroll(api, people.t1[0], email=email)
    assert response.status_code == 422, response.text
    assert response.json()["type"].endswith("invalid-address")
    assert api.get("/v1/consent/identities", headers=A).json() == []


def test_the_address_is_required_over_http(api: TestClient, people: People) -> None:
    response = api.post(
        "/v1/consent/identities",
        headers=A,
        data={"display_name": "No address"},
        files=[("photos", ("one.png", png(people.t1[0]), "image/png"))],
    )
    assert response.status_code == 422 and "subject_email" in response.json()["detail"]


def test_an_identity_without_an_address_cannot_be_invited(
    service: ConsentService, people: People, smtp_server: Mailbox
) -> None:
    a = PRINCIPALS["token-researcher-a"]
    identity = service.create_identity(a, "Legacy", [png(people.t1[0])])
    assert identity.subject_email is None
    with pytest.raises(Exception, match="no address for its subject") as refused:
        service.invite(a, identity.id, [Use.LIVE])
    assert refused.value.status == 409  # type: ignore[attr-defined]
    assert smtp_server.messages == []


def test_the_withdrawal_link_is_emailed_and_withdrawing_can_block(
    api: TestClient, service: ConsentService, people: People, smtp_server: Mailbox, runtime: Runtime
) -> None:
    a = PRINCIPALS["token-researcher-a"]
    identity = service.create_identity(a, "Ada", [png(people.t1[1])], subject_email=ADDRESS)
    service.invite(a, identity.id, [Use.OFFLINE])
    # What the capture path does once a capture passes: a record, then the link by mail.
    revocation = secrets.token_urlsafe(32)
    _record_consent(runtime, identity.id, revocation)
    assert service.send_withdrawal_link(identity.id, revocation)
    message = smtp_server.last()
    assert "withdraw" in message["Subject"] and "offline video clips" in text(message)
    token = smtp_server.withdrawal_token()
    assert token == revocation
    assert smtp_server.links(message) == [f"https://lpm.test/consent.html#revoke={token}"]

    withdrawn = api.post(
        "/v1/consent/revocation", headers={"Consent-Token": token}, json={"block": True}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "revoked"
    with Session(runtime.engine) as session:
        [block] = session.exec(select(AddressBlock)).all()
        assert block.reason == "withdrew"
        stored = session.get(Identity, identity.id)
        assert stored is not None and stored.subject_email is None
    # Enrolled again, under another researcher: the address stays blocked.
    with pytest.raises(AddressBlocked):
        service.create_identity(
            PRINCIPALS["token-researcher-b"],
            "Ada again",
            [png(people.t1[1])],
            subject_email=ADDRESS.upper(),
        )


def test_a_withdrawal_link_that_cannot_be_sent_leaves_the_consent(
    runtime: Runtime, consent_settings: ConsentSettings, people: People, smtp_server: Mailbox
) -> None:
    a = PRINCIPALS["token-researcher-a"]
    service = ConsentService(runtime, consent_settings)
    identity = service.create_identity(a, "Ada", [png(people.t1[1])], subject_email=ADDRESS)
    service.invite(a, identity.id, [Use.OFFLINE])
    revocation = secrets.token_urlsafe(32)
    _record_consent(runtime, identity.id, revocation)
    down = ConsentService(runtime, consent_settings.model_copy(update={"smtp_host": None}))
    assert down.send_withdrawal_link(identity.id, revocation) is False
    assert service.send_withdrawal_link("idn_other", revocation) is False
    assert len(smtp_server.messages) == 1  # the invitation only


def test_reviewer_decisions_reach_the_subject(
    service: ConsentService, people: People, smtp_server: Mailbox, runtime: Runtime
) -> None:
    a = PRINCIPALS["token-researcher-a"]
    view = service.create_identity(a, "Ada", [png(people.t1[1])], subject_email=ADDRESS)
    with Session(runtime.engine) as session:
        identity = session.get(Identity, view.id)
        assert identity is not None
        assert service.send_decision(identity, approved=True)
        assert "approved" in smtp_server.last()["Subject"]
        assert service.send_decision(identity, approved=False)
        assert "not accepted" in smtp_server.last()["Subject"]
        identity.subject_email = None
        assert service.send_decision(identity, approved=True) is False
    assert view.status == IdentityStatus.AWAITING_CONSENT


def _record_consent(runtime: Runtime, identity_id: str, revocation_token: str) -> None:
    import hashlib

    with Session(runtime.engine) as session:
        invitation = session.exec(
            select(Invitation).where(Invitation.identity_id == identity_id)
        ).one()
        now = utcnow()
        invitation.used_at = now
        session.add(invitation)
        session.add(
            ConsentRecord(
                id=f"cns_{secrets.token_hex(8)}",
                identity_id=identity_id,
                invitation_id=invitation.id,
                statement_sha256="0" * 64,
                evidence_sha256="{}",
                revocation_token_hash=hashlib.sha256(revocation_token.encode()).hexdigest(),
                allowed_uses=invitation.allowed_uses,
                accepted_at=now,
                expires_at=invitation.consent_expires_at,
            )
        )
        identity = session.get(Identity, identity_id)
        assert identity is not None
        identity.status = IdentityStatus.AWAITING_REVIEW
        session.add(identity)
        session.commit()


def test_mail_failures_raise_mail_unavailable(
    service: ConsentService, people: People, smtp_server: Mailbox
) -> None:
    """A mailer that fails for any reason: nothing stays, the error propagates."""

    class Broken:
        def send(self, message: object) -> None:
            raise MailUnavailable("test: the relay said no")

    a = PRINCIPALS["token-researcher-a"]
    identity = service.create_identity(a, "Ada", [png(people.t1[1])], subject_email=ADDRESS)
    service.mailer = Broken()
    with pytest.raises(MailUnavailable):
        service.invite(a, identity.id, [Use.LIVE])
    with Session(service.engine) as session:
        assert session.exec(select(Invitation)).all() == []
