"""procrastinate's queue under faults, on the loopback cluster (issue 17): a worker killed
with SIGKILL mid-render, a job lost from the queue, a job whose runs are used up.

- The killed worker's job is not failed by the servers' lease recovery: procrastinate's
  stalled-job recovery gives it to another worker, which renders it (one completion, charged
  once, no failure entry).
- A job queued in the ledger that procrastinate no longer holds (cancelled and deleted there)
  does not hold its quota forever: once its lease lapsed a server fails and refunds it.
- A job that has had ``RENDER_ATTEMPTS`` runs is failed, refunded and audited once by the next
  worker that takes it.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from lpm_guard.access.models import QuotaUsageRow
from lpm_guard.jobs.ledger import GenerationJob, JobStatus
from lpm_guard.jobs.queueing import RENDER_ATTEMPTS, procrastinate_app
from tests.consent.conftest import People

from .client import silence
from .conftest import Here
from .test_cluster import bearer, character

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.xdist_group("cluster")]


FAIL, COMPLETE = "generation:job:fail", "generation:job:complete"


def until(here: Here, what: str, condition: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            logs = {name: here.cluster.tail(name, 15) for name in here.cluster.processes}
            raise AssertionError(f"{what}; the cluster's logs: {logs}")
        time.sleep(0.2)


def test_a_killed_worker_s_job_is_rendered_by_another_and_lost_or_spent_jobs_are_refunded(
    here: Here, people: People, tmp_path: Path
) -> None:
    cluster = here.cluster
    engine = here.node.runtime.engine
    audit = here.node.runtime.audit
    account, token = here.researcher()
    identity = character(here, account.account_id, people.t1[4])

    def submit(seconds: float) -> str:
        with silence(tmp_path / f"{seconds}.wav", seconds).open("rb") as sound:
            response = httpx.post(
                f"{cluster.url}/v1/generations",
                data={"identity_id": identity},
                files={"audio": ("voice.wav", sound, "audio/wav")},
                headers=bearer(token),
                timeout=120,
            )
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def job(job_id: str) -> GenerationJob:
        with Session(engine) as db:
            row = db.get(GenerationJob, job_id)
        assert row is not None
        return row

    def used() -> float:
        with Session(engine) as db:
            row = db.exec(
                select(QuotaUsageRow).where(QuotaUsageRow.account_id == account.account_id)
            ).one()
        return row.seconds

    def entries(job_id: str, action: str) -> int:
        return len(audit.entries_about(job_id, action=action))

    # A worker takes a job and is killed mid-render.
    killed = submit(5.0)
    until(here, "no worker rendered", lambda: job(killed).frames_done > 0)
    worker = cluster.processes["worker-1"]
    assert worker.popen is not None
    os.killpg(worker.popen.pid, signal.SIGKILL)
    cluster.stop("worker-1")
    folder = cluster.media_dir / "jobs"
    try:
        assert job(killed).status == JobStatus.RUNNING
        assert list((folder / killed).glob(".*"))  # the killed run's unsigned video
        # While no worker runs: one job lost, one whose runs are used up.
        lost, spent = submit(1.0), submit(1.0)
        reserved = used()
        app = procrastinate_app(cluster.database_url)
        with app.open():
            # Lost: cancelled and deleted in procrastinate (by an operator, say).
            (queued,) = app.job_manager.list_jobs(lock=lost)
            assert app.job_manager.cancel_job_by_id(queued.id, delete_job=True)
        # Spent: the count procrastinate's stalled-job recovery leaves after as many runs
        # whose workers died.
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE procrastinate_jobs SET attempts = :n WHERE lock = :job"),
                {"n": RENDER_ATTEMPTS, "job": spent},
            )

        # The lost job: failed and refunded by a server once its lease lapsed, once (its
        # entry is the failure's last step).
        until(here, "the lost job holds its quota", lambda: entries(lost, FAIL) > 0, 30)
        assert job(lost).status == JobStatus.FAILED and entries(lost, FAIL) == 1
        assert used() == pytest.approx(reserved - job(lost).seconds, abs=0.01)
        # The killed worker's job: never failed by the servers' lease recovery.
        assert job(killed).status == JobStatus.RUNNING

        # Another worker: the spent job failed, the killed one rendered again once
        # procrastinate found its worker stalled (and its lease lapsed).
        cluster.start_worker(2)
        until(here, "the spent job was not failed", lambda: entries(spent, FAIL) > 0)
        until(
            here,
            "the killed worker's job was not rendered again",
            lambda: entries(killed, COMPLETE) + entries(killed, FAIL) > 0,
            timeout=150,
        )
        assert job(killed).status == JobStatus.SUCCEEDED, (job(killed), cluster.tail("worker-2"))
        assert job(killed).node_id == "worker-2"
        assert entries(killed, COMPLETE) == 1
        assert entries(killed, FAIL) == 0
        assert entries(spent, FAIL) == 1
        assert "interrupted" in (job(spent).error or "")
        # Charged once: the rendered job's seconds; the lost and spent ones refunded.
        assert used() == pytest.approx(job(killed).seconds, abs=0.01)
        assert not list((folder / killed).glob("speech.*"))
        assert (folder / killed / f"{killed}.mp4").exists()
        assert not list((folder / killed).glob(".*"))  # the killed run's is gone
        for gone in (lost, spent):
            assert list((folder / gone).iterdir()) == []
    finally:
        cluster.stop("worker-2")
        if "worker-1" not in cluster.processes:
            cluster.start_worker(1)
