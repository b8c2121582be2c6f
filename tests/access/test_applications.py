"""Applications: sign-up over HTTP, the reviewer's decisions and their rules, and the audit."""

from __future__ import annotations

import pytest

from lpm_guard.access.errors import ApplicationNotFound, Conflict
from lpm_guard.access.models import ApplicationStatus, IntendedUse
from lpm_guard.access.principals import Principal
from lpm_guard.access.schemas import Approval, Decision
from lpm_guard.access.scopes import Role, Scope
from lpm_guard.errors import InvalidRequest
from tests.access.world import World, application_form


def test_signing_up_over_http(world: World) -> None:
    form = application_form(uses=(IntendedUse.LIVE, IntendedUse.OFFLINE))
    response = world.http.post("/v1/applications", json=form.model_dump(mode="json"))
    assert response.status_code == 201, response.text
    view = response.json()
    assert view["status"] == "submitted" and view["intended_uses"] == ["live", "offline"]
    assert "password" not in response.text and form.password not in response.text
    again = world.http.post("/v1/applications", json=form.model_dump(mode="json"))
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"accepted_terms_version": "2020-01"}, 422),
        ({"password": "short"}, 422),
        ({"intended_uses": []}, 422),
        ({"intended_uses": ["everything"]}, 422),
        ({"email": "not-an-email"}, 422),
        ({"research_purpose": "too short"}, 422),
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
