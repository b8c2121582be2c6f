"""The subject's consent page in Chromium with a fake camera and microphone, against a real
server: consent accepted (stills, a WAV recorded in the page, the revocation link), withdrawn
through that link, and the refusals a subject would meet, each explained in plain words.

The fake camera plays a Y4M of a photo; the fake microphone a flite WAV, once, from the moment
the page opens the microphone (when Record is pressed)."""

from __future__ import annotations

import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from playwright.sync_api import Page, expect

from lpm_guard.consent.models import IdentityStatus, Use
from lpm_guard.consent.services import ConsentService
from tests.access.world import Account
from tests.consent.conftest import People, png
from tests.web.conftest import Launch, Site, fake_camera, fake_microphone, script_errors

Shots = Callable[[Page, str], Path]
PHRASE = "purple river seven"  # one flite's voice and pocketsphinx agree on
CHECKING_MS = 90_000  # the server checks faces and speech: seconds, more on a busy machine
pytestmark = pytest.mark.slow


@dataclass
class Invitation:
    researcher: Account
    identity_id: str
    token: str
    statement: str
    phrase: str

    @property
    def path(self) -> str:
        return f"/consent.html#{self.token}"


def invite(site: Site, photo: np.ndarray, uses: list[Use] | None = None) -> Invitation:
    """An identity and its invitation made through the services; the statement and phrase read
    back through the invitation route, as the link's holder reads them."""
    researcher = site.world.researcher()
    service = ConsentService(site.runtime, phrases=lambda: PHRASE)
    identity = service.create_identity(researcher.principal, "Alex Example", [png(photo)])
    link = service.invite(
        researcher.principal, identity.id, uses or [Use.OFFLINE, Use.LIVE], excluded_content="ads"
    )
    shown = httpx.get(
        f"{site.url}/v1/consent/invitation", headers={"Consent-Token": link.token}
    ).json()
    return Invitation(
        researcher, identity.id, link.token, shown["statement"], shown["challenge_phrase"]
    )


def status_of(site: Site, invitation: Invitation) -> str:
    service = ConsentService(site.runtime)
    return service.get_identity(invitation.researcher.principal, invitation.identity_id).status


def seconds(path: Path) -> float:
    with wave.open(str(path)) as audio:
        return audio.getnframes() / audio.getframerate()


def open_page(launch: Launch, camera: Path, microphone: Path) -> tuple[Page, list[str]]:
    context = launch(camera=camera, microphone=microphone)
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    errors = script_errors(page)
    return page, errors


def take_stills(page: Page, count: int) -> None:
    page.get_by_role("button", name="Start the camera").click()
    take = page.get_by_role("button", name="Take a still")
    expect(take).to_be_enabled()
    for number in range(1, count + 1):
        take.click()
        expect(page.get_by_role("img", name=f"Still {number}")).to_be_visible()


RECORDED_AT_LEAST = """(wanted) => {
    const [m, s] = document.getElementById("elapsed").textContent.split(":").map(Number);
    return m * 60 + s >= wanted;
}"""


def record(page: Page, length: float, shoot: Callable[[], object] | None = None) -> None:
    """Record until the page has captured ``length`` seconds (the microphone's WAV and a
    margin), then stop; the page's own timer says how much it has. ``shoot`` is called while
    recording, once the level meter moves."""
    page.get_by_role("button", name="Record", exact=True).click()
    expect(page.locator("body[data-recording=on]")).to_be_attached()
    if shoot is not None:
        page.wait_for_function("() => document.getElementById('level').value > 0.05")
        shoot()
    page.wait_for_function(RECORDED_AT_LEAST, arg=int(length) + 1, timeout=(length + 30) * 1000)
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#playback")).to_be_visible()


