"""The consent API end to end: researchers enroll and invite, subjects consent and revoke."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from lpm_guard.consent.models import Invitation, Use
from lpm_guard.runtime import Runtime
from tests.mailbox import Mailbox

from .conftest import People, auth, png

A, B = auth("token-researcher-a"), auth("token-researcher-b")
REVIEWER = auth("token-reviewer")


def enroll(api: TestClient, photo: np.ndarray, headers: dict[str, str] = A) -> dict[str, Any]:
    response = api.post(
        "/v1/consent/identities",
        headers=headers,
        data={"display_name": "Subject One", "subject_email": "subject.one@example.org"},
        files=[("photos", ("one.png", png(photo), "image/png"))],
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def invite(api: TestClient, identity_id: str, headers: dict[str, str] = A) -> dict[str, Any]:
    response = api.post(
        f"/v1/consent/identities/{identity_id}/invitations",
        headers=headers,
        json={"uses": ["offline", "live"], "excluded_content": "political speech"},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_the_subject_reads_who_asks_for_what(
    api: TestClient, people: People, smtp_server: Mailbox
) -> None:
    identity = enroll(api, people.t1[0])
    assert identity["status"] == "awaiting_consent"
    invite(api, identity["id"])
    page = api.get(
        "/v1/consent/invitation", headers={"Consent-Token": smtp_server.invitation_token()}
    )
    assert page.status_code == 200, page.text
    statement = page.json()["statement"]
    assert "researcher-a" in statement and "political speech" in statement
    assert "live, real-time video" in statement and "offline video clips" in statement


def test_failed_attempts_spend_the_link(
    api: TestClient, people: People, runtime: Runtime, smtp_server: Mailbox
) -> None:
    identity = enroll(api, people.t1[1])
    invite(api, identity["id"])
    token = smtp_server.invitation_token()
    with Session(runtime.engine) as session:
        invitation = session.exec(select(Invitation)).one()
        invitation.attempts = 4  # one short of the limit of 5
        session.add(invitation)
        session.commit()
    opened = api.post("/v1/consent/invitation/captures", headers={"Consent-Token": token})
    assert opened.status_code == 201, opened.text
    first = api.put(
        f"/v1/consent/invitation/captures/{opened.json()['capture_id']}",
        headers={"Consent-Token": token, "Content-Type": "video/webm"},
        content=b"not a video at all",
    )
    assert first.status_code in (415, 422), first.text
    response = api.get("/v1/consent/invitation", headers={"Consent-Token": token})
    assert response.status_code == 410
    assert "failed attempts" in response.json()["detail"]
    assert response.json()["why"] == "spent"


def test_unknown_and_expired_links(
    api: TestClient, people: People, runtime: Runtime, smtp_server: Mailbox
) -> None:
    unknown = api.get("/v1/consent/invitation", headers={"Consent-Token": "x" * 43})
    assert unknown.status_code == 404
    identity = enroll(api, people.t1[5])
    invite(api, identity["id"])
    link = {"token": smtp_server.invitation_token()}
    with Session(runtime.engine) as session:
        invitation = session.exec(select(Invitation)).one()
        invitation.link_expires_at = invitation.created_at
        session.add(invitation)
        session.commit()
    expired = api.get("/v1/consent/invitation", headers={"Consent-Token": link["token"]})
    assert expired.status_code == 410 and "expired" in expired.json()["detail"]
    # The token itself is stored only as its hash.
    with Session(runtime.engine) as session:
        assert session.exec(select(Invitation)).one().token_hash != link["token"]


def test_a_reference_of_another_person_is_refused(api: TestClient, people: People) -> None:
    response = api.post(
        "/v1/consent/identities",
        headers=A,
        data={"display_name": "Two people", "subject_email": "two@example.org"},
        files=[
            ("photos", ("a.png", png(people.t1[0]), "image/png")),
            ("photos", ("b.png", png(people.t1[2]), "image/png")),
        ],
    )
    assert response.status_code == 422
    assert response.json()["type"].endswith("face-mismatch")
    assert api.get("/v1/consent/identities", headers=A).json() == []


def test_researchers_see_only_their_own_identities(api: TestClient, people: People) -> None:
    mine = enroll(api, people.t1[0], A)
    theirs = enroll(api, people.t1[2], B)
    assert [i["id"] for i in api.get("/v1/consent/identities", headers=A).json()] == [mine["id"]]
    assert [i["id"] for i in api.get("/v1/consent/identities", headers=B).json()] == [theirs["id"]]
    assert api.get(f"/v1/consent/identities/{theirs['id']}", headers=A).status_code == 404
    response = api.post(
        f"/v1/consent/identities/{theirs['id']}/invitations", headers=A, json={"uses": ["live"]}
    )
    assert response.status_code == 404


def test_reviewer_routes_refuse_researchers_and_anonymous_callers(api: TestClient) -> None:
    routes = [
        ("GET", "/v1/consent/review/identities", None),
        ("POST", "/v1/consent/review/identities/idn_x/approve", {"reason": "r"}),
        ("POST", "/v1/consent/review/identities/idn_x/reject", {"reason": "r"}),
        ("POST", "/v1/consent/review/identities/idn_x/revoke", {"reason": "r"}),
        ("GET", "/v1/consent/protected", None),
        ("POST", "/v1/consent/protected", None),
    ]
    for method, path, body in routes:
        assert api.request(method, path, json=body).status_code == 401, path
        denied = api.request(method, path, json=body, headers=A)
        assert denied.status_code == 403, path
        assert denied.json()["required_scope"] == "review"
    for method, path in [("GET", "/v1/consent/identities"), ("POST", "/v1/consent/synthetic")]:
        assert api.request(method, path).status_code == 401
        assert api.request(method, path, headers=REVIEWER).status_code == 403
    assert api.get("/v1/consent/review/identities", headers=REVIEWER).status_code == 200


def test_invitation_terms_are_validated(api: TestClient, people: People) -> None:
    identity = enroll(api, people.t1[0])
    response = api.post(
        f"/v1/consent/identities/{identity['id']}/invitations", headers=A, json={"uses": []}
    )
    assert response.status_code == 422
    response = api.post(
        f"/v1/consent/identities/{identity['id']}/invitations",
        headers=A,
        json={"uses": ["offline"], "consent_days": 10_000},
    )
    assert response.status_code == 422
    assert Use.OFFLINE.value == "offline"


def test_review_protect_and_revoke_over_http(
    api: TestClient, people: People, tmp_path: Path, runtime: Runtime
) -> None:
    # A reviewer protects a person; enrolling them is then refused.
    protected = api.post(
        "/v1/consent/protected",
        headers=REVIEWER,
        data={"name": "Public figure", "reason": "public figure"},
        files=[("photos", ("p.png", png(people.t1[2]), "image/png"))],
    )
    assert protected.status_code == 201, protected.text
    listed = api.get("/v1/consent/protected", headers=REVIEWER).json()
    assert [p["id"] for p in listed] == [protected.json()["id"]]
    refused = api.post(
        "/v1/consent/identities",
        headers=A,
        data={"display_name": "X", "subject_email": "x@example.org"},
        files=[("photos", ("x.png", png(people.t1[2]), "image/png"))],
    )
    assert refused.status_code == 403 and refused.json()["type"].endswith("protected-identity")

    # A synthetic character waits for review, then is approved.
    synthetic = api.post(
        "/v1/consent/synthetic",
        headers=A,
        data={
            "display_name": "Avatar",
            "origin": "3d",
            "attestation": "Rendered from a procedural 3D head; it depicts no real person.",
            "uses": ["live"],
        },
        files=[("photos", ("s.png", png(people.t1[5]), "image/png"))],
    )
    assert synthetic.status_code == 201, synthetic.text
    character = synthetic.json()
    assert character["status"] == "pending_review" and character["allowed_uses"] == ["live"]
    pending = api.get(
        "/v1/consent/review/identities", params={"status": "pending_review"}, headers=REVIEWER
    ).json()
    assert [i["id"] for i in pending] == [character["id"]]
    approved = api.post(
        f"/v1/consent/review/identities/{character['id']}/approve",
        headers=REVIEWER,
        json={"reason": "procedural head, checked"},
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    again = api.post(
        f"/v1/consent/review/identities/{character['id']}/reject",
        headers=REVIEWER,
        json={"reason": "too late"},
    )
    assert again.status_code == 409
    bad_origin = api.post(
        "/v1/consent/synthetic",
        headers=A,
        data={"display_name": "A", "origin": "photo", "attestation": "x" * 30, "uses": ["live"]},
        files=[("photos", ("s.png", png(people.t1[5]), "image/png"))],
    )
    assert bad_origin.status_code == 422

    heard: list[str] = []
    runtime.revocations.subscribe(lambda r: heard.append(r.identity_id))
    # A reviewer revokes the approved character.
    gone = api.post(
        f"/v1/consent/review/identities/{character['id']}/revoke",
        headers=REVIEWER,
        json={"reason": "the artist withdrew the model"},
    )
    assert gone.status_code == 200 and heard == [character["id"]]


def test_the_openapi_document_describes_the_uploads(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    body = paths["/v1/consent/invitation/captures/{capture_id}"]["put"]["requestBody"]
    assert "video/webm" in body["content"] and "video/mp4" in body["content"]
    assert "/v1/consent/invitation/consent" not in paths  # stills and files are gone
    header = paths["/v1/consent/invitation"]["get"]["parameters"][0]
    assert (header["in"], header["name"]) == ("header", "Consent-Token")
