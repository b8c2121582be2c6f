"""The reviewer console (web/review.html) in Chromium against a real server: decisions on
applications, quotas, suspension, consent revocation, protected people, revoking a live session,
its audit trail, and an inclusion proof checked in the browser (web/lib/merkle.js)."""

from __future__ import annotations

import hashlib
import json
import random
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect
from sqlmodel import Session

from lpm_guard.access.scopes import Role
from lpm_guard.auditing.services import AuditService
from lpm_guard.consent.gallery import new_id
from lpm_guard.consent.liveness.script import new_script
from lpm_guard.consent.models import (
    Capture,
    CaptureStatus,
    ConsentRecord,
    Identity,
    IdentityStatus,
    Use,
    utcnow,
)
from lpm_guard.consent.models import Invitation as InvitationRow
from lpm_guard.consent.sealing import seal
from lpm_guard.consent.services import ConsentService
from lpm_guard.jobs.ledger import GenerationJob, JobStatus
from lpm_guard.live.ledger import LiveSessionRow
from tests.access.world import Account
from tests.consent.captures import bona_fide
from tests.consent.conftest import People, png
from tests.gate.test_gate import character, consent, open_session
from tests.web.conftest import Launch, Site, script_errors
from tests.web.recording import CACHE, SEED
from tests.web.test_pages import sign_in

Shots = Callable[[Page, str], Path]


WIDER_THAN_SCREEN = """() => [...document.querySelectorAll("body *")]
  .filter((node) => node.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .map((node) => `${node.tagName}#${node.id}.${node.className}`).slice(0, 10)"""


