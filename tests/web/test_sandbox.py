"""A sandbox account (``lpm-guard demo``) is said on every page it signs in to; an ordinary
account sees no such banner."""

from __future__ import annotations

from playwright.sync_api import expect

from lpm_guard.access.scopes import Role
from tests.access.world import Account
from tests.web.conftest import Launch, Site, script_errors
from tests.web.test_pages import sign_in


def test_every_page_says_sandbox_while_a_sandbox_account_is_signed_in(
    site: Site, launch: Launch
) -> None:
    world = site.world
    new = world.services.accounts.create_sandbox(Role.REVIEWER, "Sandbox Operator", "test")
    account = Account(new.account_id, new.email, new.password)
    world.web_tokens(account)  # the first sign-in replaces the one-time password
    page = launch().new_page()
    errors = script_errors(page)
    sign_in(page, site, account.email, account.password, "/review.html")
    for path in ("/review.html", "/verify.html", "/account.html", "/"):
        page.goto(f"{site.url}{path}")
        expect(page.locator("#sandbox-banner")).to_contain_text("Sandbox account")
    staff = world.staff(Role.REVIEWER)
    world.web_tokens(staff)
    other = launch().new_page()
    sign_in(other, site, staff.email, staff.password, "/review.html")
    expect(other.locator("body")).to_have_attribute("data-ready", "review")
    expect(other.locator("#sandbox-banner")).to_have_count(0)
    assert errors == []
