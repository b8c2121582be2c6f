"""Bad input at the edge (issue 18, M5 and L9) on SQLite and PostgreSQL: NUL and control
characters, bidi overrides, overlong values and forwarded addresses get a 4xx problem, never a
500; and a 500 that does happen carries the request id and the API's headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import DataError

from lpm_guard.access.schemas import TERMS_VERSION
from lpm_guard.api import create_app
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings
from tests.access.world import pkce_pair

URL = "http://127.0.0.1:8000"
FORWARDED = "2001:db8::" + "f" * 70  # what a proxy may forward: not an address, over 64 chars

SIGN_UP = {
    "name": "Ada Researcher",
    "email": "ada@example.org",
    "password": "correct horse battery staple",
    "institution": "University of Somewhere",
    "position": "Postdoctoral researcher",
    "research_purpose": "Studying how people perceive synthetic talking heads in calls.",
    "ethics_reference": "IRB-2026-0042",
    "intended_uses": ["offline"],
    "accepted_terms_version": TERMS_VERSION,
}
TEXT_FIELDS = [key for key, value in SIGN_UP.items() if isinstance(value, str)]


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[FastAPI]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, checkpoint_interval_s=3600
    )
    runtime = Runtime.open(settings)
    yield create_app(runtime=runtime)
    runtime.close()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=URL, raise_server_exceptions=False) as client:
        yield client


def _is_problem(response: object, status: int) -> None:
    assert getattr(response, "status_code", None) == status, getattr(response, "text", "")
    headers = getattr(response, "headers", {})
    assert headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("field", [f for f in TEXT_FIELDS if f != "password"])
@pytest.mark.parametrize("bad", ["\u0000", "\u202e", "\u0007"])
def test_control_characters_in_sign_up_are_a_422(client: TestClient, field: str, bad: str) -> None:
    body = SIGN_UP | {field: "Ada" + bad + SIGN_UP[field]}  # type: ignore[operator]
    response = client.post("/v1/applications", json=body)
    _is_problem(response, 422)
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert client.app.state.access.applications.list(None) == []  # type: ignore[attr-defined]


def test_a_password_may_hold_anything_without_a_500(client: TestClient) -> None:
    response = client.post("/v1/applications", json=SIGN_UP | {"password": "a\u0000" * 8})
    assert response.status_code == 202


@pytest.mark.parametrize(
    "email",
    [
        "<script>x</script>@e.org",
        "a" * 64 + "@" + "b" * 300 + ".org",  # over 320 characters
        "x" * 400,
        "ada@exa\u0000mple.org",
    ],
)
def test_bad_emails_are_a_422(client: TestClient, email: str) -> None:
    _is_problem(client.post("/v1/applications", json=SIGN_UP | {"email": email}), 422)


def _sign_in(client: TestClient, email: str) -> int:
    _, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": "lpm-guard-web",
        "redirect_uri": f"{URL}/callback.html",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    response = client.post(
        f"/oauth/authorize?{urlencode(params)}",
        data={"email": email, "password": "wrong password, surely"},
        follow_redirects=False,
    )
    return response.status_code


@pytest.mark.parametrize(
    "email", ["evil\u0000@example.org", "x" * 400 + "@example.org", "ada@example.org"]
)
def test_sign_in_with_a_bad_email_is_a_401(client: TestClient, email: str) -> None:
    assert _sign_in(client, email) == 401


def test_a_long_forwarded_address_is_no_500(app: FastAPI) -> None:
    """The address a trusted proxy forwards is whatever it says; it is cut to the column."""
    with TestClient(app, base_url=URL, client=(FORWARDED, 1234)) as client:
        assert _sign_in(client, "ada@example.org") == 401
        assert client.post("/v1/applications", json=SIGN_UP).status_code == 202


@pytest.mark.parametrize("client_id", ["evil\u0000", "c" * 200])
def test_a_bad_client_id_is_invalid_client(client: TestClient, client_id: str) -> None:
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": "x"}
    response = client.post("/oauth/token", data=data)  # client_secret_post: 400 (RFC 6749 5.2)
    assert response.status_code == 400 and response.json()["error"] == "invalid_client"


def test_a_500_carries_the_request_id_and_the_headers(app: FastAPI) -> None:
    def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom)
    app.router.routes.insert(0, app.router.routes.pop())  # before the web pages' mount
    with TestClient(app, base_url=URL, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    _is_problem(response, 500)
    body = response.json()
    assert body["request_id"] and body["request_id"] == response.headers["x-request-id"]
    assert "a bug" not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_a_value_the_database_refuses_is_a_422(app: FastAPI) -> None:
    """The net behind the checks: the database's DataError (PostgreSQL's answer to NUL or an
    overlong value) is bad input, not a server error."""

    def refused() -> None:
        raise DataError("INSERT ...", {}, ValueError("cannot contain NUL (0x00) bytes"))

    app.add_api_route("/refused", refused)
    app.router.routes.insert(0, app.router.routes.pop())
    with TestClient(app, base_url=URL) as client:
        response = client.get("/refused")
    _is_problem(response, 422)
    assert "NUL" not in response.text and "INSERT" not in response.text
