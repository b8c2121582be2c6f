"""Every page loads in Chromium without a script error, and the shared header shows the links
the signed-in user may use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.web.conftest import Launch, Site


def sign_in(page: Page, site: Site, email: str, password: str, start: str) -> None:
    """Sign in through the page's own authorization code + PKCE flow, starting at ``start``."""
    page.goto(f"{site.url}{start}")
    page.get_by_role("button", name="Sign in").first.click()
    page.wait_for_url("**/oauth/authorize?**")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{start}")


def test_the_home_page_shows_the_checkpoint(
    site: Site, launch: Launch, shots: Callable[[Page, str], Path]
) -> None:
    page = launch().new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(site.url)
    expect(page.locator("#tree-size")).not_to_have_text("…")
    shots(page, "home")
    assert errors == []


def test_a_signed_in_researcher_returns_to_the_page_they_started_from(
    site: Site, launch: Launch, shots: Callable[[Page, str], Path]
) -> None:
    researcher = site.world.researcher()
    page = launch().new_page()
    sign_in(page, site, researcher.email, researcher.password, "/account.html")
    expect(page.locator("#me-role")).to_have_text("researcher")
    shots(page, "account")
