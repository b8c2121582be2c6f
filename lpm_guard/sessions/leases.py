"""This node's leases on the work it runs, and the recovery of work whose node went away.

Every job and live session carries the node (process) that runs it and a heartbeat. While a
node holds work, a thread renews its leases every quarter lease (``LPM_NODE_LEASE_S``, 10 s by
default) in two short UPDATEs, stops the sessions flagged revoked from another node before their
stream started, and (in a server) recovers other nodes' work whose lease lapsed: a job failed
and its quota refunded, a session closed with its stop entry. Recovery is a compare-and-set on
each row, so two nodes recovering at once, or a node that recovers while the work's own node
finishes it, leave one outcome and one audit entry.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from ..errors import NotFound
from ..logs import get_logger
from ..runtime import Runtime
from . import jobs, ledger
from .live import StopReason
from .registry import SessionRegistry

log = get_logger(__name__)

BEATS_PER_LEASE = 4


class NodeLease:
    def __init__(
        self,
        runtime: Runtime,
        registry: SessionRegistry | None = None,
        *,
        recover: bool = False,
    ) -> None:
        self.runtime = runtime
        self.registry = registry
        self.recovers = recover  # servers recover lapsed work; a CLI command only renews
        self.every_s = runtime.settings.node_lease_s / BEATS_PER_LEASE
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def node_id(self) -> str:
        return self.runtime.node_id

    def start(self) -> None:
        """Renew this node's leases from now on (idempotent)."""
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name=f"lease-{self.node_id}", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                self.beat()
            except Exception:  # a database outage: the next beat tries again
                log.exception("renewing this node's leases failed", node=self.node_id)

    def beat(self) -> None:
        now = datetime.now(UTC)
        # (1): renew: every unfinished job and open session of this node.
        with Session(self.runtime.engine) as db:
            db.execute(
                update(jobs.GenerationJob)
                .where(
                    col(jobs.GenerationJob.node_id) == self.node_id,
                    col(jobs.GenerationJob.status).in_(jobs.UNFINISHED),
                )
                .values(heartbeat_at=now)
            )
            db.execute(
                update(ledger.LiveSessionRow)
                .where(
                    col(ledger.LiveSessionRow.node_id) == self.node_id,
                    col(ledger.LiveSessionRow.status) == ledger.LiveStatus.OPEN,
                )
                .values(heartbeat_at=now)
            )
            db.commit()
            flagged = (
                db.exec(
                    select(ledger.LiveSessionRow.id, ledger.LiveSessionRow.revoke_detail).where(
                        col(ledger.LiveSessionRow.node_id) == self.node_id,
                        col(ledger.LiveSessionRow.status) == ledger.LiveStatus.OPEN,
                        col(ledger.LiveSessionRow.revoked_at).is_not(None),
                    )
                ).all()
                if self.registry is not None
                else []
            )
        # (2): sessions revoked on another node before their stream started (a started one's
        # watch has stopped it already).
        for session_id, detail in flagged:
            assert self.registry is not None
            try:
                session, _ = self.registry.get(session_id)
            except NotFound:
                continue
            session.stop(StopReason.REVOKED, detail or "the session was revoked")
        # (3): other nodes' work whose lease lapsed (never this node's own: it is running it).
        if self.recovers:
            self.recover(own=False)

    def recover(self, *, own: bool = True) -> tuple[int, int]:
        """Recover lapsed work, and with ``own`` (at start-up: a restart under the same node
        id) this node's leftovers; returns (jobs, sessions)."""
        failed = jobs.recover(self.runtime, own=own)
        closed = ledger.recover(self.runtime, own=own)
        if failed or closed:
            log.warning("work of stopped nodes recovered", jobs=failed, sessions=closed)
        return failed, closed
