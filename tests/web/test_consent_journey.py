"""Live consent from end to end, in Chromium against one real server and a real SMTP server on
loopback:

the researcher adds a person with their email address in the dashboard and invites them → the
invitation arrives in the person's mailbox (the researcher never sees the link) → the person
opens it and records their consent live, following the prompts of that session's script (the
fake camera and microphone play a bona fide capture rendered for that script) → the consent
waits for a reviewer, and a generation of the person is refused with the reason → a reviewer
watches the recording in the console and approves it → a generation of the person succeeds →
the person withdraws through the emailed link and blocks their address.

The session's script is made deterministic (``app.state.consent_scripts``) so that the capture
can be rendered for it beforehand; the page opens the camera and microphone, then the session,
then starts recording at once, so the fake camera's file and the script's clock start within a
request of each other."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.sync_api import Page, Response, expect

from lpm_guard.access.scopes import Role
from lpm_guard.consent.captures import CaptureService
from lpm_guard.consent.liveness.script import TURNS, Prompt, Script, new_script
from lpm_guard.consent.models import CaptureStatus, IdentityStatus
from lpm_guard.consent.services import ConsentService
from tests.consent.captures import bona_fide
from tests.consent.conftest import People, png
from tests.mailbox import text
from tests.web.conftest import Launch, Site, fake_microphone, script_errors
from tests.web.test_pages import sign_in

Shots = Callable[[Page, str], Path]
pytestmark = pytest.mark.slow

SEED = 16
# Rendered captures are kept between runs (tests/consent/captures.py finds them by their inputs).
CACHE = Path(__file__).resolve().parents[2] / "build" / "capture-cache"
CHECKING_MS = 240_000  # the script (~35 s), the upload, then the server's checks


@contextmanager
def fixed_script(site: Site, seed: int = SEED) -> Iterator[Script]:
    """Every capture session the server opens meanwhile gets the script of ``seed``."""
    previous = getattr(site.app.state, "consent_scripts", None)
    site.app.state.consent_scripts = lambda: new_script(rng=random.Random(seed))
    try:
        yield new_script(rng=random.Random(seed))
    finally:
        site.app.state.consent_scripts = previous


def invitation_link(site: Site, address: str) -> str:
    """The invitation link as the person receives it: in the message sent to their address."""
    message = site.mailbox.last(address)
    links = [link for link in site.mailbox.links(message) if "#revoke=" not in link]
    assert links, text(message)
    assert links[-1].startswith(f"{site.url}/consent.html#"), links
    return links[-1]


def withdrawal_link(site: Site, address: str) -> str:
    for message in reversed(site.mailbox.to(address)):
        links = [link for link in site.mailbox.links(message) if "#revoke=" in link]
        if links:
            return links[-1]
    raise AssertionError(f"no withdrawal link was sent to {address}")


def record_live(
    site: Site, launch: Launch, shots: Shots, link: str, face: np.ndarray, prefix: str
) -> tuple[Page, list[str]]:
    """The person opens ``link`` on their own device and records, following the prompts; the
    recording lands in "awaiting review"."""
    with fixed_script(site) as script:
        capture = bona_fide(face, script, CACHE, camera=True)
        assert capture.y4m is not None
        subject = launch(camera=capture.y4m, microphone=capture.wav).new_page()
        errors = script_errors(subject)
        subject.goto(link)
        expect(subject.locator("body")).to_have_attribute("data-ready", "consent")
        shots(subject, f"{prefix}-invitation")
        subject.get_by_role("button", name="Record my consent").click()
        expect(subject.locator("body[data-recording=on]")).to_be_attached()
        first_turn = next(step for step in script.steps if step.prompt in TURNS)
        expect(subject.locator("#prompt")).to_have_attribute(
            "data-prompt", str(first_turn.prompt), timeout=first_turn.end_s * 1000 + 10_000
        )
        shots(subject, f"{prefix}-prompt-{first_turn.prompt}")
        expect(subject.locator("#prompt")).to_have_attribute(
            "data-prompt", "digits", timeout=30_000
        )
        expect(subject.locator("#prompt-text")).to_have_text(script.of(Prompt.DIGITS)[0].text)
        shots(subject, f"{prefix}-prompt-digits")
        subject.wait_for_selector("body[data-result]", state="attached", timeout=CHECKING_MS)
    result = subject.locator("body").get_attribute("data-result")
    codes = subject.locator("#refused-reasons li").evaluate_all(
        "(items) => items.map((item) => item.dataset.check)"
    )
    shots(subject, f"{prefix}-result")
    assert result == "awaiting-review", f"the capture was refused: {codes}; {refused_checks(site)}"
    expect(
        subject.get_by_role("region", name="Thank you — a reviewer will now watch your recording")
    ).to_contain_text("We have emailed you the link to withdraw")
    return subject, errors


def refused_checks(site: Site) -> list[str]:
    """The failed checks of the latest refused capture, with their scores and details."""
    captures = CaptureService(ConsentService(site.runtime, site.app.state.consent_settings))
    refused = captures.queue(CaptureStatus.REFUSED)
    if not refused:
        return []
    detail = captures.detail("test", refused[-1].capture_id)
    return [
        f"{check['name']}: {check['score']} ({check['detail']})"
        for check in detail.checks
        if check["outcome"] == "fail"
    ]


def approve_in_console(
    site: Site, launch: Launch, shots: Shots, display_name: str, prefix: str
) -> list[str]:
    """A reviewer watches the capture in the console and approves it with a reason."""
    reviewer_account = site.world.staff(Role.REVIEWER)
    site.world.web_tokens(reviewer_account)  # the first sign-in replaces the one-time password
    reviewer = launch().new_page()
    errors = script_errors(reviewer)
    sign_in(reviewer, site, reviewer_account.email, reviewer_account.password, "/review.html")
    expect(reviewer.locator("body")).to_have_attribute("data-ready", "review")
    row = reviewer.locator("#capture-rows tr", has_text=display_name)
    expect(row).to_contain_text("awaiting review")
    expect(row.locator(".capture-age")).to_contain_text("ago")
    shots(reviewer, f"{prefix}-queue")
    row.get_by_role("button", name=f"Watch and decide: {display_name}").click()
    detail = reviewer.locator("#capture-detail")
    expect(detail).to_be_focused()
    # The video plays from a blob fetched with the reviewer's token.
    reviewer.wait_for_function(
        "() => document.querySelector('#capture-video').readyState >= 2", timeout=30_000
    )
    assert reviewer.evaluate("document.querySelector('#capture-video').videoWidth") > 0
    # The script's timeline and every check, with its outcome and score.
    expect(reviewer.locator("#capture-script-rows tr[data-prompt='statement']")).to_have_count(1)
    checks = reviewer.locator("#capture-check-rows tr")
    expect(checks.first).to_be_visible()
    names = checks.evaluate_all("(rows) => rows.map((row) => row.dataset.check)")
    assert {"head-turns", "face-match", "statement"} <= set(names), names
    outcomes = checks.evaluate_all("(rows) => rows.map((row) => row.dataset.outcome)")
    assert "fail" not in outcomes, list(zip(names, outcomes, strict=True))
    expect(reviewer.locator("#capture-transcript")).not_to_be_empty()
    shots(reviewer, f"{prefix}-review-detail")
    # A reason is required.
    reviewer.get_by_role("button", name="Approve this consent").click()
    expect(reviewer.locator("#capture-decision-status")).to_contain_text("Write a reason first")
    reviewer.get_by_label("Reason for the decision").fill(
        "Watched: the enrolled person, alone, followed every prompt and read the statement."
    )
    reviewer.get_by_role("button", name="Approve this consent").click()
    expect(reviewer.locator("#capture-decision-status")).to_contain_text(
        f"Approved: {display_name}'s consent is in force"
    )
    expect(reviewer.locator("#capture-rows tr", has_text=display_name)).to_have_count(0)
    shots(reviewer, f"{prefix}-approved")
    return errors


def test_a_person_consents_live_a_reviewer_approves_and_only_then_they_can_be_animated(
    site: Site, launch: Launch, shots: Shots, people: People, tmp_path: Path
) -> None:
    world = site.world
    researcher_account = world.researcher(quota_s=600.0)
    face = people.astronaut
    address = f"sam-{tmp_path.name[-8:]}@example.org".lower()
    masked = f"{address[0]}***@example.org"

    # (1) The researcher adds the person with their address and has the invitation emailed.
    researcher = launch().new_page()
    researcher_errors = script_errors(researcher)
    seen: list[Response] = []
    researcher.on("response", lambda response: seen.append(response))
    sign_in(
        researcher, site, researcher_account.email, researcher_account.password, "/dashboard.html"
    )
    expect(researcher.locator("body")).to_have_attribute("data-ready", "dashboard")
    photo = tmp_path / "sam.png"
    photo.write_bytes(png(face))
    form = researcher.locator("#new-identity")
    form.get_by_label("Name").fill("Sam Subject")
    form.get_by_label("Their email address").fill(address)
    form.get_by_label("Reference photos").set_input_files(photo)
    form.get_by_role("button", name="Add person").click()
    expect(researcher.locator("#identity-message")).to_contain_text("Added Sam Subject")
    row = researcher.locator("#identity-rows tr", has_text="Sam Subject")
    expect(row).to_contain_text(masked)
    identity_id = row.get_attribute("data-identity") or ""
    invite = researcher.locator("#new-invitation")
    invite.get_by_label("Live sessions").check()
    invite.get_by_label("Never used for").fill("advertising")
    invite.get_by_role("button", name="Email the invitation").click()
    expect(researcher.locator("#invite-message")).to_contain_text(
        f"Invitation emailed to {masked}."
    )
    shots(researcher, "1-invited")

    # (2) The message reached the person's address, and only there.
    link = invitation_link(site, address)
    token = link.split("#", 1)[1]
    message = text(site.mailbox.last(address))
    assert "Ada Researcher" in message, message

    # (3) The person records their consent live; it waits for a reviewer.
    subject, subject_errors = record_live(site, launch, shots, link, face, "3")
    service = ConsentService(site.runtime, site.app.state.consent_settings)
    view = service.get_identity(researcher_account.principal, identity_id)
    assert view.status == IdentityStatus.AWAITING_REVIEW
    researcher.reload()
    expect(researcher.locator("body")).to_have_attribute("data-ready", "dashboard")
    expect(researcher.locator("#identity-rows tr", has_text="Sam Subject")).to_contain_text(
        "waiting for a reviewer"
    )
    # Not offered for generation yet, and the API refuses it with the reason.
    expect(researcher.locator(f"#generate-identity option[value='{identity_id}']")).to_have_count(0)
    shots(researcher, "3-awaiting-review")
    voice = fake_microphone(
        "Hello, and welcome. Today we will look at how the study works.", tmp_path / "agent.wav"
    )
    bearer = {"Authorization": f"Bearer {world.web_tokens(researcher_account)['access_token']}"}
    refused = httpx.post(
        f"{site.url}/v1/generations",
        data={"identity_id": identity_id},
        files={"audio": ("agent.wav", voice.read_bytes(), "audio/wav")},
        headers=bearer,
        timeout=60,
    )
    assert refused.status_code in (403, 409, 422), refused.text
    assert "consent awaits a reviewer's approval" in refused.text, refused.text

    # (4) A reviewer watches the recording and approves it with a reason.
    reviewer_errors = approve_in_console(site, launch, shots, "Sam Subject", "4")
    view = service.get_identity(researcher_account.principal, identity_id)
    assert view.status == IdentityStatus.CONSENTED

    # (5) Now a generation of the person succeeds, from the dashboard.
    researcher.reload()
    expect(researcher.locator("body")).to_have_attribute("data-ready", "dashboard")
    expect(researcher.locator("#identity-rows tr", has_text="Sam Subject")).to_contain_text(
        "Consented"
    )
    generation = researcher.locator("#new-generation")
    generation.get_by_label("Identity").select_option(identity_id)
    generation.get_by_label("The agent's voice").set_input_files(voice)
    generation.get_by_role("button", name="Start generation").click()
    expect(researcher.locator("#generate-message")).to_contain_text("Accepted", timeout=60_000)
    job = researcher.locator("#job-rows tr").first
    expect(job).to_have_attribute("data-status", "succeeded", timeout=180_000)
    shots(researcher, "5-generated")

    # (6) The person withdraws through the emailed link and blocks their address: the
    # researcher cannot enroll them again.
    withdraw = withdrawal_link(site, address)
    assert withdraw.startswith(f"{site.url}/consent.html#revoke=")
    subject.goto(withdraw)
    expect(subject.locator("body")).to_have_attribute("data-ready", "consent")
    subject.get_by_label("Also block further invitations to my email address").check()
    subject.get_by_label("I want to withdraw my consent").check()
    subject.get_by_role("button", name="Withdraw my consent").click()
    expect(subject.locator("body")).to_have_attribute("data-result", "revoked")
    expect(subject.get_by_text("No further invitation will reach your address.")).to_be_visible()
    shots(subject, "6-withdrawn")
    researcher.reload()
    expect(researcher.locator("#identity-rows tr", has_text="Sam Subject")).to_contain_text(
        "Consent withdrawn"
    )
    form = researcher.locator("#new-identity")
    form.get_by_label("Name").fill("Sam Again")
    form.get_by_label("Their email address").fill(address)
    form.get_by_label("Reference photos").set_input_files(photo)
    form.get_by_role("button", name="Add person").click()
    expect(researcher.locator("#identity-message")).to_contain_text(
        "Not added: the person at this address asked not to receive invitations"
    )
    shots(researcher, "6-blocked")

    # No answer the researcher's pages received carried the person's token.
    for response in seen:
        try:
            body = response.body()
        except Exception:  # redirects and aborted requests have no body
            continue
        assert token.encode() not in body, response.url
    for errors in (researcher_errors, subject_errors, reviewer_errors):
        assert errors == []
