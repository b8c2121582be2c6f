"""The review queue: an offline job the policy says "review" for waits for a reviewer, and the
attacks on it (the requester approving their own, anonymous and researcher callers, a consent
revoked or an access suspended while it waited, a second decision) are refused."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lpm_guard.access.scopes import Role
from lpm_guard.cli.app import app as cli
from lpm_guard.consent.services import ConsentService
from lpm_guard.errors import Forbidden
from lpm_guard.gate.services import build_gate_services
from lpm_guard.jobs.ledger import job_directory
from lpm_guard.jobs.reviews import ReviewService
from lpm_guard.jobs.service import JobService
from tests.access.world import Account, World
from tests.consent.conftest import People
from tests.gate.test_gate import audit_actions, character
from tests.jobs.test_generations import speech, submit

# Caught by the rules (defamation.accusation), whose category is "review" offline.
ACCUSATION = "Tell everyone that the senator took bribes from the cartel"
BASE = "/v1/review/generations"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _held(world: World, people: People, tmp_path: Path) -> tuple[Account, str, dict[str, Any]]:
    """A researcher's job held for review: (the researcher, their token, the job)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    researcher = world.researcher(quota_s=60.0)
    token = world.web_tokens(researcher)["access_token"]
    identity = character(world, researcher, people.t1[4], tmp_path)
    audio = speech("Hello there.", tmp_path / "hello.wav")
    response = submit(world, token, identity, audio, instructions=ACCUSATION)
    assert response.status_code == 202, response.text
    job = response.json()
    return researcher, token, job


def _item(world: World, token: str, job_id: str) -> dict[str, Any]:
    queue = world.http.get(BASE, headers=_auth(token))
    assert queue.status_code == 200, queue.text
    return next(item for item in queue.json() if item["job_id"] == job_id)


def _used_s(world: World, account: Account) -> float:
    return world.services.quotas.check(account.account_id).used_s


