"""The per-researcher live-session limit counts the sessions open on every node (the database),
not those of one process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lpm_guard.live.errors import SessionLimitReached
from lpm_guard.live.session import StopReason
from lpm_guard.settings import Settings
from tests.consent.conftest import People
from tests.gate.nodes import Node


@pytest.fixture
def two(database_url: str, tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        checkpoint_interval_s=3600,
        live_sessions_per_researcher=2,
    )
    a, b = Node.open(settings), Node.open(settings)
    yield a, b
    b.close()
    a.close()


def test_the_limit_counts_sessions_open_on_other_nodes(
    two: tuple[Node, Node], people: People
) -> None:
    a, b = two
    owner = a.researcher()
    identity = a.character(owner, people.t1[0])
    first, second = a.open_session(owner, identity), b.open_session(owner, identity)
    with pytest.raises(SessionLimitReached):
        a.open_session(owner, identity)
    with pytest.raises(SessionLimitReached):
        b.open_session(owner, identity)
    assert len(a.services.registry) == 1 and len(b.services.registry) == 1
    first.stop(StopReason.CLIENT_CLOSED)  # ended: no longer counted
    third = b.open_session(owner, identity)
    for session in (second, third):
        session.stop(StopReason.CLIENT_CLOSED)