def fits_a_phone(page: Page) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_a_subject_consents_keeps_the_link_and_withdraws(
    site: Site, launch: Launch, shots: Shots, people: People, tmp_path: Path
) -> None:
    invitation = invite(site, people.astronaut)
    camera = fake_camera(people.astronaut, tmp_path / "subject.y4m")
    speech = f"{invitation.statement} My challenge phrase is {invitation.phrase}."
    microphone = fake_microphone(speech, tmp_path / "subject.wav")
    page, errors = open_page(launch, camera, microphone)

    # (1) The statement in plain words, the challenge phrase prominent; security headers on.
    response = page.goto(f"{site.url}{invitation.path}")
    assert response is not None
    assert "default-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("body[data-ready=consent]")).to_be_attached()
    expect(page.get_by_role("heading", name="Read what you are agreeing to")).to_be_visible()
    expect(page.locator("#phrase")).to_have_text(PHRASE)
    expect(page.locator("#statement")).to_have_text(invitation.statement)
    expect(page.locator("#fact-excluded")).to_have_text("ads")
    # The researcher by name and institution (tests/access/world.py), not by account id.
    assert "the researcher Ada Researcher, University of Somewhere may" in invitation.statement
    expect(page.locator("#fact-who")).to_contain_text("Ada Researcher, University of Somewhere")
    expect(page.locator("#fact-what li")).to_have_count(2)
    shots(page, "invitation")
    # An injected inline script does not run: the policy allows this origin's files only.
    ran = page.evaluate(
        """() => { const s = document.createElement("script");
                   s.textContent = "window.injected = true"; document.head.append(s);
                   return window.injected === true; }"""
    )
    assert ran is False

    # (2) Stills: thumbnails, remove one, retake; Send waits for stills and a recording.
    send = page.get_by_role("button", name="Send my consent")
    expect(send).to_be_disabled()
    take_stills(page, 3)
    expect(page.get_by_role("button", name="Take a still")).to_be_disabled()  # three at most
    page.get_by_role("button", name="Remove still 3").click()
    expect(page.get_by_role("listitem").filter(has=page.get_by_role("img"))).to_have_count(2)
    page.get_by_role("button", name="Retake still 2").click()
    expect(page.locator("#stills-count")).to_have_text("2 of 3 stills taken.")
    expect(send).to_be_disabled()
    expect(page.locator("#send-hint")).to_have_text("Before sending: make a recording.")
    shots(page, "stills")

    # (3) Recording: a running time and a level meter, Stop, play it back.
    record(page, seconds(microphone), shoot=lambda: shots(page, "recording"))
    playback = page.get_by_label("Your recording")
    length = page.wait_for_function(
        "() => { const d = document.getElementById('playback').duration; "
        "return Number.isFinite(d) && d > 0 ? d : null; }"
    ).json_value()
    assert length >= seconds(microphone)
    expect(playback).to_be_visible()
    expect(page.get_by_role("timer")).not_to_have_text("0:00")
    expect(send).to_be_enabled()
    shots(page, "recorded")

    # (4) Send: accepted, what happens now, the revocation link with a Copy button.
    send.click()
    expect(page.locator("body[data-result]")).to_have_attribute(
        "data-result", "accepted", timeout=CHECKING_MS
    )
    expect(page.get_by_role("region", name="Thank you — your consent is recorded")).to_be_focused()
    link = page.get_by_label("Your withdrawal link").input_value()
    assert link.startswith(f"{site.url}/consent.html#revoke=")
    page.get_by_role("button", name="Copy link").click()
    expect(page.locator("#copy-result")).to_have_text("Copied. Paste it somewhere safe now.")
    assert page.evaluate("navigator.clipboard.readText()") == link
    assert status_of(site, invitation) == IdentityStatus.CONSENTED
    shots(page, "accepted")
    page.set_viewport_size({"width": 375, "height": 800})
    assert fits_a_phone(page)
    shots(page, "accepted-375px")

    # (5) The used invitation link, opened again, says so.
    again = page.context.new_page()
    again.goto(f"{site.url}{invitation.path}")
    expect(again.locator("#link-problem-reason")).to_have_text(
        "This invitation link was already used: your consent was sent with it before."
    )
    expect(again.get_by_role("heading", name="Read what you are agreeing to")).to_be_hidden()
    shots(again, "used-link")

    # (6) The revocation link: confirm, withdraw, the result; the identity is revoked.
    revoke = page.context.new_page()
    revoke.set_viewport_size({"width": 375, "height": 800})
    revoke.goto(link)
    expect(revoke.locator("body[data-ready=consent]")).to_be_attached()
    button = revoke.get_by_role("button", name="Withdraw my consent")
    expect(button).to_be_disabled()
    revoke.get_by_label("I want to withdraw my consent").check()
    assert fits_a_phone(revoke)
    shots(revoke, "revocation-375px")
    button.click()
    expect(revoke.get_by_role("heading", name="Your consent is withdrawn")).to_be_visible()
    assert status_of(site, invitation) == IdentityStatus.REVOKED
    shots(revoke, "revoked-375px")
    # A second withdrawal through the same link explains there is nothing left to do.
    revoke.reload()
    revoke.get_by_label("I want to withdraw my consent").check()
    revoke.get_by_role("button", name="Withdraw my consent").click()
    expect(revoke.get_by_role("status")).to_have_text(
        "Your consent was already withdrawn: nothing more to do."
    )
    assert errors == []


