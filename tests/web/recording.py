"""A person's live consent in Chromium, as test_journey.py drives it: the invitation link read
from the person's mailbox, the recording made on their own device (the fake camera and
microphone play a bona fide capture rendered for that session's script), the reviewer's
approval in the console, and the withdrawal link.

The session's script is made deterministic (``app.state.consent_scripts``) so that the capture
can be rendered for it beforehand; the page opens the camera and microphone, then the session,
then starts recording at once, so the fake camera's file and the script's clock start within a
request of each other."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from playwright.sync_api import Page, expect

from lpm_guard.access.scopes import Role
from lpm_guard.consent.captures import CaptureService
from lpm_guard.consent.liveness.script import TURNS, Prompt, Script, new_script
from lpm_guard.consent.models import CaptureStatus
from lpm_guard.consent.services import ConsentService
from tests.consent.captures import bona_fide
from tests.mailbox import text
from tests.web.conftest import Launch, Site, script_errors
from tests.web.test_pages import sign_in

Shots = Callable[[Page, str], Path]
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


def review_console(site: Site, launch: Launch) -> tuple[Page, list[str]]:
    """A new reviewer signed in to the console in their own browser, and its script errors."""
    account = site.world.staff(Role.REVIEWER)
    site.world.web_tokens(account)  # the first sign-in replaces the one-time password
    console = launch().new_page()
    errors = script_errors(console)
    sign_in(console, site, account.email, account.password, "/review.html")
    expect(console.locator("body")).to_have_attribute("data-ready", "review")
    return console, errors


def approve_in_console(
    site: Site, launch: Launch, shots: Shots, display_name: str, prefix: str
) -> list[str]:
    """A reviewer watches the capture in the console and approves it with a reason."""
    reviewer, errors = review_console(site, launch)
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
