"""Quota across processes: reserved at admission, refunded on failure, charged as a live
session runs; every refusal has its deny entry."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from lpm_guard.access.models import QuotaUsageRow
from lpm_guard.consent.models import Use
from lpm_guard.gate.gate import GenerationDenied
from lpm_guard.jobs import ledger as jobs
from lpm_guard.jobs.ledger import GenerationJob, JobSpec, JobStatus
from lpm_guard.jobs.service import JobService
from lpm_guard.jobs.worker import run_job
from lpm_guard.live.ledger import LiveSessionRow
from lpm_guard.settings import Settings
from tests.consent.conftest import People

from .nodes import Node, streaming


@pytest.fixture
def node(database_url: str, tmp_path: Path) -> Iterator[Node]:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=database_url, checkpoint_interval_s=3600
    )
    node = Node.open(settings)
    yield node
    node.close()


def used(node: Node, subject: str) -> float:
    with Session(node.runtime.engine) as db:
        rows = db.exec(select(QuotaUsageRow.seconds).where(QuotaUsageRow.account_id == subject))
        return float(sum(rows.all()))


def actions(node: Node, about: str) -> list[str]:
    """The actions of the entries naming ``about``, oldest first."""
    found = node.runtime.audit.entries_about(about, limit=200)
    return [json.loads(e.body)["action"] for e in reversed(found)]


def test_a_live_session_is_charged_as_it_runs_and_stops_when_the_quota_is_spent(
    node: Node, people: People
) -> None:
    owner = node.researcher(quota_s=2.0)
    identity = node.character(owner, people.t1[0])
    session = node.open_session(owner, identity)
    with streaming(session) as stream:
        closed = stream.wait_closed(10.0)
    assert closed["reason"] == "quota", closed
    with Session(node.runtime.engine) as db:
        row = db.get(LiveSessionRow, session.session_id)
    assert row is not None and row.stop_reason == "quota"
    streamed = row.frames / 25
    # Charged what was streamed: the allowance, and little beyond it (the last watch).
    assert 2.0 <= row.charged_s <= 3.0 and abs(row.charged_s - streamed) < 0.05
    assert abs(used(node, owner.subject) - row.charged_s) < 1e-6
    stop = [
        json.loads(e.body)
        for e in node.runtime.audit.entries_about(session.session_id, action="session:stream:stop")
    ]
    assert stop[0]["payload"]["charged_s"] == pytest.approx(row.charged_s, abs=1e-3)
    # Nothing left today: the gate refuses the next session, and says so in the log.
    with pytest.raises(GenerationDenied, match="quota"):
        node.open_session(owner, identity)
    assert actions(node, identity)[-1] == "generation:request:deny"


def test_two_concurrent_offline_admissions_cannot_share_the_last_seconds(
    node: Node, people: People
) -> None:
    owner = node.researcher(quota_s=5.0)
    identity = node.character(owner, people.t1[1])

    def admit() -> str:
        try:
            node.services.gate.admit(owner, identity, Use.OFFLINE, seconds=3.0)
        except GenerationDenied as exc:
            assert "quota" in exc.detail
            return "deny"
        return "allow"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(lambda _: admit(), range(2)))
    assert outcomes == ["allow", "deny"]
    assert used(node, owner.subject) == 3.0
    decided = [a for a in actions(node, identity) if a.startswith("generation:request")]
    assert sorted(decided) == ["generation:request:allow", "generation:request:deny"]


@pytest.mark.slow
def test_an_offline_job_the_quota_does_not_cover_is_denied_in_the_log(
    node: Node, people: People, tmp_path: Path
) -> None:
    owner = node.researcher(quota_s=1.0)
    identity = node.character(owner, people.t1[2])
    audio = tmp_path / "speech.wav"
    text = "Hello, my name is Alex. Today I will tell you about the weather."
    subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(audio)], check=True)
    service = JobService(node.services)
    try:
        with pytest.raises(GenerationDenied, match="quota"):
            service.submit(owner, identity, audio)
    finally:
        service.close()
    decided = [a for a in actions(node, identity) if a.startswith("generation:request")]
    assert decided == ["generation:request:deny"]
    assert used(node, owner.subject) == 0.0


def test_a_failed_job_refunds_its_reservation_once_and_is_never_published(
    node: Node, people: People
) -> None:
    owner = node.researcher(quota_s=10.0)
    identity = node.character(owner, people.t1[5])
    admission = node.services.gate.admit(owner, identity, Use.OFFLINE, seconds=4.0)
    assert used(node, owner.subject) == 4.0
    job_id = "job_recovered_elsewhere"
    directory = jobs.job_directory(node.runtime, job_id)
    directory.mkdir(parents=True)
    (directory / "speech.wav").write_bytes(b"RIFF")
    with Session(node.runtime.engine) as db:
        db.add(
            GenerationJob(
                id=job_id,
                owner=owner.subject,
                identity_id=identity,
                status=JobStatus.QUEUED,
                frames_done=0,
                frames_total=100,
                audit_index=admission.receipt.index,
                seconds=4.0,
                created_at=datetime.now(UTC),
                node_id="a-node-that-stopped",
                heartbeat_at=datetime.now(UTC),
            )
        )
        db.commit()
    # Another node fails it (its lease lapsed): refunded, the voice deleted, audited once.
    assert jobs.fail(node.runtime, job_id, "system", "interrupted")
    assert not jobs.fail(node.runtime, job_id, "system", "interrupted")
    assert used(node, owner.subject) == 0.0
    assert not (directory / "speech.wav").exists()
    # Its own worker, still alive somewhere, neither renders nor publishes it.
    spec = JobSpec(
        job_id,
        owner.subject,
        owner.actor,
        str(node.runtime.settings.data_dir),
        node.runtime.settings.resolved_database_url,
        people.t1[5],
        str(directory / "speech.wav"),
        None,
        None,
        admission.receipt,
        admission.policy_version,
        None,
        25,
        "a-node-that-stopped",
        admission.quota_day,
        4.0,
        str(node.runtime.settings.keys_dir),
    )
    run_job(spec)
    assert not jobs.output_path(node.runtime, job_id).exists()
    assert actions(node, job_id).count("generation:job:fail") == 1
    assert "generation:job:complete" not in actions(node, job_id)
    assert actions(node, owner.subject).count("access:quota:refund") == 1
