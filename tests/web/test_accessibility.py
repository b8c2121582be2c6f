"""Every page, signed out and signed in as the people who use it, checked by axe-core (the
engine browsers' accessibility audits use) in Chromium: no serious or critical violations of
WCAG 2.1 A and AA (labels, names, contrast, landmarks, ARIA)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from lpm_guard.access.scopes import Role
from lpm_guard.consent.models import Use
from tests.consent.conftest import People
from tests.gate.test_gate import character
from tests.web.conftest import Launch, Site
from tests.web.test_consent import invite
from tests.web.test_pages import sign_in

axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")
pytestmark = pytest.mark.slow

WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def serious_violations(page: Page) -> list[str]:
    results: Any = axe_playwright.Axe().run(page, options=WCAG_AA)
    assert results.response["passes"], "axe checked nothing"
    return [
        f"{page.url}: {violation['id']} ({violation['impact']}): "
        + "; ".join(str(node["target"]) for node in violation["nodes"][:4])
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def audit(page: Page, path: str, ready: str, found: list[str], width: int = 1280) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(path)
    expect(page.locator("body")).to_have_attribute("data-ready", ready)
    found.extend(serious_violations(page))


def test_the_public_pages_pass_axe(site: Site, launch: Launch, people: People) -> None:
    invitation = invite(site, people.t1[5], [Use.OFFLINE])
    page = launch().new_page()
    found: list[str] = []
    for width in (1280, 375):
        audit(page, f"{site.url}/", "home", found, width)
        audit(page, f"{site.url}/signup.html", "signup", found, width)
        audit(page, f"{site.url}/verify.html", "verify", found, width)
        audit(page, f"{site.url}/consent.html#{invitation.token}", "consent", found, width)
    assert found == []


def test_the_signed_in_pages_pass_axe(
    site: Site, launch: Launch, people: People, tmp_path: Path
) -> None:
    world = site.world
    researcher = world.researcher()
    character(world, researcher, people.t1[4], tmp_path)
    page = launch().new_page()
    found: list[str] = []
    sign_in(page, site, researcher.email, researcher.password, "/dashboard.html")
    for width in (1280, 375):
        audit(page, f"{site.url}/dashboard.html", "dashboard", found, width)
        audit(page, f"{site.url}/live.html", "live", found, width)
        audit(page, f"{site.url}/account.html", "account", found, width)

    reviewer = world.staff(Role.REVIEWER)
    world.web_tokens(reviewer)  # the first sign-in replaces the one-time password
    page = launch().new_page()
    sign_in(page, site, reviewer.email, reviewer.password, "/review.html")
    for width in (1280, 375):
        audit(page, f"{site.url}/review.html", "review", found, width)
    assert found == []
