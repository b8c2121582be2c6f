"""/v1/audit: who may call each route, and who may not; malformed requests are 4xx problems."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from lpm_guard.audit import NoteVerifier, open_checkpoint, verify_consistency, verify_inclusion
from lpm_guard.audit.checkpoints import Checkpoint

from lpm_guard.access.principals import Principal
from lpm_guard.access.scopes import Scope
from lpm_guard.api import create_app
from lpm_guard.auditing.services import AuditService
from lpm_guard.runtime import Runtime

PROBLEM = "application/problem+json"


class TokenTable:
    """Maps fixed tokens to principals: stands in for OAuth2 until the Access issue lands."""

    def __init__(self, table: dict[str, Principal]) -> None:
        self.table = table

    def authenticate(self, token: str) -> Principal | None:
        return self.table.get(token)


@pytest.fixture
def filled(runtime: Runtime) -> Runtime:
    service = AuditService(runtime.audit)
    for i in range(10):
        service.record("test:thing:do", f"user:{i}", payload={"i": i})
    return runtime


@pytest.fixture
def authed(filled: Runtime) -> TestClient:
    tokens = TokenTable(
        {
            "reviewer-token": Principal("reviewer:1", frozenset({Scope.AUDIT_READ, Scope.REVIEW})),
            "researcher-token": Principal("researcher:1", frozenset({Scope.GENERATE_OFFLINE})),
        }
    )
    return TestClient(create_app(runtime=filled, authenticator=tokens))


def test_checkpoint_is_public_and_verifies_with_the_published_key(
    client: TestClient, filled: Runtime
) -> None:
    body = client.get("/v1/audit/checkpoint").json()
    verifiers = [
        NoteVerifier(filled.settings.audit_origin, k) for k in filled.keys.audit_public_keys()
    ]
    checkpoint: Checkpoint = open_checkpoint(body["note"], verifiers)
    assert checkpoint.tree_size == body["tree_size"] == filled.audit.size()
    note = client.get("/v1/audit/checkpoint.txt")
    assert note.status_code == 200 and note.text == body["note"]


def test_inclusion_and_consistency_proofs_are_public(client: TestClient, filled: Runtime) -> None:
    size = filled.audit.size()
    proof = client.get("/v1/audit/proofs/inclusion", params={"index": 3}).json()
    verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]),
        3,
        size,
        [bytes.fromhex(h) for h in proof["path"]],
        filled.audit.root(),
    )
    c = client.get("/v1/audit/proofs/consistency", params={"old_size": 4, "new_size": size}).json()
    verify_consistency(
        4,
        size,
        filled.audit.root(4),
        filled.audit.root(size),
        [bytes.fromhex(h) for h in c["path"]],
    )


@pytest.mark.parametrize(
    "params",
    [
        {"index": 99},  # out of range
        {"index": 0, "tree_size": 0},  # size 0
        {"index": "seven"},  # not an integer
        {"index": -1},
        {"index": 2, "tree_size": 9999},  # bigger than the log
        {},  # missing
    ],
)
def test_malformed_inclusion_requests_are_4xx_problems(
    client: TestClient, filled: Runtime, params: dict[str, object]
) -> None:
    response = client.get("/v1/audit/proofs/inclusion", params=params)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "params",
    [
        {"old_size": 0},
        {"old_size": "x"},
        {"old_size": 5, "new_size": 2},
        {"old_size": 1, "new_size": 10**6},
    ],
)
def test_malformed_consistency_requests_are_4xx_problems(
    client: TestClient, filled: Runtime, params: dict[str, object]
) -> None:
    response = client.get("/v1/audit/proofs/consistency", params=params)
    assert 400 <= response.status_code < 500 and response.headers["content-type"] == PROBLEM


def test_entries_refuse_anonymous_callers(client: TestClient, filled: Runtime) -> None:
    response = client.get("/v1/audit/entries/0")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == PROBLEM


def test_entries_refuse_every_token_until_an_authenticator_is_installed(
    client: TestClient, filled: Runtime
) -> None:
    response = client.get("/v1/audit/entries/0", headers={"Authorization": "Bearer anything"})
    assert response.status_code == 401


def test_entries_refuse_unknown_tokens_and_missing_scopes(authed: TestClient) -> None:
    assert (
        authed.get("/v1/audit/entries/0", headers={"Authorization": "Bearer forged"}).status_code
        == 401
    )
    response = authed.get(
        "/v1/audit/entries/0", headers={"Authorization": "Bearer researcher-token"}
    )
    assert response.status_code == 403
    assert response.json()["required_scope"] == "audit:read"


def test_reviewers_read_entries_and_the_read_is_itself_audited(
    authed: TestClient, filled: Runtime
) -> None:
    before = filled.audit.size()
    response = authed.get("/v1/audit/entries/4", headers={"Authorization": "Bearer reviewer-token"})
    assert response.status_code == 200
    assert response.json()["entry"]["index"] == 4
    last = list(filled.audit.entries(before))[-1].entry
    assert (last.event.action, last.event.actor) == ("audit:entry:read", "reviewer:1")
    missing = authed.get(
        "/v1/audit/entries/999", headers={"Authorization": "Bearer reviewer-token"}
    )
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
