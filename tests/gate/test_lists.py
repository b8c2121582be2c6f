"""The lists of live sessions and offline jobs: whose each caller sees, filters, pages, and the
live sessions' rows written when the gate admits a session and when it ends."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlmodel import Session, SQLModel

# Their tables join SQLModel.metadata.
import lpm_guard.jobs.holds
import lpm_guard.live.holds  # noqa: F401
from lpm_guard.access.scopes import Role
from lpm_guard.clients.live import LiveClient
from lpm_guard.database import make_engine, upgrade
from lpm_guard.jobs.ledger import GenerationJob, JobStatus
from lpm_guard.live import ledger
from lpm_guard.live.ledger import LiveSessionRow
from lpm_guard.live.protocol import VideoFrame
from lpm_guard.runtime import Runtime
from tests.access.world import World
from tests.consent.conftest import People

from .test_gate import character, open_session

FIELDS = {
    "id",
    "owner",
    "identity_id",
    "size",
    "fps",
    "status",
    "opened_at",
    "ended_at",
    "stop_reason",
    "audit_index",
    "frames",
}


def get(world: World, path: str, token: str | None, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return world.http.get(path, params=params, headers=headers)


def test_live_sessions_are_on_the_books_from_admission_to_their_end(
    live_world: World, people: People, tmp_path: Path
) -> None:
    world = live_world
    a, b = world.researcher(), world.researcher()
    token_a = world.web_tokens(a)["access_token"]
    token_b = world.web_tokens(b)["access_token"]
    reviewer = world.web_tokens(world.staff(Role.REVIEWER))["access_token"]
    identity = character(world, a, people.t1[4], tmp_path)

    # (1): admitted: the row is there at once, open, with what the gate decided.
    status, opened = open_session(world, token_a, identity_id=identity, size="512x512", fps=20)
    assert status == 201, opened
    sid = str(opened["session_id"])
    mine = get(world, "/v1/sessions", token_a).json()
    assert [s["id"] for s in mine] == [sid]
    row = mine[0]
    assert set(row) >= FIELDS
    assert row["owner"] == a.account_id and row["identity_id"] == identity
    assert (row["size"], row["fps"], row["status"]) == ("512x512", 20, "open")
    assert row["audit_index"] == opened["audit_index"]
    assert row["ended_at"] is None and row["stop_reason"] is None and row["frames"] == 0

    # (2): streamed, then closed by the client: ended, why, and the frames it sent.
    async def stream() -> int:
        frames = 0
        async with LiveClient.connect(str(opened["stream_url"])) as client:
            async for item in client:
                if isinstance(item, VideoFrame):
                    frames += 1
                    if frames == 10:
                        await client.close()
                elif item["type"] == "session.closed":
                    return frames
        raise AssertionError("the stream ended without session.closed")

    # On a thread of its own: Playwright's sync API keeps an event loop running in this one
    # when the browser tests shared the process.
    with ThreadPoolExecutor(1) as pool:
        sent = pool.submit(asyncio.run, stream()).result()
    deadline = time.monotonic() + 10
    while (row := get(world, f"/v1/sessions/{sid}", token_a).json())["status"] == "open":
        assert time.monotonic() < deadline, row
        time.sleep(0.05)
    assert row["stop_reason"] == "client_closed" and row["ended_at"] is not None
    assert 10 <= row["frames"] <= sent + 6  # what was rendered, the outbox's few included

    # (3): a second session, revoked before anyone streams it: ended at once, revoked.
    status, second = open_session(world, token_a, identity_id=identity)
    assert status == 201, second
    sid2 = str(second["session_id"])
    revoked = world.http.delete(
        f"/v1/sessions/{sid2}",
        params={"reason": "  report of misuse #12 "},
        headers={"Authorization": f"Bearer {reviewer}"},
    )
    assert revoked.status_code == 200
    row2 = get(world, f"/v1/sessions/{sid2}", token_a).json()
    assert (row2["status"], row2["stop_reason"], row2["frames"]) == ("ended", "revoked", 0)
    assert row2["stop_detail"].endswith(": report of misuse #12")
    assert world.runtime is not None
    entry = world.runtime.audit.entries_about(sid2, action="session:stream:revoke")[0].entry
    assert entry.event.payload == {"reason": "report of misuse #12"}
    assert reviewer not in str(row2)  # the detail names the reviewer's actor, never a token

    # (4): newest first; the owner and reviewers see them, nobody else.
    assert [s["id"] for s in get(world, "/v1/sessions", token_a).json()] == [sid2, sid]
    assert get(world, "/v1/sessions", token_b).json() == []
    assert get(world, f"/v1/sessions/{sid}", token_b).status_code == 404
    assert get(world, "/v1/sessions", token_b, owner=a.account_id).status_code == 403
    assert get(world, "/v1/sessions", None).status_code == 401
    assert get(world, f"/v1/sessions/{sid}", None).status_code == 401
    assert get(world, f"/v1/sessions/{sid}", reviewer).json()["id"] == sid
    everybody = [s["id"] for s in get(world, "/v1/sessions", reviewer, limit=200).json()]
    assert everybody.index(sid2) < everybody.index(sid)
    theirs = get(world, "/v1/sessions", reviewer, owner=a.account_id).json()
    assert [s["id"] for s in theirs] == [sid2, sid]
    assert get(world, "/v1/sessions", reviewer, owner=b.account_id).json() == []
    assert get(world, "/v1/sessions", reviewer, status="bogus").status_code == 422


def test_a_session_the_limits_refuse_is_not_on_the_books(
    live_world: World, people: People, tmp_path: Path
) -> None:
    world = live_world
    a = world.researcher()
    token = world.web_tokens(a)["access_token"]
    identity = character(world, a, people.t1[4], tmp_path)
    opened = [open_session(world, token, identity_id=identity) for _ in range(3)]
    assert [status for status, _ in opened] == [201, 201, 429]
    listed = get(world, "/v1/sessions", token, status="open").json()
    assert {s["id"] for s in listed} == {str(body["session_id"]) for _, body in opened[:2]}
    for _, body in opened[:2]:
        world.http.delete(
            f"/v1/sessions/{body['session_id']}", headers={"Authorization": f"Bearer {token}"}
        )
    assert get(world, "/v1/sessions", token, status="open").json() == []
    assert len(get(world, "/v1/sessions", token, status="ended").json()) == 2


def _job(owner: str, identity: str, at: datetime, n: int, status: JobStatus) -> GenerationJob:
    return GenerationJob(
        id=f"job_list{n:03d}{owner[-6:]}",
        owner=owner,
        identity_id=identity,
        status=status,
        frames_done=n,
        frames_total=100,
        audit_index=n,
        seconds=4.0,
        error=None,
        created_at=at,
    )


def test_generations_list_own_jobs_newest_first_in_pages(live_world: World) -> None:
    world = live_world
    assert world.runtime is not None
    a, b = world.researcher(), world.researcher()
    token_a = world.web_tokens(a)["access_token"]
    token_b = world.client_token(b).json()["access_token"]
    reviewer = world.web_tokens(world.staff(Role.REVIEWER))["access_token"]
    start = datetime.now(UTC) - timedelta(hours=1)
    # The rows the job service writes, made directly: 7 of A's (two at the same moment, which
    # paging must neither skip nor repeat), 1 of B's.
    rows = [
        _job(a.account_id, "idn_a", start + timedelta(seconds=min(n, 5)), n, JobStatus.SUCCEEDED)
        for n in range(7)
    ]
    rows[2].status, rows[2].error = JobStatus.FAILED, "the worker failed"
    running_job = _job(b.account_id, "idn_b", start, 99, JobStatus.RUNNING)
    # Running under the server's own lease: its lease recovery leaves it alone.
    running_job.node_id, running_job.heartbeat_at = world.runtime.node_id, datetime.now(UTC)
    rows.append(running_job)
    with Session(world.runtime.engine, expire_on_commit=False) as db:
        db.add_all(rows)
        db.commit()
    expected = sorted(
        (r for r in rows if r.owner == a.account_id),
        key=lambda r: (r.created_at, r.id),
        reverse=True,
    )
    # Pages of 3 walk all of A's jobs in order, each once.
    seen: list[str] = []
    before: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"before": before} if before else {})}
        page = get(world, "/v1/generations", token_a, **params).json()
        seen += [job["id"] for job in page]
        if len(page) < 3:
            break
        before = page[-1]["id"]
    assert seen == [r.id for r in expected]
    first = get(world, "/v1/generations", token_a, limit=1).json()[0]
    assert first["owner"] == a.account_id and first["identity_id"] == "idn_a"
    assert first["created_at"].startswith(expected[0].created_at.isoformat()[:19])
    assert {"status", "progress", "audit_index", "seconds", "error"} <= set(first)
    failed = get(world, "/v1/generations", token_a, status="failed").json()
    assert [(j["id"], j["error"]) for j in failed] == [(rows[2].id, "the worker failed")]
    # B sees only B's; B may not page from A's job nor ask for A's list.
    assert [j["id"] for j in get(world, "/v1/generations", token_b).json()] == [rows[-1].id]
    assert get(world, "/v1/generations", token_b, before=rows[3].id).status_code == 422
    assert get(world, "/v1/generations", token_b, owner=a.account_id).status_code == 403
    assert get(world, "/v1/generations", None).status_code == 401
    # Reviewers see everybody's, or one researcher's, or by status.
    everybody = {j["id"] for j in get(world, "/v1/generations", reviewer, limit=200).json()}
    assert {r.id for r in rows} <= everybody
    running = get(world, "/v1/generations", reviewer, owner=b.account_id, status="running")
    assert [j["id"] for j in running.json()] == [rows[-1].id]
    assert get(world, "/v1/generations", reviewer, limit=0).status_code == 422
    assert get(world, "/v1/generations", reviewer, limit=201).status_code == 422


def test_recover_ends_the_sessions_a_restart_cut_off(runtime: Runtime) -> None:
    row = LiveSessionRow(
        id="ses_cutoff_by_restart",
        owner="acct_nobody",
        identity_id="idn_x",
        size="512x512",
        fps=25,
        status="open",
        opened_at=datetime.now(UTC),
        audit_index=0,
    )
    with Session(runtime.engine) as db:
        db.add(row)
        db.commit()
    # What its record left: a signed segment, the segment being written and the whole
    # recording, both still unsigned when the node stopped.
    sid = "ses_cutoff_by_restart"
    record = ledger.record_directory(runtime, sid)
    record.mkdir(parents=True)
    signed = record / f"{sid}-000000.mp4"
    unsigned = [record / f".{sid}-000001.unsigned.mp4", record / f".{sid}.unsigned.mp4"]
    for path in [signed, *unsigned]:
        path.write_bytes(b"\0" * 16)
    assert ledger.recover(runtime) == 1
    assert ledger.recover(runtime) == 0
    assert signed.exists() and not any(path.exists() for path in unsigned)
    with Session(runtime.engine) as db:
        after = db.get(LiveSessionRow, "ses_cutoff_by_restart")
    assert after is not None
    assert (after.status, after.stop_reason) == ("ended", "shutdown")
    assert after.stop_detail is not None and after.ended_at is not None
    assert after.stop_detail.startswith("interrupted by a restart")


@pytest.mark.parametrize(
    "table",
    [
        "live_sessions",
        "generation_jobs",
        "generation_reviews",
        "live_instruction_reviews",
        "key_fingerprints",
    ],
)
def test_the_migrations_match_the_models(tmp_path: Path, table: str) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        upgrade(engine)
        metadata = MetaData()
        SQLModel.metadata.tables[table].to_metadata(metadata)
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_name": lambda name, kind, _: kind != "table" or name == table,
                },
            )
            assert list(compare_metadata(context, metadata)) == []
    finally:
        engine.dispose()
