"""Anonymous traffic and the append-only audit log (issue 18, M4 and L3), on SQLite and
PostgreSQL: a wrong-password loop and a sign-up flood grow the log by a bounded number of
entries, each keeping the caller's network, never the address; and a stranger who knows an
account's email cannot lock its owner out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lpm_guard.access.accounts import AccountService
from lpm_guard.access.scopes import Role
from lpm_guard.api import create_app
from lpm_guard.auditing.services import AuditService
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings
from tests.access.world import pkce_pair
from tests.api.test_edge_input import SIGN_UP

URL = "http://127.0.0.1:8000"
STRANGER, OWNER = "198.51.100.7", "203.0.113.20"


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        checkpoint_interval_s=3600,
        # Every attempt reaches the throttle (the per-address request limit is tested apart).
        sign_in_rate_limit="10000/minute",
    )
    runtime = Runtime.open(settings)
    yield runtime
    runtime.close()


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime=runtime)


def client_from(app: FastAPI, address: str) -> TestClient:
    return TestClient(app, base_url=URL, client=(address, 40000), raise_server_exceptions=False)


def sign_in(client: TestClient, email: str, password: str) -> int:
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
        data={"email": email, "password": password},
        follow_redirects=False,
    )
    return response.status_code


def entries_since(runtime: Runtime, start: int) -> list[Any]:
    return [stored.entry.event for stored in runtime.audit.entries(start)]


def test_a_wrong_password_loop_grows_the_log_by_log2_entries(
    app: FastAPI, runtime: Runtime
) -> None:
    AccountService(runtime.engine, AuditService(runtime.audit)).create_staff(
        "lead@example.org", "Lead", Role.ADMIN, "test"
    )
    start = runtime.audit.size()
    with client_from(app, STRANGER) as stranger:
        statuses = [sign_in(stranger, "lead@example.org", "guess-guess") for _ in range(300)]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    events = entries_since(runtime, start)
    actions = [event.action for event in events]
    # 5 failures; 295 refusals recorded at the 1st, 2nd, 4th ... 256th: 9 entries.
    assert actions.count("access:login:failure") == 5
    throttles = [event for event in events if event.action == "access:login:throttle"]
    assert [t.payload["refused_in_window"] for t in throttles] == [2**n for n in range(9)]
    assert len(events) == 14
    # The caller's network is kept, the address nowhere.
    assert {event.payload["network"] for event in events} == {"198.51.100.0/24"}
    everything = json.dumps([(e.objects, e.payload, list(e.reasons)) for e in events])
    assert STRANGER not in everything
    runtime.audit.verify().raise_for_problems()


def test_a_sign_up_flood_from_one_address_is_capped(app: FastAPI, runtime: Runtime) -> None:
    start = runtime.audit.size()
    with client_from(app, STRANGER) as stranger:
        responses = [
            stranger.post("/v1/applications", json=SIGN_UP | {"email": f"bot{n}@example.org"})
            for n in range(94)
        ]
    statuses = [r.status_code for r in responses]
    assert statuses[:5] == [202] * 5 and set(statuses[5:]) == {429}
    refused = responses[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) > 0
    events = entries_since(runtime, start)
    assert [event.action for event in events] == ["access:application:submit"] * 5
    assert {event.payload["network"] for event in events} == {"198.51.100.0/24"}
    # Another address is not held back by the flood.
    with client_from(app, OWNER) as other:
        assert other.post("/v1/applications", json=SIGN_UP).status_code == 202


def test_a_stranger_cannot_lock_the_owner_out(app: FastAPI, runtime: Runtime) -> None:
    """Five wrong passwords from the stranger's address throttle that address for the
    account; the owner, elsewhere, signs in, admin or not."""
    new = AccountService(runtime.engine, AuditService(runtime.audit)).create_staff(
        "lead@example.org", "Lead", Role.ADMIN, "test"
    )
    with client_from(app, STRANGER) as stranger:
        assert [sign_in(stranger, "lead@example.org", "guess-guess") for _ in range(6)] == [
            401,
            401,
            401,
            401,
            401,
            429,
        ]
        # The right password from the stranger's address waits too (no oracle).
        assert sign_in(stranger, "lead@example.org", new.password) == 429
    with client_from(app, OWNER) as owner:
        assert sign_in(owner, "lead@example.org", new.password) in (200, 302, 303)