def test_another_face_is_refused_with_the_reason_and_what_to_try(
    site: Site, launch: Launch, shots: Shots, people: People, tmp_path: Path
) -> None:
    invitation = invite(site, people.astronaut)
    camera = fake_camera(people.t1[0], tmp_path / "someone-else.y4m")
    microphone = fake_microphone(f"My challenge phrase is {PHRASE}.", tmp_path / "phrase.wav")
    page, errors = open_page(launch, camera, microphone)
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{site.url}{invitation.path}")
    expect(page.locator("#phrase")).to_have_text(PHRASE)
    assert fits_a_phone(page)
    shots(page, "invitation-375px")
    take_stills(page, 1)
    record(page, seconds(microphone))
    shots(page, "recorded-375px")
    page.get_by_role("button", name="Send my consent").click()
    expect(page.locator("body[data-result]")).to_have_attribute(
        "data-result", "refused", timeout=CHECKING_MS
    )
    reasons = page.locator("#refused-reasons li")
    expect(reasons).to_have_count(1)
    expect(reasons).to_contain_text(
        "The face in your stills did not match the photos the researcher has of you."
    )
    expect(reasons).to_contain_text("remove those stills and take new ones")
    # The page stays usable: the subject can remove the still and try again.
    expect(page.get_by_role("button", name="Remove still 1")).to_be_enabled()
    assert status_of(site, invitation) == IdentityStatus.AWAITING_CONSENT
    assert fits_a_phone(page)
    shots(page, "refused-face-375px")
    assert errors == []


def test_a_wrong_phrase_is_refused_with_the_reason(
    site: Site, launch: Launch, shots: Shots, people: People, tmp_path: Path
) -> None:
    invitation = invite(site, people.astronaut, [Use.OFFLINE])
    camera = fake_camera(people.astronaut, tmp_path / "subject.y4m")
    microphone = fake_microphone("My challenge phrase is green garden three.", tmp_path / "w.wav")
    page, errors = open_page(launch, camera, microphone)
    page.goto(f"{site.url}{invitation.path}")
    # By keyboard alone: the camera, a still, the recording, sending.
    page.get_by_role("button", name="Start the camera").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Take a still")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("img", name="Still 1")).to_be_visible()
    page.get_by_role("button", name="Record", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Stop")).to_be_focused()
    page.wait_for_function(RECORDED_AT_LEAST, arg=int(seconds(microphone)) + 1)
    page.keyboard.press("Enter")
    expect(page.get_by_label("Your recording")).to_be_visible()
    page.get_by_role("button", name="Send my consent").focus()
    page.keyboard.press("Enter")
    expect(page.locator("body[data-result]")).to_have_attribute(
        "data-result", "refused", timeout=CHECKING_MS
    )
    reasons = page.locator("#refused-reasons li")
    expect(reasons).to_have_count(1)
    expect(reasons).to_contain_text(f"Your challenge phrase “{PHRASE}” was not heard")
    expect(reasons).to_contain_text("Record again in a quiet place")
    expect(page.get_by_role("region", name="Your consent was not accepted")).to_be_focused()
    assert status_of(site, invitation) == IdentityStatus.AWAITING_CONSENT
    shots(page, "refused-phrase")
    assert errors == []


def test_a_link_that_is_not_ours_or_missing_is_explained(
    site: Site, launch: Launch, shots: Shots
) -> None:
    page = launch().new_page()
    page.goto(f"{site.url}/consent.html#{'x' * 43}")
    expect(page.locator("#link-problem-reason")).to_have_text("This link is not one we know.")
    shots(page, "unknown-link")
    page.goto(f"{site.url}/consent.html")
    expect(page.locator("#link-problem-reason")).to_have_text(
        "This page needs the link you were sent."
    )
    page.goto(f"{site.url}/consent.html#revoke={'y' * 43}")
    page.get_by_label("I want to withdraw my consent").check()
    page.get_by_role("button", name="Withdraw my consent").click()
    expect(page.get_by_role("status")).to_contain_text("This withdrawal link is not one we know.")
    shots(page, "unknown-revocation-link")
