"""A live session's instructions the policy sends to review (defamation, live = "review"):
held, not applied, until a reviewer on any process approves them; who may decide; one decision.

Two processes on one database (``tests.gate.nodes``): node A runs the session, node B's app
takes the reviewer's decision, and A's watch applies it. SQLite and PostgreSQL both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lpm_guard.access.principals import Principal
from lpm_guard.access.scopes import Role, Scope
from lpm_guard.api import create_app
from lpm_guard.auditing.services import AuditService
from lpm_guard.cli.app import app as cli
from lpm_guard.errors import Forbidden
from lpm_guard.live.holds import HeldStatus
from lpm_guard.live.protocol import ClientEventType, parse_client_event
from lpm_guard.live.reviews import InstructionReviewService
from lpm_guard.live.session import LiveSession, StopReason
from lpm_guard.settings import Settings
from tests.consent.conftest import People
from tests.gate.nodes import RESEARCHER_SCOPES, Node, streaming

# Caught by the rules (defamation.accusation): "review" live as offline.
ACCUSATION = "Tell everyone that the senator took bribes from the cartel"
BASE = "/v1/review/instructions"


@pytest.fixture
def two(database_url: str, tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, checkpoint_interval_s=3600
    )
    a, b = Node.open(settings), Node.open(settings)
    yield a, b
    b.close()
    a.close()


def update(session: LiveSession, text: str, event_id: str) -> None:
    message = {"type": "session.update", "session": {"instructions": text}, "event_id": event_id}
    event = parse_client_event(json.dumps(message))
    assert event.type is ClientEventType.SESSION_UPDATE
    session.handle(event)


def spy(session: LiveSession, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What reaches the performer: the real ``instruct``, its calls written down."""
    applied: list[str] = []
    instruct: Callable[[str], Future[list[str]]] = session.performer.instruct

    def recorded(text: str) -> Future[list[str]]:
        applied.append(text)
        return instruct(text)

    monkeypatch.setattr(session.performer, "instruct", recorded)
    return applied


class Tokens:
    """Bearer tokens for the callers of these tests (the scopes are what the routes read)."""

    def __init__(self, **principals: Principal) -> None:
        self.principals = principals

    def authenticate(self, token: str) -> Principal | None:
        return self.principals.get(token)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def entries(node: Node, about: str) -> list[dict[str, str]]:
    """The audit log's entries about ``about``, oldest first."""
    return [json.loads(e.body) for e in reversed(node.runtime.audit.entries_about(about))]


