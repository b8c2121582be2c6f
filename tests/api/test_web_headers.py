"""The web pages are served with security headers, and scripts as text/javascript."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from lpm_guard.api.webfiles import CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", ["/", "/consent.html", "/consent.js", "/lib/api.js", "/style.css"])
def test_every_web_file_carries_the_security_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    headers = response.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "script-src" not in headers["content-security-policy"]  # no inline exception
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    policy = headers["permissions-policy"]
    assert "camera=(self)" in policy and "microphone=(self)" in policy


def test_pages_are_html_and_scripts_are_text_javascript(client: TestClient) -> None:
    assert client.get("/consent.html").headers["content-type"].startswith("text/html")
    for script in ["/consent.js", "/lib/pcm-worklet.js", "/lib/page.js"]:
        response = client.get(script)
        assert response.status_code == 200, script
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"


def test_a_revalidated_page_keeps_the_headers(client: TestClient) -> None:
    first = client.get("/consent.html")
    again = client.get("/consent.html", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["content-security-policy"] == CONTENT_SECURITY_POLICY


def test_api_responses_and_missing_files_are_unchanged(client: TestClient) -> None:
    assert client.get("/healthz").headers.get("content-security-policy") is None
    assert client.get("/no-such-page.html").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/healthz", 200),
        ("GET", "/openapi.json", 200),
        ("GET", "/.well-known/jwks.json", 200),
        ("GET", "/v1/me", 401),  # a problem
        ("GET", "/v1/no-such-route", 404),
        ("POST", "/v1/applications", 422),
        ("POST", "/oauth/token", 400),  # Authlib's own response
        ("GET", "/oauth/authorize", 400),  # an HTML page
    ],
)
def test_every_api_response_is_nosniff_and_no_store(
    client: TestClient, method: str, path: str, status: int
) -> None:
    """L6: personal data (``/v1/me``) and problems alike are neither sniffed nor cached."""
    response = client.request(method, path)
    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_web_pages_are_revalidated_not_stored(client: TestClient) -> None:
    response = client.get("/consent.html")
    assert response.headers["cache-control"] == "no-cache"


def test_options_and_unknown_methods_on_api_paths_are_the_apis_problems(
    client: TestClient,
) -> None:
    """Issue 18, L8: the static mount at / does not answer for the API's paths."""
    me = client.options("/v1/me")
    assert me.status_code == 405 and me.headers["allow"] == "GET"
    assert me.headers["content-type"] == "application/problem+json"
    verify = client.delete("/v1/verify")
    assert verify.status_code == 405 and verify.headers["allow"] == "POST"
    sessions = client.put("/v1/sessions")
    assert set(sessions.headers["allow"].split(", ")) == {"GET", "POST"}
    unknown = client.get("/v1/no-such-thing")
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert client.get("/index.html").status_code == 200  # the pages are still served
