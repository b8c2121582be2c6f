"""A node killed with SIGKILL mid-job and mid-session (issue 17, faults): every process it
started dies with it, and once its lease lapses a neighbour recovers its work. The job is failed
once (never also completed), its quota refunded, its voice and unsigned video removed; the
session is closed with its stop entry, the frames and seconds it streamed until its last charge
recorded and charged; no unsigned file is left, and the audit log verifies.

The test watches the server through the database it shares with it, not through the server's
HTTP answers (a loaded machine may starve the server for seconds: that must not decide whether
the kill happens mid-job)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from lpm_guard.access.models import QuotaUsageRow
from lpm_guard.access.principals import Principal
from lpm_guard.access.scopes import Role
from lpm_guard.jobs.ledger import JOB_LEASES, GenerationJob, JobStatus, job_directory
from lpm_guard.leases import NodeLease
from lpm_guard.live.ledger import LiveSessionRow, LiveStatus, SessionLeases, record_directory
from lpm_guard.live.watching import CHARGE_EVERY_S
from lpm_guard.settings import Settings
from tests.access.world import World
from tests.cli.test_serve import alive, descendants
from tests.cluster.client import LiveClient, silence
from tests.consent.conftest import People
from tests.server import free_port

from .nodes import RESEARCHER_SCOPES, Node

pytestmark = pytest.mark.slow

FPS = 10  # the session's: the least the API takes (the machine is small and shared)
LEASE_S = 2.0


class Server:
    """``lpm-guard serve`` in a process of its own, on SQLite in ``data``."""

    def __init__(self, data: Path, node_id: str) -> None:
        self.data = data
        self.node_id = node_id
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data.parent / f"{node_id}.log"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "LPM_DATA_DIR": str(self.data),
            "LPM_NODE_ID": self.node_id,
            "LPM_NODE_URL": self.url,
            "LPM_NODE_LEASE_S": str(LEASE_S),
            "LPM_LOG_LEVEL": "WARNING",
            "LPM_CHECKPOINT_INTERVAL_S": "3600",
            "LPM_LIVE_SPEECH_WORKERS": "1",
            "LPM_AUDIO_CHECK_WORKERS": "1",
        }

    def start(self) -> Server:
        self.data.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lpm_guard", "serve", "--port", str(self.port)],
                env=self.env(),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + 120
        while True:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "data", "node-crash").start()
    try:
        yield running
    finally:
        running.stop()


def until(what: str, condition: object, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_node_killed_mid_job_and_mid_session_is_recovered_by_the_lease_rules(
    server: Server, people: People, tmp_path: Path
) -> None:
    # A neighbour on the same database: the test's eyes, and the node that recovers.
    settings = Settings(
        data_dir=server.data, node_id="neighbour", node_lease_s=LEASE_S, checkpoint_interval_s=3600
    )
    node = Node.open(settings)
    http = httpx.Client(base_url=server.url, timeout=120)
    try:
        world = World(node.access, http, server.url, node.runtime)
        account = world.researcher(quota_s=600.0)
        token = world.client_token(
            account, scope="identities:write generate:offline generate:live"
        ).json()["access_token"]
        owner = Principal(account.account_id, RESEARCHER_SCOPES, Role.RESEARCHER)
        identity = node.character(owner, people.t1[3])
        headers = {"Authorization": f"Bearer {token}"}

        # A session streaming and a job rendering on the server (opened at once: each starts
        # a pool of worker processes).
        with ThreadPoolExecutor(1) as opener:
            opening = opener.submit(LiveClient.open, server.url, token, identity, fps=FPS)
            with silence(tmp_path / "voice.wav", 20.0).open("rb") as sound:
                submitted = http.post(
                    "/v1/generations",
                    data={"identity_id": identity},
                    files={"audio": ("voice.wav", sound, "audio/wav")},
                    headers=headers,
                )
            assert submitted.status_code == 202, submitted.text
            job_id = submitted.json()["id"]
            live = opening.result().start()

        def job() -> GenerationJob:
            with Session(node.runtime.engine) as db:
                row = db.get(GenerationJob, job_id)
            assert row is not None
            return row

        def session() -> LiveSessionRow:
            with Session(node.runtime.engine) as db:
                row = db.get(LiveSessionRow, live.session_id)
            assert row is not None
            return row

        # Mid-job: frames rendered; mid-session: charged at least once.
        until("the job never rendered a frame", lambda: job().frames_done > 0)
        until("the session was never charged", lambda: session().frames > 0)
        assert job().status == JobStatus.RUNNING, job()
        assert not live.done.is_set(), live.closed

        # SIGKILL: no handler runs, no child is told.
        assert server.process is not None
        children = descendants(server.process.pid)
        assert children  # the render worker, the audio and speech checks' workers
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
        assert live.done.wait(10)
        streamed, charged = live.frames, session()
        until(
            "processes outlived their server (PPID 1)",
            lambda: not [pid for pid in children if alive(pid)],
            timeout=10,
        )
        # Nothing of it moves any more: the job is where the kill left it.
        assert job().status == JobStatus.RUNNING

        # Its lease lapses; a neighbour recovers its work (the lease rules, as every server
        # runs them every quarter lease).
        time.sleep(LEASE_S)
        lease = NodeLease(node.runtime, [JOB_LEASES, SessionLeases()], recover=True)
        assert lease.recover(own=False) == {"jobs": 1, "sessions": 1}
        assert lease.recover(own=False) == {"jobs": 0, "sessions": 0}  # once
        row, failed = session(), job()
        assert failed.status == JobStatus.FAILED
        assert row.status == LiveStatus.ENDED and row.stop_reason == "shutdown"
        # Recorded: the frames and seconds up to the last charge before the kill, no fewer.
        assert 0 < charged.frames <= row.frames <= streamed, (charged.frames, row.frames, streamed)
        assert streamed - row.frames <= FPS * (CHARGE_EVERY_S + 1), (row.frames, streamed)
        assert row.charged_s == pytest.approx(row.frames / FPS, abs=1.0)
        with Session(node.runtime.engine) as db:
            used = db.exec(
                select(QuotaUsageRow).where(QuotaUsageRow.account_id == account.account_id)
            ).one()
        # Charged: the session's seconds; the job's reservation refunded.
        assert used.seconds == pytest.approx(row.charged_s, abs=0.01)

        audit = node.runtime.audit
        stops = audit.entries_about(live.session_id, action="session:stream:stop")
        assert len(stops) == 1
        stop = stops[0].entry.event.payload
        assert stop["reason"] == "shutdown" and stop["frames"] == row.frames
        assert len(audit.entries_about(job_id, action="generation:job:fail")) == 1
        assert audit.entries_about(job_id, action="generation:job:complete") == []
        # Nothing unsigned, no voice: the job's folder is empty, the session's holds only
        # signed segments.
        assert list(job_directory(node.runtime, job_id).iterdir()) == []
        assert not list(record_directory(node.runtime, live.session_id).glob("*unsigned*"))
        audit.verify()
    finally:
        http.close()
        node.close()
