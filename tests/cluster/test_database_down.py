"""PostgreSQL stopped under the running cluster (issue 17, faults): every node answers a clear
503 problem with Retry-After (never a 401 that would make a client drop its token, never a 500),
nothing is half-written, a session streaming at that moment stops (it can no longer tell
whether its consent still holds) and is closed on the books once the database is back, and
service resumes without restarting anything. (Redis stopped: test_cluster.py.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from lpm_guard.live.ledger import LiveSessionRow, LiveStatus
from tests.consent.conftest import People

from .client import LiveClient, silence
from .conftest import Here
from .test_cluster import bearer, character

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.xdist_group("cluster")]


def until(what: str, condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_postgres_stopped_is_a_503_nothing_half_written_and_service_resumes(
    here: Here, people: People, tmp_path: Path
) -> None:
    cluster = here.cluster
    account, token = here.researcher()
    identity = character(here, account.account_id, people.t1[3])
    live = LiveClient.open(cluster.node_url("a"), token, identity, fps=10).start()
    live.wait_frames(5)
    jobs = cluster.media_dir / "jobs"
    before = set(jobs.iterdir()) if jobs.exists() else set()
    audio = silence(tmp_path / "voice.wav", 1.0)

    cluster.stop_postgres()
    try:
        # The session cannot watch its consent any more: it stops, and says so.
        closed = live.wait_closed(15)
        assert closed["reason"] == "error", closed
        for node in cluster.nodes:
            base = cluster.node_url(node)
            with audio.open("rb") as sound:
                answers = [
                    httpx.get(f"{base}/v1/generations", headers=bearer(token), timeout=30),
                    httpx.post(
                        f"{base}/v1/generations",
                        data={"identity_id": identity},
                        files={"audio": ("voice.wav", sound, "audio/wav")},
                        headers=bearer(token),
                        timeout=30,
                    ),
                    httpx.post(
                        f"{base}/v1/sessions",
                        json={"identity_id": identity},
                        headers=bearer(token),
                        timeout=30,
                    ),
                    httpx.get(f"{base}/readyz", timeout=30),
                ]
            seen = [
                (
                    str(a.request.url),
                    a.status_code,
                    a.headers.get("content-type", ""),
                    a.headers.get("retry-after", ""),
                    a.text[:200],
                )
                for a in answers
            ]
            bad = [
                answer
                for answer in seen
                if answer[1] != 503
                or not answer[2].startswith("application/problem+json")
                or not answer[3].isdigit()
                or "database" not in answer[4]
            ]
            assert not bad, bad
        # Nothing half-written: no job folder, no upload left in a node's data directory.
        assert (set(jobs.iterdir()) if jobs.exists() else set()) == before
        for node in cluster.nodes:
            assert not list((cluster.root / "nodes" / f"node-{node}").glob("upload-*"))
    finally:
        cluster.start_postgres()

    # Back, with nothing restarted: every node answers again.
    def answers(url: str) -> Callable[[], bool]:
        return lambda: httpx.get(url, headers=bearer(token), timeout=30).status_code == 200

    for node in cluster.nodes:
        url = f"{cluster.node_url(node)}/v1/generations"
        until(f"node {node} did not come back", answers(url), 30)

    # The session cut off by the outage is closed on the books (its end could not be
    # written then): its lease lapses and the lease rules close it, with its stop entry.
    def row() -> LiveSessionRow:
        with Session(here.node.runtime.engine) as db:
            found = db.get(LiveSessionRow, live.session_id)
        assert found is not None
        return found

    until("the session stays open on the books", lambda: row().status == LiveStatus.ENDED, 30)
    until(
        "the session has no stop entry",
        lambda: bool(
            here.node.runtime.audit.entries_about(live.session_id, action="session:stream:stop")
        ),
        10,
    )
    assert (
        len(here.node.runtime.audit.entries_about(live.session_id, action="session:stream:stop"))
        == 1
    )
    # The worker lived through it.
    assert cluster.processes["worker-1"].alive, cluster.tail("worker-1")
    cluster.wait_balanced()
