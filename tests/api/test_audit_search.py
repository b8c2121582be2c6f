"""/v1/audit/entries (search by id or action, paged) and /v1/audit/keys (the checkpoint keys)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient
from lpm_guard.audit import AuditLog, Event, NoteVerifier, open_checkpoint
from sqlalchemy import MetaData, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

from lpm_guard.access.principals import Principal
from lpm_guard.access.scopes import Scope
from lpm_guard.api import create_app
from lpm_guard.auditing.services import AuditService
from lpm_guard.database import MIGRATIONS, make_engine, upgrade
from lpm_guard.runtime import Runtime
from tests.api.test_audit_routes import TokenTable

REVIEWER = {"Authorization": "Bearer reviewer-token"}


@pytest.fixture
def logged(runtime: Runtime) -> Runtime:
    service = AuditService(runtime.audit)
    for i in range(30):
        service.record(
            "session:stream:open" if i % 3 == 0 else "generation:job:complete",
            f"acc_{i % 2}",
            objects={"session": f"ses_{i % 3}", "identity": "idn_x"},
            payload={"i": i, "note": "mentions ses_1 in passing" if i == 4 else ""},
        )
    # An id that is a prefix of another must not match it.
    service.record("session:stream:open", "acc_0", objects={"session": "ses_10"})
    return runtime


@pytest.fixture
def authed(logged: Runtime) -> TestClient:
    tokens = TokenTable(
        {
            "reviewer-token": Principal("reviewer:1", frozenset({Scope.AUDIT_READ, Scope.REVIEW})),
            "researcher-token": Principal("researcher:1", frozenset({Scope.GENERATE_OFFLINE})),
        }
    )
    return TestClient(create_app(runtime=logged, authenticator=tokens))


def _search(client: TestClient, **params: object) -> dict[str, object]:
    response = client.get("/v1/audit/entries", params=params, headers=REVIEWER)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _indexes(body: dict[str, object]) -> list[int]:
    return [item["entry"]["index"] for item in body["entries"]]  # type: ignore[attr-defined, index]


def test_search_finds_the_entries_about_an_object_newest_first(
    authed: TestClient, logged: Runtime
) -> None:
    start = logged.audit.size() - 31  # the runtime logged its own start first
    body = _search(authed, about="ses_1")
    # Exactly the entries whose objects name ses_1: a payload mention or ses_10 is no match.
    assert _indexes(body) == [start + i for i in reversed(range(30)) if i % 3 == 1]
    assert body["next_before"] is None
    first = body["entries"][0]  # type: ignore[index]
    assert hashlib.sha256(b"\x00" + first["body"].encode()).hexdigest() == first["leaf_hash"]
    by_actor = _search(authed, about="acc_1")
    assert len(by_actor["entries"]) == 15  # type: ignore[arg-type]
    by_action = _search(authed, about="ses_0", action="session:stream:open")
    assert len(by_action["entries"]) == 10  # type: ignore[arg-type]
    assert _search(authed, about="ses_nobody")["entries"] == []


def test_search_pages_with_before(authed: TestClient) -> None:
    seen: list[int] = []
    before = None
    while True:
        params: dict[str, object] = {"about": "idn_x", "limit": 7}
        if before is not None:
            params["before"] = before
        body = _search(authed, **params)
        seen += _indexes(body)
        before = body["next_before"]
        if before is None:
            break
        assert before == seen[-1]
    assert len(seen) == 30 and seen == sorted(seen, reverse=True)


def test_searching_is_itself_recorded(authed: TestClient, logged: Runtime) -> None:
    _search(authed, about="ses_2", limit=3)
    last = logged.audit.entry(logged.audit.size() - 1).entry.event
    assert (last.action, last.actor) == ("audit:entry:search", "reviewer:1")
    assert last.payload == {"query": {"about": "ses_2"}, "before": None, "found": 3}


def test_search_is_for_reviewers_and_refuses_bad_queries(authed: TestClient) -> None:
    assert authed.get("/v1/audit/entries", params={"about": "x"}).status_code == 401
    refused = authed.get(
        "/v1/audit/entries",
        params={"about": "x"},
        headers={"Authorization": "Bearer researcher-token"},
    )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    # 2**53 and above: the search's own audit entry (canonical JSON) cannot hold it; it was a
    # 500 (schemathesis found before=9223372036854775806).
    bad = ({"about": " "}, {"limit": 0}, {"limit": 201}, {"before": -1}, {"before": 2**53})
    for params in bad:
        response = authed.get("/v1/audit/entries", params=params, headers=REVIEWER)
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"


def test_the_published_key_verifies_the_checkpoint(client: TestClient, runtime: Runtime) -> None:
    keys = client.get("/v1/audit/keys").json()
    assert len(keys) >= 1
    key = keys[0]
    raw = base64.b64decode(key["public_key"])
    verifier = NoteVerifier(key["name"], Ed25519PublicKey.from_public_bytes(raw))
    assert verifier.vkey == key["vkey"] and verifier.key_hash.hex() == key["key_hash"]
    note = client.get("/v1/audit/checkpoint").json()["note"]
    assert open_checkpoint(note, [verifier]).key_hash.hex() == key["key_hash"]


def test_migration_0006_indexes_what_was_logged_before_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        upgrade(engine)
        log = AuditLog(engine)
        log.append_many(
            [Event("a:b:c", f"acct_{n % 2}", objects={"session": f"ses_{n % 3}"}) for n in range(9)]
        )
        before = [s.entry.index for s in log.entries_about("ses_1")]
        assert before == [7, 4, 1]
        # (1): back to 0005 (the index is gone), then up again: 0006 fills it from the entries.
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["engine"] = engine
        command.downgrade(config, "0005")
        with engine.connect() as conn:
            assert "audit_objects" not in inspect(conn).get_table_names()
        upgrade(engine)
        assert [s.entry.index for s in log.entries_about("ses_1")] == before
        assert len(log.entries_about("acct_0")) == 5
        # (2): the migrated table is the model's, guards included.
        metadata = MetaData()
        SQLModel.metadata.tables["audit_objects"].to_metadata(metadata)
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, _: (
                        kind != "table" or name == "audit_objects"
                    ),
                },
            )
            assert list(compare_metadata(context, metadata)) == []
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_objects"))
    finally:
        engine.dispose()