@pytest.mark.slow  # started with the slow tests (tests/conftest.py), not last
def test_a_reviewer_works_through_the_console(
    site: Site, launch: Launch, shots: Shots, people: People, tmp_path: Path
) -> None:
    world = site.world
    reviewer = world.staff(Role.REVIEWER)
    world.web_tokens(reviewer)  # the first sign-in replaces the one-time password
    to_approve, to_deny = world.applicant(), world.applicant()
    owner = world.researcher(quota_s=600.0)
    identity = consent(world, owner, people.t1[5], tmp_path)
    assert world.runtime is not None
    drawn = ConsentService(world.runtime).enroll_synthetic(
        owner.principal,
        "Drawn Host",
        "drawn",
        "depicts no real person",
        [png(people.t1[4])],
        [Use.LIVE],
    )
    protected_photo = tmp_path / "protected.png"
    protected_photo.write_bytes(png(people.t1[1]))

    page = launch().new_page()
    errors = script_errors(page)
    sign_in(page, site, reviewer.email, reviewer.password, "/review.html")
    expect(page.locator("body")).to_have_attribute("data-ready", "review")
    shots(page, "console")

    # (1): approve one application and deny another, each with a reason; the outcome shows.
    card = page.locator("article", has_text=to_approve.email)
    expect(card).to_contain_text("IRB-2026-0042")
    card.get_by_label("Reason for the decision").fill("Ethics approval checked with the IRB.")
    card.get_by_label("Daily quota (seconds)").fill("900")
    card.get_by_role("button", name="Approve").click()
    status = page.locator("#applications-status")
    expect(status).to_contain_text(f"Approved Ada Researcher ({to_approve.email})")
    expect(status).to_contain_text("900 s a day")
    card = page.locator("article", has_text=to_deny.email)
    card.get_by_role("button", name="Deny").click()
    expect(status).to_contain_text("Write a reason first")
    card.get_by_label("Reason for the decision").fill("No ethics approval on file.")
    card.get_by_role("button", name="Deny").click()
    expect(status).to_contain_text(f"Denied Ada Researcher ({to_deny.email}): No ethics approval")
    shots(page, "applications-decided")
    assert world.services.applications.get(to_deny.application_id or "", None).status == "denied"

    # (2): change a researcher's quota; suspend the new one, then reinstate them.
    researchers = page.locator("#researchers-status")
    row = page.locator("#researcher-rows tr", has_text=owner.email)
    row.get_by_label(re.compile("^Reason")).fill("A longer study was approved.")
    row.get_by_label(re.compile("^Daily quota")).fill("1200")
    row.get_by_role("button", name="Set quota").click()
    expect(researchers).to_contain_text("daily quota is now 1200 s")
    assert world.services.quotas.check(owner.account_id).daily_quota_s == 1200.0
    row = page.locator("#researcher-rows tr", has_text=to_approve.email)
    expect(row).to_contain_text("0.0 s of 900 s used")
    row.get_by_label(re.compile("^Reason")).fill("Misuse report under investigation.")
    row.get_by_role("button", name="Suspend").click()
    expect(researchers).to_contain_text("Suspended Ada Researcher")
    row = page.locator("#researcher-rows tr", has_text=to_approve.email)
    expect(row.locator(".badge")).to_have_text("suspended")
    shots(page, "researcher-suspended")
    row.get_by_label(re.compile("^Reason")).fill("The report was unfounded.")
    row.get_by_role("button", name="Reinstate").click()
    expect(researchers).to_contain_text("Reinstated Ada Researcher")
    expect(
        page.locator("#researcher-rows tr", has_text=to_approve.email).locator(".badge")
    ).to_have_text("approved")

    # (3): a consent record's details, then revoke it; approve a synthetic character.
    row = page.locator("#identity-rows tr", has_text=identity)
    row.get_by_role("button", name="Details").click()
    details = page.locator("#identity-details")
    expect(details).to_contain_text("consent:consent:accept")
    expect(details).to_contain_text("not shown: biometric data")
    expect(page.locator("#identity-consented")).to_contain_text("by the subject in person")
    shots(page, "identity-details")
    row.get_by_label(re.compile("^Reason")).fill("The subject asked us by phone.")
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator("#identities-status")).to_contain_text("Revoked Subject: revoked")
    expect(page.locator("#identity-rows tr", has_text=identity).locator(".badge")).to_have_text(
        "revoked"
    )

    row = page.locator("#identity-rows tr", has_text=drawn.id)
    expect(row.locator(".badge")).to_have_text("pending review")
    row.get_by_label(re.compile("^Reason")).fill("Checked: an original drawing.")
    row.get_by_role("button", name="Approve").click()
    expect(page.locator("#identities-status")).to_contain_text("Approved Drawn Host: approved")
    expect(page.locator("#identity-rows tr", has_text=drawn.id).locator(".badge")).to_have_text(
        "approved"
    )

    # (4): protect a person.
    page.get_by_label("Name", exact=True).fill("A Public Figure")
    page.get_by_label("Why they are protected").fill("Asked not to be animated.")
    page.get_by_label("Photos of their face").set_input_files(protected_photo)
    page.get_by_role("button", name="Protect this person").click()
    expect(page.locator("#protected-status")).to_contain_text("A Public Figure is protected")
    expect(page.locator("#protected-rows")).to_contain_text("Asked not to be animated.")
    shots(page, "protected")

    # (5): revoke an open live session, then read its audit trail.
    second = character(world, owner, people.t1[3], tmp_path)
    token = world.web_tokens(owner)["access_token"]
    code, opened = open_session(world, token, identity_id=second)
    assert code == 201, opened
    session_id = str(opened["session_id"])
    page.locator("#activity-filter").get_by_role("button", name="Show").click()
    row = page.locator("#session-rows tr", has_text=session_id)
    expect(row.locator(".badge")).to_have_text("open")
    shots(page, "session-open")
    row.get_by_role("button", name=f"Revoke session {session_id}").click()
    expect(page.locator("#activity-status")).to_contain_text("Write a reason first")
    expect(row.locator(".badge")).to_have_text("open")
    row.get_by_label(f"Reason to revoke session {session_id}").fill("Report of misuse #12")
    row.get_by_role("button", name=f"Revoke session {session_id}").click()
    expect(page.locator("#activity-status")).to_contain_text(f"Session {session_id} is revoked")
    row = page.locator("#session-rows tr", has_text=session_id)
    expect(row.locator(".badge")).to_have_text("ended")
    expect(row).to_contain_text("revoked")
    expect(row).to_contain_text("Report of misuse #12")
    row.get_by_role("button", name=f"Audit trail of session {session_id}").click()
    trail = page.locator("#audit-rows")
    expect(trail).to_contain_text("session:stream:revoke")
    expect(trail).to_contain_text("generation:request:allow")
    expect(page.get_by_role("button", name="Older entries")).to_be_hidden()
    shots(page, "session-trail")

    # (6): check the revocation's inclusion in the browser against a signed checkpoint.
    site.runtime.audit.checkpoint(force=True)
    revoke_row = trail.locator("tr", has_text="session:stream:revoke")
    revoke_row.get_by_role("button", name=re.compile("^Open entry")).click()
    expect(page.locator("#audit-entry-heading")).to_contain_text("session:stream:revoke")
    page.get_by_role("button", name="Check inclusion in this browser").click()
    result = page.locator("#inclusion-result")
    expect(result).to_contain_text("Included in the log and signed")
    expect(page.locator("#inclusion-steps li")).to_have_count(3)
    shots(page, "inclusion-checked")

    # (7): an entry newer than the latest checkpoint is not claimed to be signed.
    newest = AuditService(site.runtime.audit).record("test:marker:add", "test").index
    page.get_by_label("Entry number").fill(str(newest))
    page.get_by_role("button", name="Show entry").click()
    expect(page.locator("#audit-entry-heading")).to_contain_text(f"Entry {newest}")
    page.get_by_role("button", name="Check inclusion in this browser").click()
    expect(result).to_contain_text("Not yet signed")
    shots(page, "not-yet-signed")

    # (8): the phone width: everything folds into one column, nothing spills sideways.
    page.set_viewport_size({"width": 375, "height": 800})
    page.locator("#researchers").scroll_into_view_if_needed()
    wide = page.evaluate(WIDER_THAN_SCREEN)
    assert wide == [], wide
    shots(page, "phone")
    assert errors == []


