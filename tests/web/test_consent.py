"""The subject's consent page in Chromium against a real server: who asks and for what, refusing
(and reporting, and blocking the address), the live capture with its timed prompts, and every
refusal explained in plain words.

A photo held to the camera (Chromium's fake camera playing a Y4M of a still photo) is the
printed-photo attack: it must be refused. The bona fide capture that passes and the reviewer
who approves it are in test_journey.py.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page, Route, expect

from lpm_guard.consent.errors import AddressBlocked
from lpm_guard.consent.liveness.script import SPOKEN_STATEMENT
from lpm_guard.consent.models import IdentityStatus, Use
from lpm_guard.consent.services import ConsentService
from tests.access.world import Account
from tests.consent.conftest import People, png
from tests.web.conftest import Launch, Site, fake_camera, fake_microphone, script_errors

Shots = Callable[[Page, str], Path]
CHECKING_MS = 180_000  # the script (~35 s), the upload, then the server's checks
pytestmark = pytest.mark.slow

# Every code a refusal may carry (lpm_guard/consent/captures.py, REASONS).
CHECK_CODES = [
    "unreadable-media", "too-early", "too-late", "too-short", "one-face", "same-person",
    "head-turns", "blinks", "three-d", "lip-sync", "digits", "statement", "watermarked", "copy",
    "face-match", "protected-identity",
]  # fmt: skip


@dataclass
class Invitation:
    researcher: Account
    identity_id: str
    address: str
    token: str

    @property
    def path(self) -> str:
        return f"/consent.html#{self.token}"


def consent_service(site: Site) -> ConsentService:
    return ConsentService(site.runtime, site.app.state.consent_settings)


def invite(site: Site, photo: np.ndarray, uses: list[Use] | None = None) -> Invitation:
    """A person with their own address, invited through the services; the token read where
    only the person can read it: in the message the loopback SMTP server received."""
    researcher = site.world.researcher()
    service = consent_service(site)
    address = f"subject-{secrets.token_hex(4)}@example.org"
    identity = service.create_identity(
        researcher.principal, "Alex Example", [png(photo)], subject_email=address
    )
    service.invite(
        researcher.principal, identity.id, uses or [Use.OFFLINE, Use.LIVE], excluded_content="ads"
    )
    return Invitation(researcher, identity.id, address, site.mailbox.invitation_token(address))


def status_of(site: Site, invitation: Invitation) -> str:
    view = consent_service(site).get_identity(
        invitation.researcher.principal, invitation.identity_id
    )
    return view.status


def fits_a_phone(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_the_invitation_says_who_asks_and_the_subject_refuses_reports_and_blocks(
    site: Site, launch: Launch, shots: Shots, people: People
) -> None:
    invitation = invite(site, people.astronaut)
    page = launch().new_page()
    errors = script_errors(page)

    # (1) Who asks, for which uses, what is never done, until when; security headers on.
    response = page.goto(f"{site.url}{invitation.path}")
    assert response is not None
    assert "default-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("body[data-ready=consent]")).to_be_attached()
    expect(page.get_by_role("heading", name="Read what you are asked to agree to")).to_be_visible()
    expect(page.locator("#fact-who")).to_contain_text("Ada Researcher, University of Somewhere")
    expect(page.locator("#fact-what li")).to_have_count(2)
    expect(page.locator("#fact-excluded")).to_have_text("ads")
    expect(page.locator("#fact-until")).to_contain_text("unless you withdraw it")
    expect(page.locator("#statement")).to_contain_text("Ada Researcher")
    expect(page.locator("#attempts")).to_have_text("This link allows 5 more recording attempts.")
    expect(page.get_by_role("button", name="Record my consent")).to_be_enabled()
    shots(page, "invitation")
    # An injected inline script does not run: the policy allows this origin's files only.
    ran = page.evaluate(
        """() => { const s = document.createElement("script");
                   s.textContent = "window.injected = true"; document.head.append(s);
                   return window.injected === true; }"""
    )
    assert ran is False
    page.set_viewport_size({"width": 375, "height": 800})
    assert fits_a_phone(page)
    shots(page, "invitation-375px")

    # (2) Refuse, report and block: nothing is recorded, the link is spent, the address blocked.
    page.get_by_text("I do not agree: refuse this request").click()
    page.get_by_label("Report this request as abuse").check()
    page.get_by_label("Block further invitations to my email address", exact=True).check()
    page.get_by_role("button", name="Refuse").click()
    expect(page.locator("body")).to_have_attribute("data-result", "declined")
    declined = page.get_by_role("region", name="You refused this request")
    expect(declined).to_be_focused()
    expect(declined).to_contain_text("Your report was sent to lpm-guard's reviewers")
    expect(declined).to_contain_text("No further invitation will reach your email address.")
    assert fits_a_phone(page)
    shots(page, "declined-375px")
    assert status_of(site, invitation) == IdentityStatus.AWAITING_CONSENT

    # (3) The link, opened again, says it was refused; the researcher cannot invite again.
    again = page.context.new_page()
    again.goto(f"{site.url}{invitation.path}")
    expect(again.locator("#link-problem-reason")).to_have_text(
        "You refused this request: this link no longer works."
    )
    expect(again.get_by_role("button", name="Record my consent")).to_be_hidden()
    with pytest.raises(AddressBlocked):
        consent_service(site).invite(
            invitation.researcher.principal, invitation.identity_id, [Use.OFFLINE]
        )
    assert errors == []


# -- the capture flow against a scripted server (every step of the page, quickly) ------------

SHORT_SCRIPT = {
    "steps": [
        {"prompt": "look", "start_s": 0.0, "end_s": 1.0, "text": ""},
        {"prompt": "turn-left", "start_s": 1.0, "end_s": 2.0, "text": ""},
        {"prompt": "digits", "start_s": 2.0, "end_s": 3.5, "text": "four one nine seven"},
        {"prompt": "statement", "start_s": 3.5, "end_s": 5.0, "text": SPOKEN_STATEMENT},
    ],
    "duration_s": 6.0,
}


def test_the_page_follows_the_script_uploads_once_and_explains_every_refusal(
    site: Site, launch: Launch, shots: Shots, people: People
) -> None:
    """The capture session and upload answered by the test (route interception), so that the
    page's timing, recorder, upload and every refusal code are checked in seconds; the real
    server's answers are in the tests around this one."""
    invitation = invite(site, people.astronaut)
    page = launch().new_page()
    errors = script_errors(page)
    uploads: list[dict[str, Any]] = []
    answers = [
        (422, {"type": "consent-refused", "title": "Consent was not accepted",
               "detail": "refused", "checks": CHECK_CODES}),
        (201, {"capture_id": "cap_2", "consent_id": "cns_1", "identity_id": invitation.identity_id,
               "status": "awaiting_review", "audit_index": 7}),
    ]  # fmt: skip

    def open_session(route: Route) -> None:
        assert route.request.method == "POST"
        assert route.request.headers["consent-token"] == invitation.token
        opened = {
            "capture_id": f"cap_{len(uploads) + 1}",
            "script": SHORT_SCRIPT,
            "opened_at": "2026-01-01T00:00:00+00:00",
            "deadline": "2026-01-01T00:03:00+00:00",
            "max_bytes": 64 * 1024 * 1024,
        }
        route.fulfill(status=201, content_type="application/json", body=json.dumps(opened))

    def upload(route: Route) -> None:
        request = route.request
        uploads.append(
            {
                "method": request.method,
                "url": request.url,
                "type": request.headers.get("content-type", ""),
                "token": request.headers.get("consent-token"),
                "size": len(request.post_data_buffer or b""),
                "head": (request.post_data_buffer or b"")[:4],
            }
        )
        status, body = answers.pop(0)
        kind = "application/problem+json" if status >= 400 else "application/json"
        route.fulfill(status=status, content_type=kind, body=json.dumps(body))

    page.route("**/v1/consent/invitation/captures", open_session)
    page.route("**/v1/consent/invitation/captures/*", upload)
    page.goto(f"{site.url}{invitation.path}")
    expect(page.locator("body[data-ready=consent]")).to_be_attached()

    # (1) By keyboard: Record starts the camera, the session and the recording together.
    page.get_by_role("button", name="Record my consent").focus()
    page.keyboard.press("Enter")
    expect(page.locator("body[data-recording=on]")).to_be_attached()
    # (2) Each prompt when the script's clock says, big, in a live region; a progress bar.
    prompt = page.locator("#prompt")
    expect(prompt).to_have_attribute("aria-live", "assertive")
    expect(prompt).to_have_attribute("data-prompt", "turn-left", timeout=3000)
    expect(prompt).to_contain_text("Turn your head to your left")
    expect(prompt).to_have_attribute("data-prompt", "digits", timeout=3000)
    expect(page.locator("#prompt-text")).to_have_text("four one nine seven")
    assert page.locator("#progress").evaluate("(bar) => bar.value") > 0.3
    preview = page.get_by_label("Your camera (mirrored, like a mirror)")
    expect(preview).to_be_visible()
    assert "matrix(-1" in preview.evaluate("(video) => getComputedStyle(video).transform")
    shots(page, "prompt-digits")
    expect(prompt).to_have_attribute("data-prompt", "statement", timeout=3000)
    expect(page.locator("#prompt-text")).to_have_text(SPOKEN_STATEMENT)
    shots(page, "prompt-statement")

    # (3) At the script's end: one upload of the whole video, bound to the session.
    expect(page.locator("body")).to_have_attribute("data-result", "refused", timeout=20_000)
    assert len(uploads) == 1
    sent = uploads[0]
    assert sent["method"] == "PUT" and sent["url"].endswith("/v1/consent/invitation/captures/cap_1")
    assert sent["type"] == "video/webm"
    assert sent["token"] == invitation.token
    assert sent["head"] == b"\x1a\x45\xdf\xa3"  # an EBML (WebM) header
    assert sent["size"] > 10_000

    # (4) Every code explained in plain words, with what to do; try again, attempts left.
    refused = page.get_by_role("region", name="Your recording was not accepted")
    expect(refused).to_be_focused()
    reasons = page.locator("#refused-reasons li")
    expect(reasons).to_have_count(len(CHECK_CODES))
    for code in CHECK_CODES:
        item = page.locator(f"#refused-reasons li[data-check='{code}']")
        expect(item).to_contain_text("What to do:")
        if "-" in code:
            assert code not in item.inner_text()  # words, not codes
    expect(page.locator("#refused-reasons li[data-check='head-turns']")).to_contain_text(
        "Your head turns did not follow the instructions."
    )
    expect(page.locator("#retry-left")).to_have_text("This link allows 5 more recording attempts.")
    shots(page, "refused-every-code")

    # (5) Try again: a new session; this time the recording waits for a reviewer.
    page.get_by_role("button", name="Try again").click()
    expect(page.locator("body")).to_have_attribute("data-result", "awaiting-review", timeout=20_000)
    assert len(uploads) == 2 and uploads[1]["url"].endswith("/cap_2")
    accepted = page.get_by_role(
        "region", name="Thank you — a reviewer will now watch your recording"
    )
    expect(accepted).to_be_focused()
    expect(accepted).to_contain_text("We have emailed you the link to withdraw your consent.")
    shots(page, "awaiting-review")
    assert errors == []


