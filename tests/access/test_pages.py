"""The access web pages are served, and the sign-up form sends what the API takes."""

from __future__ import annotations

from html.parser import HTMLParser

from lpm_guard.access.schemas import TERMS_VERSION, ApplicationForm
from tests.access.world import World


class _Fields(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("input", "textarea") and found.get("name"):
            name = str(found["name"])
            self.names.add(name)
            self.values[name] = str(found.get("value") or "")


def test_pages_are_served(world: World) -> None:
    for page in ("/signup.html", "/account.html", "/callback.html", "/terms.html", "/access.js"):
        assert world.http.get(page).status_code == 200, page


def test_the_signup_form_matches_the_api(world: World) -> None:
    fields = _Fields()
    fields.feed(world.http.get("/signup.html").text)
    assert fields.names == set(ApplicationForm.model_fields)
    assert fields.values["accepted_terms_version"] == TERMS_VERSION
    assert f"version {TERMS_VERSION}" in world.http.get("/terms.html").text
