"""Schemathesis over the OpenAPI schema against the in-process app (issue 18): a bounded run,
a few generated requests per operation, anonymous, as a researcher (API client token) and as
a reviewer. The bar: no 5xx, and every 4xx of the API a problem+json (the OAuth2 endpoints
answer in RFC 6749's JSON and the sign-in page in HTML, as their standards say)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.python import asgi

from lpm_guard.access.scopes import Role
from lpm_guard.api import create_app
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings
from tests.access.world import World

URL = "http://127.0.0.1:8000"
EXAMPLES = int(os.environ.get("LPM_SCHEMATHESIS_EXAMPLES", "3"))
PROBLEM = "application/problem+json"
NOT_PROBLEMS = ("/oauth/", "/.well-known/")


@schemathesis.serializer("video/webm", "video/mp4", "video/quicktime", "video/x-matroska")
def _raw_bytes(context: Any, value: Any) -> bytes:
    """Uploads sent as the raw body: what schemathesis generated for ``format: binary``."""
    return value if isinstance(value, bytes) else str(value).encode()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    data: Path = tmp_path_factory.mktemp("schemathesis") / "data"
    runtime = Runtime.open(
        Settings(
            data_dir=data,
            public_url=URL,
            checkpoint_interval_s=3600,
            log_level="WARNING",
            sign_in_rate_limit="100000/minute",
            sign_up_rate_limit="100000/minute",
            verify_rate_limit="100000/minute",
        )
    )
    yield create_app(runtime=runtime)
    asgi.shutdown_lifespans()
    runtime.close()


@pytest.fixture(scope="module")
def tokens(app: FastAPI) -> dict[str, dict[str, str]]:
    with TestClient(app, base_url=URL, follow_redirects=False) as http:
        world = World(app.state.access, http, URL, app.state.runtime)
        researcher = world.researcher()
        token = world.client_token(researcher).json()["access_token"]
        reviewer = world.web_tokens(world.staff(Role.REVIEWER))["access_token"]
    return {
        "anonymous": {},
        "researcher": {"Authorization": f"Bearer {token}"},
        "reviewer": {"Authorization": f"Bearer {reviewer}"},
    }


def operations(app: FastAPI) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("who", ["anonymous", "researcher", "reviewer"])
def test_no_operation_answers_5xx_and_errors_are_problems(
    app: FastAPI, tokens: dict[str, dict[str, str]], who: str
) -> None:
    failures: list[str] = []
    calls: list[str] = []
    headers = tokens[who]
    every = operations(app)
    for operation in every:
        strategy = operation.as_strategy()

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            response = case.call(base_url=URL, headers=headers)
            calls.append(case.operation.label)
            status = response.status_code
            what = f"{case.method} {case.formatted_path} as {who}: {status}"
            if status >= 500:
                failures.append(f"{what} {response.text[:300]}")
            elif 400 <= status < 500 and not case.path.startswith(NOT_PROBLEMS):
                content = response.headers.get("content-type", [""])
                kind = content[0] if isinstance(content, list) else content
                html = case.path == "/oauth/authorize"
                if not html and not kind.startswith(PROBLEM):
                    failures.append(f"{what} is {kind}, not a problem")

        run()
    assert not failures, "\n".join(failures[:20])
    assert len(set(calls)) == len(every) > 60  # every operation was called


def test_the_schema_declares_problem_responses(app: FastAPI) -> None:
    schema = app.openapi()
    assert "Problem" in schema["components"]["schemas"]
    me = schema["paths"]["/v1/me"]["get"]["responses"]
    assert {"401", "403", "default"} <= set(me)
    assert PROBLEM in me["401"]["content"]
    one = schema["paths"]["/v1/applications/{application_id}"]["get"]["responses"]
    assert PROBLEM in one["404"]["content"] and PROBLEM in one["422"]["content"]
    verify = schema["paths"]["/v1/verify"]["post"]["responses"]
    assert {"413", "415", "429"} <= set(verify) and PROBLEM in verify["413"]["content"]