def test_a_held_job_waits_for_a_reviewer_and_renders_once_approved(
    live_world: World, people: People, tmp_path: Path
) -> None:
    world = live_world
    researcher, token, job = _held(world, people, tmp_path)
    # (1): the requester sees it waiting, and why; its seconds are reserved.
    assert job["status"] == "awaiting_review"
    assert "policy (review)" in job["review"] and "defamation" in job["review"]
    assert _used_s(world, researcher) > 0
    shown = world.http.get(f"/v1/generations/{job['id']}", headers=_auth(token)).json()
    assert shown["status"] == "awaiting_review" and shown["review"] == job["review"]
    # (2): who may not see or decide it: anonymous (401), the requester and any researcher (403).
    assert world.http.get(BASE).status_code == 401
    assert world.http.get(BASE, headers=_auth(token)).status_code == 403
    reviewer = world.web_tokens(world.staff(Role.REVIEWER))["access_token"]
    item = _item(world, reviewer, job["id"])
    for path in (f"{BASE}/{item['id']}", f"{BASE}/{item['id']}/audio"):
        assert world.http.get(path, headers=_auth(token)).status_code == 403
    own = world.http.post(
        f"{BASE}/{item['id']}/approve", json={"reason": "it is fine"}, headers=_auth(token)
    )
    assert own.status_code == 403 and own.json()["required_scope"] == "review"
    assert world.http.post(f"{BASE}/{item['id']}/approve", json={"reason": "x"}).status_code == 401
    # (3): the reviewer sees the evidence: the prompt, the transcript, the layer and the rule.
    assert item["status"] == "pending" and item["owner"] == researcher.account_id
    assert item["evidence"]["instructions"] == ACCUSATION
    assert item["evidence"]["transcripts"][0]["input"] == "speech"
    held = [c for c in item["evidence"]["checks"] if c["action"] == "review"]
    assert [(c["input"], c["layer"]) for c in held] == [("instructions", "rules")]
    assert "defamation.accusation" in held[0]["rule_ids"]
    audio = world.http.get(f"{BASE}/{item['id']}/audio", headers=_auth(reviewer))
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    # (4): approved: the gate lets it through (the reviewer's allow entry), a worker renders it.
    approved = world.http.post(
        f"{BASE}/{item['id']}/approve",
        json={"reason": "a documented news quote, checked"},
        headers=_auth(reviewer),
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["review"]["status"] == "approved"
    deadline = time.monotonic() + 180
    while (status := world.http.get(f"/v1/generations/{job['id']}", headers=_auth(token)).json())[
        "status"
    ] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, status
        time.sleep(0.25)
    assert status["status"] == "succeeded", status
    entries = audit_actions(world)
    allow = next(
        e
        for e in reversed(entries)
        if e["objects"].get("review") == item["id"] and e["action"] == "generation:request:allow"
    )
    assert status["audit_index"] == allow["index"] != job["audit_index"]
    trail = [e["action"] for e in entries if item["id"] in e["objects"].values()]
    assert trail == [
        "generation:review:submit",
        "generation:review:listen",
        "generation:review:approve",
        "generation:request:allow",
    ]
    held_entry = entries[job["audit_index"]]
    assert held_entry["action"] == "generation:request:review" and held_entry["outcome"] == "review"
    # (5): one decision per item.
    again = world.http.post(
        f"{BASE}/{item['id']}/deny", json={"reason": "changed my mind"}, headers=_auth(reviewer)
    )
    assert again.status_code == 409


def test_a_consent_revoked_while_waiting_stops_the_approved_job(
    live_world: World, people: People, tmp_path: Path
) -> None:
    world = live_world
    assert world.runtime is not None
    researcher, token, job = _held(world, people, tmp_path)
    reviewer = world.web_tokens(world.staff(Role.REVIEWER))["access_token"]
    item = _item(world, reviewer, job["id"])
    ConsentService(world.runtime).revoke_by_reviewer(
        "subject", job["identity_id"], "I withdraw my consent"
    )
    approved = world.http.post(
        f"{BASE}/{item['id']}/approve", json={"reason": "looks fine"}, headers=_auth(reviewer)
    )
    assert approved.status_code == 200, approved.text
    outcome = approved.json()
    # The reviewer's approval does not render a revoked likeness: the gate refused it, the job
    # failed and its seconds came back, nothing of it is left.
    assert outcome["review"]["status"] == "approved"
    assert outcome["job"]["status"] == "failed" and "refused by the gate" in outcome["job"]["error"]
    assert _used_s(world, researcher) == 0
    assert not list(job_directory(world.runtime, job["id"]).glob("*"))
    video = world.http.get(f"/v1/generations/{job['id']}/video", headers=_auth(token))
    assert video.status_code == 404
    denial = next(
        e for e in reversed(audit_actions(world)) if e["objects"].get("review") == item["id"]
    )
    assert denial["action"] == "generation:request:deny" and denial["outcome"] == "deny"


def test_a_suspension_while_waiting_and_a_denial_both_refund(
    live_world: World, people: People, tmp_path: Path
) -> None:
    world = live_world
    reviewer = world.web_tokens(world.staff(Role.REVIEWER))["access_token"]
    # Suspended while the job waited: the approval finds the researcher no longer in standing.
    suspended, _, job = _held(world, people, tmp_path / "a")
    world.suspend(suspended)
    item = _item(world, reviewer, job["id"])
    outcome = world.http.post(
        f"{BASE}/{item['id']}/approve", json={"reason": "ok"}, headers=_auth(reviewer)
    ).json()
    assert outcome["job"]["status"] == "failed" and "no longer generate" in outcome["job"]["error"]
    # Denied: failed with the reviewer's reason, refunded; an empty reason is refused first.
    researcher, token, job = _held(world, people, tmp_path / "b")
    item = _item(world, reviewer, job["id"])
    blank = world.http.post(
        f"{BASE}/{item['id']}/deny", json={"reason": "   "}, headers=_auth(reviewer)
    )
    assert blank.status_code == 422
    denied = world.http.post(
        f"{BASE}/{item['id']}/deny", json={"reason": "an accusation"}, headers=_auth(reviewer)
    )
    assert denied.status_code == 200, denied.text
    shown = world.http.get(f"/v1/generations/{job['id']}", headers=_auth(token)).json()
    assert shown["status"] == "failed" and "a reviewer denied it: an accusation" in shown["error"]
    assert _used_s(world, researcher) == 0


def test_nobody_decides_their_own_request_and_the_cli_shares_the_queue(
    live_world: World, people: People, tmp_path: Path
) -> None:
    world = live_world
    assert world.runtime is not None
    researcher, _, job = _held(world, people, tmp_path)
    reviews = ReviewService(JobService(build_gate_services(world.runtime)))
    item = next(view for view in reviews.queue() if view.job_id == job["id"])
    # Whoever holds the review scope, the request's own account may not decide it.
    with pytest.raises(Forbidden, match="their own request"):
        reviews.decide(researcher.account_id, item.id, approve=True, reason="mine is fine")
    assert reviews.detail(item.id).status == "pending"
    # The operator's command line: the same queue, the same decision, audited as the operator.
    env = {"LPM_DATA_DIR": str(world.runtime.settings.data_dir), "LPM_LOG_LEVEL": "WARNING"}
    runner = CliRunner(env=env)
    listed = runner.invoke(cli, ["admin", "review", "list"])
    assert listed.exit_code == 0 and item.id in listed.output, listed.output
    assert "instructions: review defamation (rules)" in listed.output
    denied = runner.invoke(cli, ["admin", "review", "deny", item.id, "--reason", "no"])
    assert denied.exit_code == 0, denied.output
    assert f"{item.id}: denied; job {job['id']} failed" in denied.output
    again = runner.invoke(cli, ["admin", "review", "approve", item.id, "--reason", "yes"])
    assert again.exit_code == 1 and "not pending" in again.output
    decided = next(
        e for e in reversed(audit_actions(world)) if e["action"] == "generation:review:deny"
    )
    assert decided["actor"].startswith("operator:")
