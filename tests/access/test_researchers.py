"""Reviewers' view of researchers (standing, scopes, quota, today's use) and changing a quota:
over HTTP with real tokens, through the service, and from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lpm_guard.access.errors import ResearcherNotFound
from lpm_guard.access.schemas import QuotaChange
from lpm_guard.access.scopes import Role
from lpm_guard.auditing.services import AuditService
from lpm_guard.cli import app
from lpm_guard.errors import InvalidRequest
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings
from tests.access.world import World, application_form


def _token(world: World, role: Role) -> str:
    return world.web_tokens(world.staff(role))["access_token"]


def test_reviewers_see_standing_scopes_quota_and_todays_use(world: World) -> None:
    alice, bob = world.researcher(quota_s=100.0), world.researcher()
    pending = world.applicant()
    world.suspend(bob)
    world.services.quotas.charge(alice.account_id, 12.5)
    token = _token(world, Role.REVIEWER)
    listed = {view["account_id"]: view for view in world.get("/v1/researchers", token).json()}
    assert pending.account_id not in listed
    a, b = listed[alice.account_id], listed[bob.account_id]
    assert (a["status"], a["standing"], a["daily_quota_s"], a["used_today_s"]) == (
        "approved",
        "access approved",
        100.0,
        12.5,
    )
    assert set(a["scopes"]) >= {"generate:offline", "generate:live", "identities:write"}
    assert a["application_id"] == alice.application_id
    assert (b["status"], b["standing"], b["scopes"]) == ("suspended", "access is suspended", [])
    only = world.get("/v1/researchers?status=suspended", token).json()
    assert bob.account_id in {v["account_id"] for v in only}
    assert alice.account_id not in {v["account_id"] for v in only}
    refused = world.get("/v1/researchers?status=submitted", token)
    assert refused.status_code == 422
    one = world.get(f"/v1/researchers/{alice.account_id}", token)
    assert one.status_code == 200 and one.json()["email"] == alice.email
    assert world.get("/v1/researchers/acc_nobody", token).status_code == 404


def test_a_quota_change_takes_effect_at_once_and_is_audited(world: World) -> None:
    alice = world.researcher(quota_s=10.0)
    world.services.quotas.charge(alice.account_id, 8.0)
    token = _token(world, Role.REVIEWER)
    response = world.http.post(
        f"/v1/researchers/{alice.account_id}/quota",
        headers={"Authorization": f"Bearer {token}"},
        json={"daily_quota_s": 30.0, "reason": "pilot study needs longer takes"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["daily_quota_s"] == 30.0
    assert world.services.quotas.check(alice.account_id).remaining_s == 22.0
    assert world.runtime is not None
    entry = world.runtime.audit.entry(world.runtime.audit.size() - 1).entry
    assert entry.event.action == "access:quota:change"
    assert entry.event.objects == {"account": alice.account_id, "application": alice.application_id}
    assert entry.event.reasons == ("pilot study needs longer takes",)
    assert entry.event.payload == {"from_s": 10.0, "to_s": 30.0}


def test_a_quota_change_needs_a_reason_a_sane_number_and_a_researcher_with_access(
    world: World,
) -> None:
    service = world.services.researchers
    alice, pending = world.researcher(), world.applicant()
    with pytest.raises(InvalidRequest):
        service.set_quota(alice.account_id, QuotaChange(reason="  ", daily_quota_s=5), "rev")
    token = _token(world, Role.REVIEWER)
    for body in ({"daily_quota_s": 0, "reason": "x"}, {"daily_quota_s": 5}, {"reason": "x"}):
        response = world.http.post(
            f"/v1/researchers/{alice.account_id}/quota",
            headers={"Authorization": f"Bearer {token}"},
            json=body,
        )
        assert response.status_code == 422, body
    conflict = world.http.post(
        f"/v1/researchers/{pending.account_id}/quota",
        headers={"Authorization": f"Bearer {token}"},
        json={"daily_quota_s": 5, "reason": "not yet approved"},
    )
    assert conflict.status_code == 409
    assert conflict.json()["current_status"] == "submitted"
    with pytest.raises(ResearcherNotFound):
        service.set_quota("nobody@example.org", QuotaChange(reason="x", daily_quota_s=5), "rev")
    assert world.services.quotas.check(alice.account_id).daily_quota_s == 600.0


def _migrated(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A data directory migrated through the CLI, and the environment that points it there."""
    data = tmp_path / "data"
    env = {"LPM_DATA_DIR": str(data), "LPM_LOG_LEVEL": "WARNING"}
    assert CliRunner().invoke(app, ["db", "upgrade"], env=env).exit_code == 0
    return data, env


def test_the_cli_changes_a_quota_by_email(tmp_path: Path) -> None:
    data, env = _migrated(tmp_path)
    runner = CliRunner()
    rt = Runtime.open(Settings(data_dir=data, checkpoint_interval_s=3600))
    try:
        from lpm_guard.access.applications import ApplicationService
        from lpm_guard.access.schemas import Approval

        applications = ApplicationService(rt.engine, AuditService(rt.audit))
        view = applications.apply(application_form(email="Quota@Example.org"), "test")
        applications.approve(view.id, Approval(reason="ok", daily_quota_s=60), "rev")
    finally:
        rt.close()
    args = ["admin", "researchers", "quota", "quota@example.org"]
    missing = runner.invoke(app, [*args, "--seconds", "120"], env=env)
    assert missing.exit_code != 0
    bad = runner.invoke(app, [*args, "--seconds", "-1", "--reason", "x"], env=env)
    assert bad.exit_code == 1 and "daily_quota_s" in bad.output
    done = runner.invoke(app, [*args, "--seconds", "120", "--reason", "more takes"], env=env)
    assert done.exit_code == 0, done.output
    assert "daily quota 120 s" in done.output
    shown = runner.invoke(app, ["audit", "tail", "-n", "1"], env=env)
    last = json.loads(shown.output.strip().splitlines()[-1])
    assert last["action"] == "access:quota:change"
    assert last["actor"].startswith("operator:")
    assert last["payload"] == {"from_s": 60.0, "to_s": 120.0}


def test_the_cli_finds_the_entries_about_an_id(tmp_path: Path) -> None:
    data, env = _migrated(tmp_path)
    runner = CliRunner()
    rt = Runtime.open(Settings(data_dir=data, checkpoint_interval_s=3600))
    try:
        audit = AuditService(rt.audit)
        marks = [audit.record("session:stream:stop", "acc_1", objects={"session": "ses_1"}).index]
        audit.record("session:stream:stop", "acc_1", objects={"session": "ses_2"})
        marks.append(
            audit.record("session:stream:revoke", "rev", objects={"session": "ses_1"}).index
        )
    finally:
        rt.close()
    found = runner.invoke(app, ["audit", "about", "ses_1", "--json"], env=env)
    assert found.exit_code == 0, found.output
    body = json.loads(found.output)
    assert [entry["index"] for entry in body["entries"]] == marks[::-1]
    assert body["next_before"] is None
    paged = runner.invoke(app, ["audit", "about", "ses_1", "-n", "1"], env=env)
    assert paged.exit_code == 0
    assert json.loads(paged.stdout.splitlines()[0])["action"] == "session:stream:revoke"
    blank = runner.invoke(app, ["audit", "about", " "], env=env)
    assert blank.exit_code != 0 and "an id" in blank.output
