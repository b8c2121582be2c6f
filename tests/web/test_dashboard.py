"""The researcher's dashboard in Chromium against the real server: identities and invitations,
an offline generation watched to the end and played, live sessions, API clients, and the
refusal a researcher meets when a subject has withdrawn consent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from lpm_guard.access.scopes import Role
from lpm_guard.consent.services import ConsentService
from tests.consent.conftest import People, png
from tests.gate.test_gate import consent, open_session
from tests.web.conftest import Launch, Site, fake_microphone, script_errors
from tests.web.test_pages import sign_in

Shots = Callable[[Page, str], Path]


@pytest.mark.slow  # started with the slow tests (tests/conftest.py), not last
def test_a_researcher_runs_their_work_from_the_dashboard(
    site: Site, launch: Launch, shots: Shots, people: People, tmp_path: Path
) -> None:
    world = site.world
    researcher = world.researcher()
    token = world.web_tokens(researcher)["access_token"]
    identity = consent(world, researcher, people.t1[5], tmp_path)
    context = launch()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
    page = context.new_page()
    errors = script_errors(page)
    sign_in(page, site, researcher.email, researcher.password, "/dashboard.html")
    expect(page.locator("body")).to_have_attribute("data-ready", "dashboard")

    # (1): the consented identities, in words; standing and quota.
    rows = page.locator("#identity-rows tr")
    expect(rows).to_have_count(1)
    expect(page.locator(f"tr[data-identity='{identity}']")).to_contain_text("Consented")
    expect(page.locator("#standing-text")).to_have_text("Active")
    expect(page.locator("#quota-text")).to_contain_text("10 min 0 s left")
    shots(page, "signed-in")

    # (2): a new person from a photo and their address, then an invitation: emailed to them,
    # and neither the link nor the token reaches this page.
    photo = tmp_path / "person.png"
    photo.write_bytes(png(people.t1[5]))
    address = f"sam-{tmp_path.name[-8:]}@example.org".lower()
    new_identity = page.locator("#new-identity")
    new_identity.get_by_label("Name").fill("Sam Subject")
    new_identity.get_by_label("Their email address").fill(address)
    new_identity.get_by_label("Reference photos").set_input_files(photo)
    new_identity.get_by_role("button", name="Add person").click()
    expect(page.locator("#identity-message")).to_contain_text("Added Sam Subject")
    expect(rows).to_have_count(2)
    sam = page.locator("#identity-rows tr", has_text="Sam Subject")
    expect(sam).to_contain_text("Waiting for the person's consent")
    expect(sam).to_contain_text("s***@example.org")
    invitation = page.locator("#new-invitation")
    expect(invitation.get_by_label("Person")).to_have_value(
        sam.get_attribute("data-identity") or ""
    )
    invitation.get_by_label("Live sessions").check()
    invitation.get_by_role("button", name="Email the invitation").click()
    expect(page.locator("#invite-message")).to_contain_text(
        "Invitation emailed to s***@example.org."
    )
    subject_token = site.mailbox.invitation_token(address)
    assert subject_token not in page.content() and "consent.html#" not in page.content()
    shots(page, "invitation")

    # (3): an offline generation from the page: progress to the end, then the player.
    audio = fake_microphone(
        "Hello. Thank you for coming today. The weather is lovely.", tmp_path / "agent.wav"
    )
    generation = page.locator("#new-generation")
    generation.get_by_label("Identity").select_option(identity)
    generation.get_by_label("The agent's voice").set_input_files(audio)
    generation.get_by_label("Instructions").fill("smile warmly")
    generation.get_by_role("button", name="Start generation").click()
    expect(page.locator("#generate-message")).to_contain_text("Accepted", timeout=60_000)
    job = page.locator("#job-rows tr").first
    expect(job).to_have_attribute("data-status", "running", timeout=60_000)
    page.wait_for_function(
        "() => Number(document.querySelector('#job-rows tr progress').value) > 0", timeout=60_000
    )
    shots(page, "generation-running")
    expect(job).to_have_attribute("data-status", "succeeded", timeout=120_000)
    expect(job.locator("progress")).to_have_attribute("value", "1")
    video = page.locator("#result-video")
    expect(video).to_be_visible()
    page.wait_for_function(
        "() => document.querySelector('#result-video').readyState >= 2", timeout=30_000
    )
    duration = page.evaluate("document.querySelector('#result-video').duration")
    assert 2.0 < duration < 10.0, duration
    page.evaluate("document.querySelector('#result-video').play()")
    page.wait_for_function("() => document.querySelector('#result-video').currentTime > 0.3")
    expect(page.get_by_role("link", name="Download the MP4")).to_have_attribute(
        "download", f"{job.get_attribute('data-job')}.mp4"
    )
    expect(page.locator("#player-audit")).to_contain_text("audit entry #")
    expect(page.locator("#quota-text")).not_to_contain_text("10 min 0 s left")
    expect(page.get_by_role("button", name="Show older generations")).to_be_hidden()
    shots(page, "generation-done")

    # (4): a live session (opened through the API) in the list, open, then ended.
    status, opened = open_session(world, token, identity_id=identity)
    assert status == 201, opened
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "dashboard")
    session = page.locator(f"tr[data-session='{opened['session_id']}']")
    expect(session).to_contain_text("Open")
    expect(page.get_by_role("link", name="Start a live session")).to_have_attribute(
        "href", "/live.html"
    )
    shots(page, "live-open")
    session.get_by_role("button", name="End the session").click()
    expect(session).to_have_attribute("data-status", "ended")
    expect(session).to_contain_text("Revoked")

    # (5): an API client: created (its secret shown once), then revoked.
    clients = page.locator("#clients")
    clients.get_by_label("Client name").fill("lab laptop")
    clients.get_by_role("button", name="Create API client").click()
    expect(page.locator("#new-client-secret")).not_to_be_empty()
    expect(page.get_by_text("Copy the secret now")).to_be_visible()
    shots(page, "client-created")
    clients.get_by_role("button", name="Revoke lab laptop").click()
    expect(page.locator("#client-message")).to_contain_text("Revoked lab laptop")
    expect(page.locator("#client-rows")).to_contain_text("Revoked")
    expect(page.locator("#client-secret")).to_be_hidden()

    # (6): the person's consent is revoked after the page loaded: the next generation is
    # refused, with the reason in plain words.
    assert world.runtime is not None
    ConsentService(world.runtime).revoke_by_reviewer("reviewer:test", identity, "they asked")
    generation.get_by_label("Identity").select_option(identity)
    generation.get_by_label("The agent's voice").set_input_files(audio)
    generation.get_by_role("button", name="Start generation").click()
    refusal = page.locator("#generate-message")
    expect(refusal).to_contain_text("Refused:", timeout=60_000)
    expect(refusal).to_contain_text("revoked")
    expect(refusal).to_contain_text("entry #")
    shots(page, "generation-refused")

    # (7): on a phone: one column, nothing wider than the screen.
    page.set_viewport_size({"width": 375, "height": 812})
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "dashboard")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shots(page, "phone")
    assert errors == []


def test_the_dashboard_is_for_researchers(site: Site, launch: Launch, shots: Shots) -> None:
    reviewer = site.world.staff(Role.REVIEWER)
    page = launch().new_page()
    errors = script_errors(page)
    page.goto(f"{site.url}/dashboard.html")
    expect(page.locator("body")).to_have_attribute("data-ready", "gate")
    expect(page.get_by_role("alert").first).to_contain_text("Sign in")
    shots(page, "signed-out")
    page.get_by_role("button", name="Sign in").first.click()
    page.get_by_label("Email").fill(reviewer.email)
    page.get_by_label("Password").fill(reviewer.password)
    page.get_by_role("button", name="Sign in").click()
    # Staff sign in first with a one-time password, and choose their own.
    page.get_by_label("One-time password").fill(reviewer.password)
    page.get_by_label("New password").fill("a reviewer's own passphrase")
    page.get_by_role("button", name="Set password and sign in").click()
    page.wait_for_url("**/dashboard.html")
    expect(page.locator("body")).to_have_attribute("data-ready", "gate")
    expect(page.locator("#gate")).to_contain_text("for researcher accounts")
    expect(page.get_by_role("link", name="Go to the review console")).to_have_attribute(
        "href", "/review.html"
    )
    shots(page, "reviewer")
    assert errors == []