def test_a_researcher_is_turned_away(site: Site, launch: Launch, shots: Shots) -> None:
    researcher = site.world.researcher()
    page = launch().new_page()
    errors = script_errors(page)
    sign_in(page, site, researcher.email, researcher.password, "/review.html")
    expect(page.locator("body")).to_have_attribute("data-ready", "gate")
    expect(page.get_by_role("alert")).to_contain_text(
        "This page is for reviewer or admin accounts; you are signed in as a researcher."
    )
    expect(page.locator("#applications")).to_be_hidden()
    shots(page, "refused")
    assert errors == []


# -- web/lib/merkle.js against the server's own proofs and checkpoints -------------------------

CHECK = """async ({ body, index, proof, note, keys }) => {
  const merkle = await import("/lib/merkle.js");
  try {
    const steps = await merkle.checkInclusion({ body, index, proof, note, keys });
    return { ok: true, steps: steps.map((s) => s.step) };
  } catch (error) {
    return { ok: false, step: error.step ?? null, message: error.message };
  }
}"""


def _flip_hex(text: str) -> str:
    return ("0" if text[0] != "0" else "1") + text[1:]


def test_merkle_js_accepts_true_proofs_and_names_each_tampering(site: Site, launch: Launch) -> None:
    log = site.runtime.audit
    while log.size() < 8:  # enough entries for every position below (the test may run first)
        site.world.applicant()
    checkpoint = log.checkpoint(force=True)
    http = httpx.Client(base_url=site.url)
    keys = http.get("/v1/audit/keys").json()
    page = launch().new_page()
    page.goto(f"{site.url}/verify.html")

    def check(index: int, **change: Any) -> dict[str, Any]:
        args = {
            "body": log.entry(index).body.decode(),
            "index": index,
            "proof": http.get(
                "/v1/audit/proofs/inclusion",
                params={"index": index, "tree_size": checkpoint.tree_size},
            ).json(),
            "note": checkpoint.note,
            "keys": keys,
        }
        args.update(change)
        result: dict[str, Any] = page.evaluate(CHECK, args)
        return result

    # (1): every position in the tree (first, last, odd and even, both sides of the split).
    size = checkpoint.tree_size
    for index in sorted({0, 1, 2, size // 2, size - 2, size - 1}):
        assert check(index) == {"ok": True, "steps": ["leaf", "root", "signature"]}, index

    index = size // 2
    good = check(index)
    assert good["ok"]
    proof = http.get(
        "/v1/audit/proofs/inclusion", params={"index": index, "tree_size": size}
    ).json()
    body = log.entry(index).body.decode()

    # (2): a changed entry no longer hashes to the leaf.
    assert check(index, body=body.replace('"index":', '"index": ', 1))["step"] == "leaf"
    # (3): a changed hash on the path leads elsewhere than the signed root.
    bent = dict(proof, path=[_flip_hex(proof["path"][0]), *proof["path"][1:]])
    assert check(index, proof=bent)["step"] == "root"
    # (4): a path that is too short, or a proof for another tree size.
    assert check(index, proof=dict(proof, path=proof["path"][:-1]))["step"] == "path"
    assert check(index, proof=dict(proof, tree_size=size - 1))["step"] == "size"
    # (5): a changed signature, or a changed root under the old signature, does not verify.
    text, signature = checkpoint.note.split("\n\n")
    name, blob = signature.rstrip("\n").split(" ")[1:]
    raw = bytearray(__import__("base64").b64decode(blob))
    raw[10] ^= 0x01
    forged = f"{text}\n\n\u2014 {name} {__import__('base64').b64encode(bytes(raw)).decode()}\n"
    assert check(index, note=forged)["step"] == "signature"
    lines = text.split("\n")
    other_root = check(index + 1)  # sanity: the neighbour passes with the true note
    assert other_root["ok"]
    tampered_root = "\n".join([lines[0], lines[1], "A" * 43 + "=", *lines[3:]])
    result = check(index, note=f"{tampered_root}\n\n{signature}")
    assert result["step"] in {"root", "signature"}  # the recomputed root no longer matches
    assert result["step"] == "root"
    # (6): a key that is not the published one (same name, another key) is not trusted.
    stranger = [dict(keys[0], public_key="A" * 43 + "=")]
    assert check(index, keys=stranger)["step"] == "key"


def test_the_console_pages_through_older_sessions_and_jobs(
    site: Site, launch: Launch, shots: Shots
) -> None:
    """The lists show the newest 50; "Older …" appends the next page (``before=``) until none
    is left, each list on its own."""
    world = site.world
    assert world.runtime is not None
    reviewer = world.staff(Role.REVIEWER)
    world.web_tokens(reviewer)
    owner = world.researcher().account_id
    start = datetime(2026, 11, 1, tzinfo=UTC)
    with Session(world.runtime.engine) as db:
        for n in range(53):
            at = start + timedelta(minutes=n)
            db.add(
                LiveSessionRow(
                    id=f"ses_page{n:03d}",
                    owner=owner,
                    identity_id="idn_paged",
                    size="512x512",
                    fps=25,
                    status="ended",
                    opened_at=at,
                    ended_at=at,
                    stop_reason="client_closed",
                    audit_index=n,
                )
            )
        for n in range(51):
            db.add(
                GenerationJob(
                    id=f"job_page{n:03d}",
                    owner=owner,
                    identity_id="idn_paged",
                    status=JobStatus.SUCCEEDED,
                    frames_done=100,
                    frames_total=100,
                    audit_index=n,
                    seconds=4.0,
                    error=None,
                    created_at=start + timedelta(minutes=n),
                )
            )
        db.commit()

    page = launch().new_page()
    errors = script_errors(page)
    sign_in(page, site, reviewer.email, reviewer.password, "/review.html")
    expect(page.locator("body")).to_have_attribute("data-ready", "review")
    page.locator("#activity-filter").get_by_label("Owner (account id)").fill(owner)
    page.locator("#activity-filter").get_by_role("button", name="Show").click()
    status = page.locator("#activity-status")
    expect(status).to_contain_text("50 live sessions so far, 50 offline jobs so far")
    expect(page.locator("#session-rows tr").first).to_contain_text("ses_page052")
    page.get_by_role("button", name="Older live sessions").click()
    expect(page.locator("#session-rows tr")).to_have_count(53)
    expect(page.locator("#session-rows tr").last).to_contain_text("ses_page000")
    expect(page.get_by_role("button", name="Older live sessions")).to_be_hidden()
    expect(status).to_contain_text("53 live sessions, 50 offline jobs so far")
    page.get_by_role("button", name="Older offline jobs").click()
    expect(page.locator("#job-rows tr")).to_have_count(51)
    expect(page.get_by_role("button", name="Older offline jobs")).to_be_hidden()
    expect(status).to_contain_text("53 live sessions, 51 offline jobs.")
    shots(page, "paged")
    assert errors == []


# -- consent captures: the queue, the recording, the checks, a decision ------------------------


def held_for_review(site: Site, owner: Account, photo: Any, tmp_path: Path) -> tuple[str, str]:
    """A person whose live capture passed the checks with one flag and waits for a reviewer,
    stored as the capture service stores it (the recording is a bona fide capture rendered for
    the script). Returns (identity id, capture id)."""
    settings = site.app.state.consent_settings
    service = ConsentService(site.runtime, settings)
    address = f"flagged-{tmp_path.name[-8:]}@example.org".lower()
    identity = service.create_identity(
        owner.principal, "Flagged Person", [png(photo)], subject_email=address
    )
    sent = service.invite(owner.principal, identity.id, [Use.OFFLINE])
    script = new_script(rng=random.Random(SEED))
    video = bona_fide(photo, script, CACHE, seed=7).video()  # a room of its own
    now = utcnow()
    capture_id = new_id("cap")
    checks = [
        {"name": "head-turns", "outcome": "pass", "score": 0.91, "threshold": 0.5,
         "detail": "3 of 3 turns in order and in their windows"},
        {"name": "face-match", "outcome": "pass", "score": 0.31, "threshold": 0.55,
         "detail": "the largest distance to an enrolled photo"},
        {"name": "rendered", "outcome": "flag", "score": 0.4, "threshold": 1.0,
         "detail": "little camera noise: look for a rendered face"},
    ]  # fmt: skip
    with Session(site.runtime.engine) as db:
        invitation = db.get(InvitationRow, sent.invitation_id)
        person = db.get(Identity, identity.id)
        assert invitation is not None and person is not None
        invitation.used_at = now
        person.status = IdentityStatus.AWAITING_REVIEW
        person.allowed_uses = invitation.allowed_uses
        person.expires_at = invitation.consent_expires_at
        db.add(
            Capture(
                id=capture_id,
                invitation_id=invitation.id,
                identity_id=identity.id,
                status=CaptureStatus.AWAITING_REVIEW,
                script=script.to_json(),
                opened_at=now - timedelta(minutes=42),
                deadline=now - timedelta(minutes=38),
                submitted_at=now - timedelta(minutes=41),
                video_sha256=hashlib.sha256(video).hexdigest(),
                video_type="video/webm",
                video=seal(service.cipher, "consent_captures", capture_id, "video", video),
                checks=json.dumps(checks),
                transcript="four six three seven | i agree that this researcher may animate",
            )
        )
        db.add(
            ConsentRecord(
                id=new_id("cns"),
                identity_id=identity.id,
                invitation_id=invitation.id,
                statement_sha256=hashlib.sha256(invitation.statement.encode()).hexdigest(),
                evidence_sha256="{}",
                revocation_token_hash=hashlib.sha256(secrets.token_bytes(16)).hexdigest(),
                allowed_uses=invitation.allowed_uses,
                accepted_at=now,
                expires_at=invitation.consent_expires_at,
                capture_id=capture_id,
            )
        )
        db.add_all([invitation, person])
        db.commit()
    return identity.id, capture_id


@pytest.mark.slow  # started with the slow tests (tests/conftest.py), not last
def test_a_reviewer_watches_a_flagged_capture_and_rejects_it_with_a_reason(
    site: Site, launch: Launch, shots: Shots, people: People, tmp_path: Path
) -> None:
    world = site.world
    reviewer = world.staff(Role.REVIEWER)
    world.web_tokens(reviewer)
    owner = world.researcher()
    identity_id, capture_id = held_for_review(site, owner, people.astronaut, tmp_path)
    # Another person refused their invitation and reported it.
    service = ConsentService(site.runtime, site.app.state.consent_settings)
    address = f"reporter-{tmp_path.name[-8:]}@example.org".lower()
    reported = service.create_identity(
        owner.principal, "Reporting Person", [png(people.t1[2])], subject_email=address
    )
    service.invite(owner.principal, reported.id, [Use.OFFLINE])
    service.refuse_invitation(site.mailbox.invitation_token(address), report=True)

    page = launch().new_page()
    errors = script_errors(page)
    sign_in(page, site, reviewer.email, reviewer.password, "/review.html")
    expect(page.locator("body")).to_have_attribute("data-ready", "review")

    # (1): the queue: the person, how long they have waited, the flag.
    row = page.locator(f"#capture-rows tr[data-capture='{capture_id}']")
    expect(row).to_contain_text("Flagged Person")
    expect(row.locator(".capture-age")).to_have_text("41 min ago")
    expect(row.locator(".badge.warn", has_text="rendered")).to_be_visible()
    # Reported invitations are listed for reviewers.
    expect(page.locator("#reports")).to_be_visible()
    expect(page.locator("#report-rows")).to_contain_text("Reporting Person")
    shots(page, "captures-queue")

    # (2): the detail: the recording plays, the script's timeline, each check and its score.
    row.get_by_role("button", name="Watch and decide: Flagged Person").click()
    expect(page.locator("#capture-detail")).to_be_focused()
    page.wait_for_function(
        "() => document.querySelector('#capture-video').readyState >= 2", timeout=30_000
    )
    expect(page.locator("#capture-script-rows tr")).to_have_count(10)
    expect(page.locator("#capture-script-rows tr[data-prompt='digits']")).to_contain_text(
        "four six three seven"
    )
    flagged = page.locator("#capture-check-rows tr[data-check='rendered']")
    expect(flagged.locator(".badge")).to_have_text("flag")
    expect(flagged).to_contain_text("0.4")
    expect(flagged).to_contain_text("look for a rendered face")
    expect(page.locator("#capture-check-rows tr[data-check='face-match']")).to_contain_text("0.55")
    expect(page.locator("#capture-transcript")).to_contain_text("four six three seven")
    shots(page, "capture-detail")
    # Viewing is audited.
    actions = [
        json.loads(site.runtime.audit.entry(i).body)["action"]
        for i in range(site.runtime.audit.size())
    ]
    assert "consent:capture:view" in actions

    # (3): reject, with a reason; the consent never came into force.
    page.get_by_role("button", name="Reject this consent").click()
    expect(page.locator("#capture-decision-status")).to_contain_text("Write a reason first")
    page.get_by_label("Reason for the decision").fill("The face looks rendered, not filmed.")
    page.get_by_role("button", name="Reject this consent").click()
    expect(page.locator("#capture-decision-status")).to_contain_text(
        "Rejected: Flagged Person's consent never came into force"
    )
    expect(page.locator(f"#capture-rows tr[data-capture='{capture_id}']")).to_have_count(0)
    view = service.get_identity(owner.principal, identity_id)
    assert view.status == IdentityStatus.AWAITING_CONSENT
    shots(page, "capture-rejected")
    page.locator("#capture-status-filter").select_option("rejected")
    page.locator("#capture-filter").get_by_role("button", name="Show").click()
    expect(page.locator(f"#capture-rows tr[data-capture='{capture_id}']")).to_contain_text(
        "rejected"
    )
    assert errors == []
