"""The whole platform in Chromium, as its people use it, against one real server:

an applicant applies → a reviewer approves them → the researcher signs in → adds a person with
their email address and has the invitation emailed to them → the person records their consent
live on their own device (fake camera and microphone following that session's script) → a
reviewer watches the recording and approves it → the researcher runs an offline generation and
watches it finish → opens a live session and gets frames → a journalist drops the clip on the
verify page and reads it as trusted.

While the recording waits for the reviewer, the person is neither offered for generation nor
generatable through the API. Then the person withdraws through the link emailed to them and
blocks their address, and the researcher's pages say so: the person can no longer be picked for
a live session, with the reason, nor enrolled again. No answer the researcher's pages received
carried the person's invitation token.

Each person has their own browser; every page is screenshotted under build/test-output/web/."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.sync_api import BrowserContext, Page, Response, expect

from tests.access.world import Account
from tests.consent.conftest import People, png
from tests.mailbox import text
from tests.web.conftest import Launch, Site, fake_microphone, script_errors
from tests.web.recording import (
    approve_in_console,
    invitation_link,
    record_live,
    review_console,
    withdrawal_link,
)
from tests.web.test_pages import sign_in

Shots = Callable[[Page, str], Path]
pytestmark = pytest.mark.slow

APPLICANT_PASSWORD = "a long applicant passphrase"


def watched(context: BrowserContext) -> tuple[Page, list[str]]:
    page = context.new_page()
    errors = script_errors(page)
    return page, errors


def test_apply_approve_invite_consent_generate_go_live_and_verify(
    site: Site,
    launch: Launch,
    shots: Shots,
    people: People,
    tmp_path: Path,
) -> None:
    email = f"journey-{tmp_path.name[-8:]}@example.org".lower()
    subject_address = f"sam-{tmp_path.name[-8:]}@example.org".lower()
    masked = f"{subject_address[0]}***@example.org"
    # The astronaut's mirror image: other tests may consent the astronaut on this shared
    # server, and the proxy renders every capture of one photo alike, so the same photo again
    # would be refused as a copy of that capture.
    face = np.ascontiguousarray(people.astronaut[:, ::-1])

    # (1) The applicant applies on the sign-up page.
    applicant, applicant_errors = watched(launch())
    applicant.goto(f"{site.url}/signup.html")
    expect(applicant.locator("body")).to_have_attribute("data-ready", "signup")
    applicant.get_by_label("Name").fill("Jo Researcher")
    applicant.get_by_label("Email").fill(email)
    applicant.get_by_label("Password (12 characters or more)").fill(APPLICANT_PASSWORD)
    applicant.get_by_label("Institution").fill("University of Somewhere")
    applicant.get_by_label("Position").fill("Doctoral researcher")
    applicant.get_by_label("Research purpose").fill(
        "How people judge the trustworthiness of synthetic talking heads in video calls."
    )
    applicant.get_by_label("Ethics approval reference").fill("IRB-2026-0107")
    applicant.get_by_label("Live sessions").check()
    applicant.get_by_label(re.compile("I accept the")).check()
    shots(applicant, "1-apply")
    applicant.get_by_role("button", name="Apply").click()
    expect(applicant.locator("#signup-result")).to_contain_text("Thank you")
    shots(applicant, "1-applied")

    # (2) A reviewer approves the application in the console, with a reason and a quota.
    reviewer, reviewer_errors = review_console(site, launch)
    card = reviewer.locator("article", has_text=email)
    expect(card).to_contain_text("IRB-2026-0107")
    card.get_by_label("Reason for the decision").fill("Ethics approval checked with the IRB.")
    card.get_by_label("Daily quota (seconds)").fill("900")
    shots(reviewer, "2-queue")
    card.get_by_role("button", name="Approve").click()
    expect(reviewer.locator("#applications-status")).to_contain_text("Approved Jo Researcher")
    shots(reviewer, "2-approved")

    # (3) The researcher signs in and lands on the dashboard, approved for both uses.
    researcher, researcher_errors = watched(launch())
    seen: list[Response] = []
    researcher.on("response", lambda response: seen.append(response))
    sign_in(researcher, site, email, APPLICANT_PASSWORD, "/dashboard.html")
    expect(researcher.locator("body")).to_have_attribute("data-ready", "dashboard")
    expect(researcher.locator("#standing-text")).to_have_text("Active")
    expect(researcher.locator("#approved-for")).to_have_text(
        "offline generations and live sessions"
    )
    expect(researcher.locator("#quota-text")).to_contain_text("15 min 0 s left")

    # (4) They add the person from a photo and their address, and have the invitation emailed
    # to them for offline and live use, never for advertising: the link reaches the person,
    # never this page.
    photo = tmp_path / "person.png"
    photo.write_bytes(png(face))
    new_identity = researcher.locator("#new-identity")
    new_identity.get_by_label("Name").fill("Sam Subject")
    new_identity.get_by_label("Their email address").fill(subject_address)
    new_identity.get_by_label("Reference photos").set_input_files(photo)
    new_identity.get_by_role("button", name="Add person").click()
    expect(researcher.locator("#identity-message")).to_contain_text("Added Sam Subject")
    invitation = researcher.locator("#new-invitation")
    invitation.get_by_label("Offline generations").check()
    invitation.get_by_label("Live sessions").check()
    invitation.get_by_label("Never used for").fill("advertising")
    invitation.get_by_role("button", name="Email the invitation").click()
    expect(researcher.locator("#invite-message")).to_contain_text(
        f"Invitation emailed to {masked}."
    )
    url = invitation_link(site, subject_address)
    token = url.split("#", 1)[1]
    assert token not in researcher.content()
    assert "Jo Researcher" in text(site.mailbox.last(subject_address))
    shots(researcher, "4-invited")

    # (5) The person opens the emailed link on their own device and records their consent
    # live. Until a reviewer approves it, the person is not offered for generation and the
    # API refuses a generation with the reason.
    subject, subject_errors = record_live(site, launch, shots, url, face, "5")
    researcher.reload()
    expect(researcher.locator("body")).to_have_attribute("data-ready", "dashboard")
    waiting = researcher.locator("#identity-rows tr", has_text="Sam Subject")
    expect(waiting).to_contain_text("waiting for a reviewer")
    identity_id = waiting.get_attribute("data-identity") or ""
    expect(researcher.locator(f"#generate-identity option[value='{identity_id}']")).to_have_count(0)
    shots(researcher, "5-awaiting-review")
    agent = fake_microphone(
        "Hello, and welcome. Today we will look at how the study works.", tmp_path / "agent.wav"
    )
    tokens = site.world.web_tokens(Account("", email, APPLICANT_PASSWORD))
    refused = httpx.post(
        f"{site.url}/v1/generations",
        data={"identity_id": identity_id},
        files={"audio": ("agent.wav", agent.read_bytes(), "audio/wav")},
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
        timeout=60,
    )
    assert refused.status_code in (403, 409, 422), refused.text
    assert "consent awaits a reviewer's approval" in refused.text, refused.text
    # A reviewer watches the recording and approves it.
    approval_errors = approve_in_console(site, launch, shots, "Sam Subject", "5")

    # (6) The researcher sees the consent and runs an offline generation to the end.
    researcher.reload()
    expect(researcher.locator("body")).to_have_attribute("data-ready", "dashboard")
    expect(researcher.locator("#identity-rows tr", has_text="Sam Subject")).to_contain_text(
        "Consented"
    )
    generation = researcher.locator("#new-generation")
    generation.get_by_label("Identity").select_option(identity_id)
    generation.get_by_label("The agent's voice").set_input_files(agent)
    generation.get_by_label("Instructions").fill("smile warmly")
    generation.get_by_role("button", name="Start generation").click()
    expect(researcher.locator("#generate-message")).to_contain_text("Accepted", timeout=60_000)
    job = researcher.locator("#job-rows tr").first
    expect(job).to_have_attribute("data-status", "succeeded", timeout=180_000)
    researcher.wait_for_function(
        "() => document.querySelector('#result-video').readyState >= 2", timeout=30_000
    )
    shots(researcher, "6-generated")
    download = researcher.get_by_role("link", name="Download the MP4")
    with researcher.expect_download() as downloading:
        download.click()
    clip = tmp_path / "clip.mp4"
    downloading.value.save_as(clip)

    # (7) A live session of the same person: frames arrive and the character speaks.
    researcher.goto(f"{site.url}/live.html")
    expect(researcher.locator("body")).to_have_attribute("data-ready", "live")
    researcher.get_by_label("Sam Subject").check()
    researcher.get_by_label("Use my microphone").uncheck()
    researcher.get_by_role("button", name="Open session").click()
    expect(researcher.locator("#session-status")).to_contain_text("Live:", timeout=30_000)
    researcher.get_by_label("Voice file").set_input_files(agent)
    expect(researcher.get_by_text("s ready to speak")).to_be_visible()
    researcher.get_by_role("button", name="Speak it").click()
    expect(researcher.locator("#state")).to_have_attribute("data-state", "speaking", timeout=10_000)
    researcher.wait_for_function(
        "() => Number(document.querySelector('#fps').dataset.fps) > 10", timeout=20_000
    )
    expect(researcher.locator("#ai-label")).to_have_text("AI-generated")
    shots(researcher, "7-live")
    researcher.get_by_role("button", name="End session").click()
    expect(researcher.locator("body")).to_have_attribute("data-session", "closed")

    # (8) A journalist drops the clip on the public verify page: trusted, marked, logged.
    journalist, journalist_errors = watched(launch())
    journalist.goto(f"{site.url}/verify.html")
    expect(journalist.locator("body")).to_have_attribute("data-ready", "verify")
    journalist.get_by_label("Drop a video file here, or choose one").set_input_files(clip)
    verdict = journalist.locator("#verdict")
    expect(verdict).to_have_attribute("data-verdict", "authentic", timeout=60_000)
    expect(journalist.locator("#c2pa-badge")).to_have_text("Valid and trusted")
    expect(journalist.locator("#watermark-badge")).to_have_text("Found")
    expect(journalist.locator("#audit-badge")).to_have_text("Included")
    shots(journalist, "8-verified")

    # (9) The person withdraws through their link and blocks their address; the researcher is
    # refused from then on, with the reason, offline and live, and cannot enroll them again.
    withdraw = withdrawal_link(site, subject_address)
    assert withdraw.startswith(f"{site.url}/consent.html#revoke=")
    subject.goto(withdraw)
    expect(subject.locator("body")).to_have_attribute("data-ready", "consent")
    subject.get_by_label("Also block further invitations to my email address").check()
    subject.get_by_label("I want to withdraw my consent").check()
    subject.get_by_role("button", name="Withdraw my consent").click()
    expect(subject.locator("body")).to_have_attribute("data-result", "revoked")
    expect(subject.get_by_text("No further invitation will reach your address.")).to_be_visible()
    shots(subject, "9-withdrawn")
    researcher.goto(f"{site.url}/dashboard.html")
    expect(researcher.locator("body")).to_have_attribute("data-ready", "dashboard")
    expect(researcher.locator("#identity-rows tr", has_text="Sam Subject")).to_contain_text(
        "Consent withdrawn"
    )
    shots(researcher, "9-dashboard-after-withdrawal")
    researcher.goto(f"{site.url}/live.html")
    expect(researcher.locator("body")).to_have_attribute("data-ready", "live")
    expect(researcher.get_by_label("Sam Subject")).to_be_disabled()
    expect(researcher.locator(f"#identity-{identity_id}-why")).to_contain_text("withdr")
    shots(researcher, "9-live-refused")
    researcher.goto(f"{site.url}/dashboard.html")
    expect(researcher.locator("body")).to_have_attribute("data-ready", "dashboard")
    new_identity = researcher.locator("#new-identity")
    new_identity.get_by_label("Name").fill("Sam Again")
    new_identity.get_by_label("Their email address").fill(subject_address)
    new_identity.get_by_label("Reference photos").set_input_files(photo)
    new_identity.get_by_role("button", name="Add person").click()
    expect(researcher.locator("#identity-message")).to_contain_text(
        "Not added: the person at this address asked not to receive invitations"
    )
    shots(researcher, "9-blocked")

    # No answer the researcher's pages received carried the person's token.
    for response in seen:
        try:
            body = response.body()
        except Exception:  # redirects and aborted requests have no body
            continue
        assert token.encode() not in body, response.url

    for errors in (
        approval_errors,
        applicant_errors,
        reviewer_errors,
        researcher_errors,
        subject_errors,
        journalist_errors,
    ):
        assert errors == []
