"""Every page loads in Chromium without a script error, and the shared header shows the links
the signed-in user may use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlmodel import Session, select

from lpm_guard.access.models import TokenRow
from tests.web.conftest import Launch, Site, script_errors


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
    errors = script_errors(page)
    signed = site.runtime.audit.checkpoint(force=True)
    page.goto(site.url)
    expect(page.locator("body")).to_have_attribute("data-ready", "home")
    expect(page.locator("#tree-size")).to_have_text(f"{signed.tree_size:,}")
    # Signed out, the header offers what anyone may use, and sign-in.
    header = page.get_by_role("navigation", name="Site")
    expect(header.get_by_role("link")).to_have_text(["Verify a clip"])
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    shots(page, "home")
    page.set_viewport_size({"width": 375, "height": 800})
    shots(page, "home-phone")
    assert errors == []


def test_a_signed_in_researcher_returns_to_the_page_they_started_from(
    site: Site, launch: Launch, shots: Callable[[Page, str], Path]
) -> None:
    researcher = site.world.researcher()
    page = launch().new_page()
    authorize: list[str] = []
    page.on("request", lambda r: authorize.append(r.url) if "/oauth/authorize?" in r.url else None)
    sign_in(page, site, researcher.email, researcher.password, "/account.html")
    # The page sent us to the authorization endpoint with an S256 challenge.
    assert authorize and all("code_challenge_method=S256" in url for url in authorize)
    expect(page.locator("#me-role")).to_have_text("researcher")
    expect(page.locator("#me-scopes")).to_contain_text("identities:write")
    shots(page, "account")
    # Signed in, the header carries the researcher's pages, and not the reviewer's.
    page.goto(site.url)
    header = page.get_by_role("navigation", name="Site")
    expect(header.get_by_role("link")).to_have_text(
        ["Dashboard", "Live session", "Verify a clip", "Account"]
    )
    # Signing out revokes the refresh token (and its access token) at the server.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    with Session(site.world.services.oauth2.engine) as session:
        rows = session.exec(
            select(TokenRow).where(
                TokenRow.account_id == researcher.account_id,
                TokenRow.grant_type == "authorization_code",
            )
        ).all()
    assert rows and all(row.refresh_revoked and row.access_revoked for row in rows)