# -- the printed-photo attack, against the real checks -----------------------------------------


def test_a_photo_held_to_the_camera_is_refused(
    site: Site, launch: Launch, shots: Shots, people: People, tmp_path: Path
) -> None:
    """The enrolled person's photo held to the camera, with their statement read by a TTS
    voice: the head cannot turn, blink or move its lips. Once this was accepted."""
    invitation = invite(site, people.astronaut)
    camera = fake_camera(people.astronaut, tmp_path / "photo.y4m", seconds=4.0)
    microphone = fake_microphone(SPOKEN_STATEMENT, tmp_path / "statement.wav")
    page = launch(camera=camera, microphone=microphone).new_page()
    errors = script_errors(page)
    page.goto(f"{site.url}{invitation.path}")
    expect(page.locator("body[data-ready=consent]")).to_be_attached()
    page.get_by_role("button", name="Record my consent").click()
    expect(page.locator("body[data-recording=on]")).to_be_attached()
    expect(page.locator("#prompt")).to_have_attribute("data-prompt", "digits", timeout=30_000)
    shots(page, "prompt-digits")
    expect(page.locator("body")).to_have_attribute("data-result", "refused", timeout=CHECKING_MS)
    codes = page.locator("#refused-reasons li").evaluate_all(
        "(items) => items.map((item) => item.dataset.check)"
    )
    assert "head-turns" in codes, codes
    assert set(codes) <= set(CHECK_CODES), codes  # each explained by its own words
    expect(page.locator("#retry-left")).to_contain_text("more recording attempt")
    expect(page.get_by_role("button", name="Try again")).to_be_visible()
    assert status_of(site, invitation) == IdentityStatus.AWAITING_CONSENT
    shots(page, "refused-photo")
    assert errors == []


def test_a_link_that_is_not_ours_or_missing_is_explained(
    site: Site, launch: Launch, shots: Shots
) -> None:
    page = launch().new_page()
    errors = script_errors(page)
    page.goto(f"{site.url}/consent.html#{'x' * 43}")
    expect(page.locator("#link-problem-reason")).to_have_text("This link is not one we know.")
    shots(page, "unknown-link")
    page.goto(f"{site.url}/consent.html")
    expect(page.locator("#link-problem-reason")).to_have_text(
        "This page needs the link you were sent."
    )
    page.goto(f"{site.url}/consent.html#revoke={'y' * 43}")
    button = page.get_by_role("button", name="Withdraw my consent")
    expect(button).to_be_disabled()
    page.get_by_label("I want to withdraw my consent").check()
    button.click()
    expect(page.get_by_role("status")).to_contain_text("This withdrawal link is not one we know.")
    shots(page, "unknown-revocation-link")
    assert errors == []
