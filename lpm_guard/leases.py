"""This node's leases on the work it runs, and the recovery of work whose node went away.

Every job and live session carries the node (process) that runs it and a heartbeat. While a
node holds work, a thread renews its leases every quarter lease (``LPM_NODE_LEASE_S``, 10 s by
default), and (in a server) recovers other nodes' work whose lease lapsed. What is renewed and
recovered is each kind of work's own business (``Leased``: offline jobs in
``jobs.ledger.JobLeases``, failed and refunded; live sessions in ``live.ledger.SessionLeases``,
closed with their stop entry, and those flagged revoked from another node stopped here): the
lease knows only when. Recovery is a compare-and-set on each row, so two nodes recovering at
once, or a node that recovers while the work's own node finishes it, leave one outcome and one
audit entry.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

from .logs import get_logger
from .runtime import Runtime

log = get_logger(__name__)

BEATS_PER_LEASE = 4


class Leased(Protocol):
    """One kind of work a node holds under its lease."""

    @property
    def kind(self) -> str:
        """Its name in logs, and its key in ``NodeLease`` (one part of each kind)."""
        ...

    def renew(self, runtime: Runtime, now: datetime) -> None:
        """Renew the lease on this node's unfinished work of this kind."""
        ...

    def recover(self, runtime: Runtime, *, own: bool) -> int:
        """End the lapsed work of this kind (with ``own``, this node's leftovers too);
        returns how many."""
        ...


class NodeLease:
    def __init__(
        self,
        runtime: Runtime,
        parts: Iterable[Leased] = (),
        *,
        recover: bool = False,
    ) -> None:
        self.runtime = runtime
        self.parts: dict[str, Leased] = {part.kind: part for part in parts}
        self.recovers = recover  # servers recover lapsed work; a CLI command only renews
        self.every_s = runtime.settings.node_lease_s / BEATS_PER_LEASE
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def node_id(self) -> str:
        return self.runtime.node_id

    def hold(self, part: Leased) -> None:
        """This node holds work of ``part``'s kind: renew it from now on (idempotent)."""
        with self._lock:
            self.parts.setdefault(part.kind, part)
        self.start()

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
        with self._lock:
            parts = list(self.parts.values())
        for part in parts:
            part.renew(self.runtime, now)
        # Other nodes' work whose lease lapsed (never this node's own: it is running it).
        if self.recovers:
            self.recover(own=False)

    def recover(self, *, own: bool = True) -> dict[str, int]:
        """Recover lapsed work, and with ``own`` (at start-up: a restart under the same node
        id) this node's leftovers; returns how many of each kind."""
        with self._lock:
            parts = list(self.parts.values())
        ended = {part.kind: part.recover(self.runtime, own=own) for part in parts}
        if any(ended.values()):
            log.warning("work of stopped nodes recovered", **ended)
        return ended
