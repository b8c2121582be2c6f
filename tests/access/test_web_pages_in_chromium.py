"""The access pages in a real Chromium against the live server: sign up, sign in with the
authorization code flow and PKCE (the page's own JavaScript), create an API client, sign out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from lpm_guard.access.models import TokenRow
from tests.access.browser import CHROMIUM, Browser, Page
from tests.access.world import World, application_form, unique_email

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed"),
]


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    browser = Browser(tmp_path / "profile")
    try:
        yield browser.page()
    finally:
        browser.close()


def _fill(page: Page, selector: str, value: str) -> None:
    page.eval(f"document.querySelector({json.dumps(selector)}).value = {json.dumps(value)}")


def test_sign_up_in_the_browser(world: World, page: Page) -> None:
    page.goto(f"{world.issuer}/signup.html")
    page.wait_for("document.body.dataset.ready === 'signup'")
    form = application_form(email=unique_email("browser"))
    for name in ("name", "email", "password", "institution", "position", "ethics_reference"):
        _fill(page, f"[name={name}]", str(getattr(form, name)))
    _fill(page, "[name=research_purpose]", form.research_purpose)
    page.eval("document.querySelector('[name=accepted_terms_version]').checked = true")
    page.eval("document.getElementById('signup').requestSubmit()")
    page.wait_for("document.getElementById('signup-result').textContent.includes('Thank you')")
    mine = [v for v in world.services.applications.list(None) if v.email == form.email]
    assert len(mine) == 1 and [use.value for use in mine[0].intended_uses] == ["offline"]


def test_sign_in_create_a_client_and_sign_out_in_the_browser(world: World, page: Page) -> None:
    researcher = world.researcher()
    page.goto(f"{world.issuer}/account.html")
    page.wait_for("!document.getElementById('signed-out').hidden")
    page.eval("document.getElementById('sign-in').click()")
    # The page sent us to the authorization endpoint with an S256 challenge.
    page.wait_for("location.pathname === '/oauth/authorize' && !!document.querySelector('form')")
    assert page.eval("new URLSearchParams(location.search).get('code_challenge_method')") == "S256"
    _fill(page, "[name=email]", researcher.email)
    _fill(page, "[name=password]", researcher.password)
    page.eval("document.querySelector('form').submit()")
    # The callback exchanged the code; the account page shows who we are.
    page.wait_for(
        "location.pathname === '/account.html' && document.body.dataset.ready === 'account'"
    )
    assert page.eval("document.getElementById('me-role').textContent") == "researcher"
    assert "identities:write" in page.eval("document.getElementById('me-scopes').textContent")
    # API clients are on the dashboard; the account page links there.
    assert page.eval("!document.getElementById('clients-link').hidden")
    page.eval("document.querySelector('#clients-link a').click()")
    page.wait_for(
        "location.pathname === '/dashboard.html' && document.body.dataset.ready === 'dashboard'"
    )
    _fill(page, "#new-client [name=name]", "from the browser")
    page.eval("document.getElementById('new-client').requestSubmit()")
    shown = page.wait_for(
        "document.getElementById('new-client-secret').textContent &&"
        " document.getElementById('client-secret').textContent"
    )
    clients = world.services.clients.list(researcher.principal)
    assert [client.name for client in clients] == ["from the browser"]
    assert clients[0].client_id in shown
    page.goto(f"{world.issuer}/account.html")
    page.wait_for("document.body.dataset.ready === 'account'")
    # Signing out revokes the refresh token (and its access token) at the server.
    page.eval("document.getElementById('sign-out').click()")
    page.wait_for("!document.getElementById('signed-out').hidden")
    with Session(world.services.oauth2.engine) as session:
        rows = session.exec(
            select(TokenRow).where(
                TokenRow.account_id == researcher.account_id,
                TokenRow.grant_type == "authorization_code",
            )
        ).all()
    assert rows and all(row.refresh_revoked and row.access_revoked for row in rows)
