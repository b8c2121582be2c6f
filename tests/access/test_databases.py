"""Access on both databases (SQLite and PostgreSQL): the migration, the one-statement claims of
codes and refresh tokens, and the quota's atomic charge, through the app in process."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient

from lpm_guard.access.errors import QuotaExceeded
from lpm_guard.access.principals import Principal
from lpm_guard.access.schemas import Approval, Decision
from lpm_guard.access.scopes import Role
from lpm_guard.api import create_app
from lpm_guard.database import current_revision, head_revision
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings
from tests.access.world import PASSWORD, application_form, pkce_pair

URL = "http://127.0.0.1:8000"


@pytest.fixture
def app_runtime(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Runtime]]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, checkpoint_interval_s=3600
    )
    runtime = Runtime.open(settings)
    with TestClient(create_app(runtime=runtime), base_url=URL) as client:
        yield client, runtime
    runtime.close()


def test_flows_and_quota_on_each_database(app_runtime: tuple[TestClient, Runtime]) -> None:
    client, runtime = app_runtime
    assert current_revision(runtime.engine) == head_revision()
    services = client.app.state.access  # type: ignore[attr-defined]
    view = services.applications.apply(application_form(), "test")
    services.applications.approve(view.id, Approval(reason="ok", daily_quota_s=5.0), "rev")

    # (1): authorization code + PKCE; the code works once.
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": "lpm-guard-web",
        "redirect_uri": f"{URL}/callback.html",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    signed_in = client.post(
        f"/oauth/authorize?{urlencode(params)}",
        data={"email": view.email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert signed_in.status_code == 302, signed_in.text
    code = parse_qs(urlsplit(signed_in.headers["location"]).query)["code"][0]
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": f"{URL}/callback.html",
        "client_id": "lpm-guard-web",
        "code_verifier": verifier,
    }
    tokens = client.post("/oauth/token", data=exchange).json()

    # (2): a refresh token works once; the code too.
    refresh = {
        "grant_type": "refresh_token",
        "client_id": "lpm-guard-web",
        "refresh_token": tokens["refresh_token"],
    }
    assert client.post("/oauth/token", data=refresh).status_code == 200
    assert client.post("/oauth/token", data=refresh).status_code == 400
    assert client.post("/oauth/token", data=exchange).status_code == 400

    # (3): client credentials, then suspension ends the token.
    owner = Principal(subject=view.account_id, role=Role.RESEARCHER)
    api_client = services.clients.create(owner, "c")
    issued = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(api_client.client_id, api_client.client_secret),
    ).json()
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    assert client.get("/v1/me", headers=bearer).status_code == 200

    # (4): concurrent charges never overspend the quota.
    def charge(_: int) -> bool:
        try:
            services.quotas.charge(view.account_id, 1.0)
        except QuotaExceeded:
            return False
        return True

    with ThreadPoolExecutor(max_workers=6) as pool:
        assert list(pool.map(charge, range(12))).count(True) == 5

    services.applications.suspend(view.id, Decision(reason="report"), "rev")
    assert client.get("/v1/me", headers=bearer).status_code == 401
