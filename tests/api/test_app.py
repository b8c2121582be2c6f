"""The app skeleton: health, readiness, request ids, problem+json, docs."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import text

from lpm_guard.api import create_app
from lpm_guard.database import head_revision
from lpm_guard.runtime import Runtime

PROBLEM = "application/problem+json"


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_reports_the_migrated_database(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["database_revision"] == head_revision()


def test_readyz_is_503_problem_when_the_schema_is_behind(
    client: TestClient, runtime: Runtime
) -> None:
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "urn:lpm-guard:problem:unavailable"


def test_every_response_carries_a_request_id(client: TestClient) -> None:
    first, second = client.get("/healthz"), client.get("/healthz")
    assert len(first.headers["x-request-id"]) == 32
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    offered = client.get("/healthz", headers={"X-Request-ID": "trace-abc-12345"})
    assert offered.headers["x-request-id"] == "trace-abc-12345"
    hostile = client.get("/healthz", headers={"X-Request-ID": "bad id\r\nSet-Cookie: x"})
    assert hostile.headers["x-request-id"] != "bad id"


def test_unknown_route_is_a_404_problem(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == 404 and body["title"] == "Not Found"
    assert body["request_id"] == response.headers["x-request-id"]


def test_wrong_method_is_a_405_problem(client: TestClient) -> None:
    response = client.post("/healthz")
    assert response.status_code == 405 and response.headers["content-type"] == PROBLEM


def test_a_crash_is_a_500_problem_without_internals(runtime: Runtime) -> None:
    app = create_app(runtime=runtime)
    router = APIRouter()

    @router.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internal detail")

    app.include_router(router)
    app.router.routes.insert(0, app.router.routes.pop())  # ahead of the static mount
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
        assert response.status_code == 500
        assert response.headers["content-type"] == PROBLEM
        assert "secret internal detail" not in response.text
        assert client.get("/healthz").status_code == 200  # the server lives on


def test_openapi_and_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "/v1/audit/checkpoint" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_index_page(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200 and "lpm-guard" in response.text


def test_log_lines_are_json_with_the_request_id(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    from lpm_guard.logs import configure

    configure("INFO", json=True)
    response = client.get("/healthz", headers={"X-Request-ID": "trace-log-123456"})
    assert response.status_code == 200
    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    request_lines = [line for line in lines if line.get("event") == "request"]
    assert request_lines and request_lines[-1]["request_id"] == "trace-log-123456"
    assert request_lines[-1]["status"] == 200
    logging.getLogger().handlers.clear()
