"""The reviewer console's held generations (web/review.html, ``#held``) in Chromium: the queue
with its evidence, the speech, a denial written to the audit log; the researcher's dashboard
says "Awaiting review" with the reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from lpm_guard.access.scopes import Role
from tests.consent.conftest import People
from tests.gate.test_gate import character
from tests.jobs.test_generations import speech, submit
from tests.jobs.test_reviews import ACCUSATION
from tests.web.conftest import Launch, Site, script_errors
from tests.web.test_pages import sign_in


def test_a_reviewer_reads_and_denies_a_held_generation(
    site: Site,
    launch: Launch,
    shots: Callable[[Page, str], Path],
    people: People,
    tmp_path: Path,
) -> None:
    world = site.world
    researcher = world.researcher(quota_s=60.0)
    token = world.web_tokens(researcher)["access_token"]
    identity = character(world, researcher, people.t1[4], tmp_path)
    audio = speech("Hello there.", tmp_path / "hello.wav")
    held = submit(world, token, identity, audio, instructions=ACCUSATION)
    assert held.status_code == 202 and held.json()["status"] == "awaiting_review", held.text
    job_id = held.json()["id"]
    reviewer = world.staff(Role.REVIEWER)
    world.web_tokens(reviewer)  # the first sign-in replaces the one-time password
    page = launch().new_page()
    errors = script_errors(page)
    sign_in(page, site, reviewer.email, reviewer.password, "/review.html")
    expect(page.locator("body")).to_have_attribute("data-ready", "review")
    row = page.locator("#held-rows tr[data-review]").filter(has_text=job_id)
    expect(row).to_contain_text("defamation")
    expect(row).to_contain_text("instructions: rules")
    row.get_by_role("button", name="Read and decide").click()
    detail = page.locator("#held-detail")
    expect(detail).to_be_visible()
    expect(page.locator("#held-instructions")).to_have_text(ACCUSATION)
    expect(page.locator("#held-transcripts")).to_contain_text("speech")
    check = page.locator('#held-check-rows tr[data-input="instructions"]')
    expect(check).to_have_attribute("data-action", "review")
    expect(check).to_contain_text("defamation.accusation")
    page.get_by_role("button", name="Listen to the speech").click()
    expect(page.locator("#held-audio-status")).to_have_text(
        "Listening is written to the audit log."
    )
    shots(page, "held-generation")
    # A decision needs a reason; then the denial refunds the researcher.
    page.get_by_role("button", name="Deny this generation").click()
    expect(page.locator("#held-decision-status")).to_contain_text("Write a reason first")
    page.get_by_label("Why you approve or deny this generation").fill("an unsupported accusation")
    page.get_by_role("button", name="Deny this generation").click()
    expect(page.locator("#held-decision-status")).to_contain_text(f"Denied: job {job_id}")
    expect(page.locator("#held-rows")).not_to_contain_text(job_id)
    shots(page, "held-generation-denied")
    log = site.runtime.audit
    entries = [json.loads(log.entry(i).body) for i in range(log.size())]
    denial = next(e for e in reversed(entries) if e["action"] == "generation:review:deny")
    assert denial["objects"]["job"] == job_id and denial["reasons"] == ["an unsupported accusation"]
    assert denial["actor"] == reviewer.account_id
    assert world.services.quotas.check(researcher.account_id).used_s == 0
    assert errors == []


def test_the_dashboard_says_awaiting_review_with_the_reason(
    site: Site, launch: Launch, shots: Callable[[Page, str], Path], people: People, tmp_path: Path
) -> None:
    world = site.world
    researcher = world.researcher(quota_s=60.0)
    token = world.web_tokens(researcher)["access_token"]
    identity = character(world, researcher, people.t1[4], tmp_path)
    held = submit(
        world, token, identity, speech("Hello there.", tmp_path / "h.wav"), instructions=ACCUSATION
    )
    assert held.status_code == 202, held.text
    page = launch().new_page()
    errors = script_errors(page)
    sign_in(page, site, researcher.email, researcher.password, "/dashboard.html")
    row = page.locator(f'#job-rows tr[data-job="{held.json()["id"]}"]')
    expect(row).to_have_attribute("data-status", "awaiting_review")
    expect(row).to_contain_text("Awaiting review")
    expect(row).to_contain_text("defamation")
    shots(page, "dashboard-awaiting-review")
    assert errors == []