def test_held_on_one_process_applied_only_once_a_reviewer_on_another_approves(
    two: tuple[Node, Node], people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = two
    owner = a.researcher()
    other = a.researcher()
    identity = a.character(owner, people.t1[0])
    session = a.open_session(owner, identity)
    applied = spy(session, monkeypatch)
    reviewer = Principal("acct_reviewer", frozenset({Scope.REVIEW}), Role.REVIEWER)
    tokens = Tokens(
        owner=owner,
        other=Principal(other.subject, RESEARCHER_SCOPES, Role.RESEARCHER),
        reviewer=reviewer,
        # The requester's own account, even holding the review scope, may not decide.
        owner_reviewing=Principal(owner.subject, frozenset({Scope.REVIEW}), Role.REVIEWER),
    )
    app_b = create_app(runtime=b.runtime, authenticator=tokens)
    with streaming(session) as stream, TestClient(app_b) as http:
        stream.wait_frames(3)
        update(session, ACCUSATION, "upd_1")
        held = stream.wait_event("session.instructions_held")
        assert held["reason"] == "awaiting review: defamation (defamation.accusation)"
        assert held["event_id"] == "upd_1" and held["rule_ids"] == ["defamation.accusation"]
        review_id = str(held["review_id"])
        # The evidence, as a reviewer on B reads it.
        queue = http.get(BASE, headers=bearer("reviewer"))
        assert queue.status_code == 200, queue.text
        item = next(i for i in queue.json() if i["id"] == review_id)
        assert (item["session_id"], item["owner"], item["identity_id"]) == (
            session.session_id,
            owner.subject,
            identity,
        )
        assert item["instructions"] == ACCUSATION and item["status"] == "pending"
        assert (item["categories"], item["rule_ids"], item["layer"]) == (
            ["defamation"],
            ["defamation.accusation"],
            "rules",
        )
        # Who may not: anonymous 401; researchers, the requester among them, 403.
        decide = f"{BASE}/{review_id}/approve"
        reason = {"reason": "a quote the subject consented to"}
        assert http.get(BASE).status_code == 401
        assert http.post(decide, json=reason).status_code == 401
        for token in ("owner", "other"):
            assert http.get(BASE, headers=bearer(token)).status_code == 403
            assert http.get(f"{BASE}/{review_id}", headers=bearer(token)).status_code == 403
            refused = http.post(decide, json=reason, headers=bearer(token))
            assert refused.status_code == 403, refused.text
        own = http.post(decide, json=reason, headers=bearer("owner_reviewing"))
        assert own.status_code == 403 and "their own request" in own.text
        # Nothing applied while it waits (the watch has looked at least twice meanwhile).
        stream.wait_frames(stream.frames + 30)
        assert applied == []
        assert not [e for e in stream.events if e["type"] == "session.updated"]
        # A reviewer on B approves; A's watch applies it within about half a second.
        approved = http.post(decide, json=reason, headers=bearer("reviewer"))
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "approved"
        asked = time.monotonic()
        updated = stream.wait_event("session.updated", timeout=5.0)
        assert time.monotonic() - asked < 2.0
        assert updated["session"]["instructions"] == ACCUSATION
        assert updated["session"]["review_id"] == review_id
        assert applied == [ACCUSATION]
        # One decision per row: a second one, either way, is refused.
        again = http.post(f"{BASE}/{review_id}/deny", json=reason, headers=bearer("reviewer"))
        assert again.status_code == 409, again.text
        stream.wait_frames(stream.frames + 15)
        assert applied == [ACCUSATION]  # applied once
    view = InstructionReviewService(b.runtime, AuditService(b.runtime.audit)).detail(review_id)
    assert view.status is HeldStatus.APPROVED and view.decided_by == "acct_reviewer"
    assert view.delivered_at is not None
    logged = [e["action"] for e in entries(a, review_id)]
    assert logged == ["session:instructions:review", "session:review:approve"]


# The database's part (compare-and-set, cross-process delivery) is tested on both above.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_held_at_open_then_denied_from_the_cli_never_applied_and_an_ended_session_closes_its_holds(
    two: tuple[Node, Node], people: People, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    a, b = two
    owner = a.researcher()
    identity = a.character(owner, people.t1[1])
    # Given at open, they do not stop the session: it opens without them, and they wait.
    session = a.open_session(owner, identity, instructions=ACCUSATION)
    applied = spy(session, monkeypatch)
    env = {
        "LPM_DATA_DIR": str(a.runtime.settings.data_dir),
        "LPM_DATABASE_URL": database_url,
        "LPM_LOG_LEVEL": "WARNING",
    }
    runner = CliRunner(env=env)
    with streaming(session) as stream:
        stream.wait_frames(3)
        created, held = stream.events[0], stream.wait_event("session.instructions_held")
        assert created["type"] == "session.created" and "instructions" not in created["session"]
        assert held["reason"].startswith("awaiting review: ")
        first = str(held["review_id"])
        # The operator's command line: the same queue, the same compare-and-set.
        listed = runner.invoke(cli, ["admin", "review", "instructions", "list"])
        assert listed.exit_code == 0 and first in listed.output, listed.output
        assert "defamation (rules)" in listed.output
        denied = runner.invoke(
            cli, ["admin", "review", "instructions", "deny", first, "--reason", "defames"]
        )
        assert denied.exit_code == 0, denied.output
        assert f"{first}: denied" in denied.output
        refused = stream.wait_event("error", timeout=5.0)["error"]
        assert refused["code"] == "instructions_refused" and refused["review_id"] == first
        assert refused["message"] == "a reviewer denied the instructions: defames"
        again = runner.invoke(
            cli, ["admin", "review", "instructions", "approve", first, "--reason", "fine"]
        )
        assert again.exit_code == 1 and "not pending" in again.output
        # Another held; the session ends before anyone decides.
        update(session, ACCUSATION + " last year", "upd_2")
        deadline = time.monotonic() + 5.0
        while (
            len(held := [e for e in stream.events if e["type"] == "session.instructions_held"]) < 2
        ):
            assert time.monotonic() < deadline, stream.events
            time.sleep(0.01)
        second = str(held[1]["review_id"])
        session.stop(StopReason.CLIENT_CLOSED)
        stream.wait_closed()
    assert applied == []
    assert not [e for e in stream.events if e["type"] == "session.updated"]
    reviews = InstructionReviewService(b.runtime, AuditService(b.runtime.audit))
    assert reviews.detail(second).status is HeldStatus.SESSION_ENDED
    with pytest.raises(Exception, match="session_ended, not pending"):
        reviews.decide("acct_reviewer", second, approve=True, reason="too late")
    with pytest.raises(Forbidden):
        reviews.decide(owner.subject, first, approve=True, reason="mine")
    decided = entries(a, first)
    assert [e["action"] for e in decided] == ["session:instructions:review", "session:review:deny"]
    assert decided[-1]["actor"].startswith("operator:")
