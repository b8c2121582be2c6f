"""Applications: sign-up over HTTP, the reviewer's decisions and their rules, and the audit."""

from __future__ import annotations

import pytest

from lpm_guard.access.errors import ApplicationNotFound, Conflict
from lpm_guard.access.models import ApplicationStatus, IntendedUse
from lpm_guard.access.principals import Principal
from lpm_guard.access.schemas import ApplicationDetails, Approval, Decision
from lpm_guard.access.scopes import Role, Scope
from lpm_guard.errors import InvalidRequest
from tests.access.world import World, application_form


def test_signing_up_over_http(world: World) -> None:
    form = application_form(uses=(IntendedUse.LIVE, IntendedUse.OFFLINE))
    response = world.http.post("/v1/applications", json=form.model_dump(mode="json"))
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "received"
    assert "password" not in response.text and form.password not in response.text
    [view] = [v for v in world.services.applications.list(None) if v.email == form.email]
    assert view.status == "submitted" and view.intended_uses == ["live", "offline"]


def test_sign_up_does_not_tell_whether_an_email_has_an_account(world: World) -> None:
    """L4: an existing account's email gets the answer a new one gets, and no new account."""
    existing = world.applicant()
    fresh = application_form().model_dump(mode="json")
    taken = application_form(email=existing.email.upper()).model_dump(mode="json")
    first = world.http.post("/v1/applications", json=fresh)
    second = world.http.post("/v1/applications", json=taken)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert first.headers["content-type"] == second.headers["content-type"]
    mine = [v for v in world.services.applications.list(None) if v.email == existing.email]
    assert [v.id for v in mine] == [existing.application_id]  # nothing new for that email


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"accepted_terms_version": "2020-01"}, 422),
        ({"password": "short"}, 422),
        ({"intended_uses": []}, 422),
        ({"intended_uses": ["everything"]}, 422),
        ({"email": "not-an-email"}, 422),
        ({"research_purpose": "too short"}, 422),
        # L9: markup, display names and control characters are no email address.
        ({"email": "<script>x</script>@e.org"}, 422),
        ({"email": "Ada <ada@example.org>"}, 422),
        ({"email": "ada\u0000@example.org"}, 422),
        ({"email": "a" * 64 + "@" + "b" * 300 + ".org"}, 422),
        # L9: a right-to-left override or a zero-width space makes a name read otherwise.
        ({"name": "Ada \u202eevil"}, 422),
        ({"name": "Ada\u200bLovelace"}, 422),
        ({"institution": "Uni\nversity"}, 422),
        ({"position": "x" * 201}, 422),
    ],
)
def test_a_bad_application_is_refused_and_stores_nothing(
    world: World, change: dict[str, object], status: int
) -> None:
    body = application_form().model_dump(mode="json") | change
    response = world.http.post("/v1/applications", json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    listed = world.services.applications.list(None)
    assert all(view.email != body["email"] for view in listed)


def test_decisions_follow_the_status_and_are_audited(world: World) -> None:
    applications = world.services.applications
    account = world.applicant()
    assert account.application_id
    app_id = account.application_id
    with pytest.raises(Conflict):
        applications.suspend(app_id, Decision(reason="early"), "rev")
    approved = applications.approve(
        app_id, Approval(reason="fine", expires_in_days=30, daily_quota_s=90), "rev"
    )
    assert approved.status is ApplicationStatus.APPROVED and approved.daily_quota_s == 90
    assert approved.expires_at and approved.decided_at
    assert 29 <= (approved.expires_at - approved.decided_at).days <= 30
    with pytest.raises(Conflict):
        applications.deny(app_id, Decision(reason="late"), "rev")
    with pytest.raises(InvalidRequest):
        applications.suspend(app_id, Decision(reason="   "), "rev")
    with pytest.raises(ApplicationNotFound):
        applications.approve("app_missing", Approval(reason="x"), "rev")
    log = world.services.applications.audit.log
    entries = [stored.entry.event for stored in log.entries(max(0, log.size() - 20))]
    decided = [e for e in entries if e.objects.get("application") == app_id]
    assert [e.action for e in decided] == [
        "access:application:submit",
        "access:application:approve",
    ]
    assert decided[1].actor == "rev" and decided[1].reasons == ("fine",)


def test_a_researcher_reads_only_their_own_application(world: World) -> None:
    applications = world.services.applications
    mine, theirs = world.applicant(), world.applicant()
    assert mine.application_id and theirs.application_id
    viewer = Principal(subject=mine.account_id, role=Role.RESEARCHER)
    assert applications.get(mine.application_id, viewer).account_id == mine.account_id
    with pytest.raises(ApplicationNotFound):
        applications.get(theirs.application_id, viewer)
    reviewer = Principal(subject="acct_rev", scopes=frozenset({Scope.REVIEW}), role=Role.REVIEWER)
    assert applications.get(theirs.application_id, reviewer).id == theirs.application_id


def test_api_clients_are_only_for_approved_researchers(world: World) -> None:
    from lpm_guard.access.errors import NotApproved

    pending = world.applicant()
    with pytest.raises(NotApproved):
        world.services.clients.create(pending.principal, "too early")


def _details() -> dict[str, object]:
    form = application_form().model_dump(mode="json")
    return {key: form[key] for key in ApplicationDetails.model_fields}


def test_a_denied_researcher_applies_again(world: World) -> None:
    applicant = world.applicant()
    assert applicant.application_id
    token = world.web_tokens(applicant)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    early = world.http.post("/v1/me/applications", json=_details(), headers=headers)
    assert early.status_code == 409  # the first one is still under review
    world.services.applications.deny(applicant.application_id, Decision(reason="no IRB"), "rev")
    again = world.http.post("/v1/me/applications", json=_details(), headers=headers)
    assert again.status_code == 201, again.text
    assert again.json()["status"] == "submitted" and again.json()["id"] != applicant.application_id
    mine = world.get("/v1/applications", token).json()
    assert [view["status"] for view in mine] == ["submitted", "denied"]


def test_approving_an_expired_approval_renews_it(world: World) -> None:
    researcher = world.researcher()
    assert researcher.application_id
    world.api_client(researcher)
    world.expire(researcher)
    assert world.client_token(researcher).status_code == 400
    renewed = world.services.applications.approve(
        researcher.application_id, Approval(reason="renewed", expires_in_days=30), "rev"
    )
    assert renewed.expires_at and renewed.decided_at
    assert renewed.expires_at > renewed.decided_at
    assert world.client_token(researcher).status_code == 200
    with pytest.raises(Conflict):  # an approval still running is not approved again
        world.services.applications.approve(researcher.application_id, Approval(reason="x"), "r")


def test_a_decision_that_does_not_fit_is_a_409_problem(world: World) -> None:
    reviewer = world.staff(Role.REVIEWER)
    token = world.web_tokens(reviewer)["access_token"]
    researcher = world.researcher()
    response = world.http.post(
        f"/v1/applications/{researcher.application_id}/deny",
        json={"reason": "too late"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["current_status"] == "approved"
    empty = world.http.post(
        f"/v1/applications/{researcher.application_id}/suspend",
        json={"reason": ""},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert empty.status_code == 422
