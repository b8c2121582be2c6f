"""Revocation notifications: how running live sessions learn that consent was withdrawn.

``RevocationBus`` is the seam. ``InProcessRevocationBus`` serves one server process: the
consent service publishes after the revocation is committed, and every subscriber's callback
runs at once in the publisher's thread (a live session sets a flag or cancels its task; it
must not block).

A second server process subscribes through the database instead: a PostgreSQL implementation
would ``NOTIFY lpm_consent_revoked, '<identity id>'`` in the revoking transaction (delivered
only on commit) and run one ``LISTEN lpm_consent_revoked`` connection per process whose thread
calls the same local callbacks. The service and the subscribers do not change; only the bus
given to the ``Runtime`` does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ..logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Revocation:
    identity_id: str
    revoked_at: datetime
    revoked_by: str  # "subject" or the reviewer's subject


Listener = Callable[[Revocation], None]


class Subscription(Protocol):
    def close(self) -> None: ...


class RevocationBus(Protocol):
    def publish(self, revocation: Revocation) -> None:
        """Tell every subscriber, in this process and (for shared buses) in others."""
        ...

    def subscribe(self, listener: Listener, identity_id: str | None = None) -> Subscription:
        """Call ``listener`` for revocations of ``identity_id`` (of every identity if None)."""
        ...


class _Handle:
    def __init__(self, bus: InProcessRevocationBus, key: int) -> None:
        self._bus, self._key = bus, key

    def close(self) -> None:
        self._bus._remove(self._key)

    def __enter__(self) -> _Handle:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class InProcessRevocationBus:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[int, tuple[str | None, Listener]] = {}
        self._next = 0

    def publish(self, revocation: Revocation) -> None:
        with self._lock:
            listeners = list(self._listeners.values())
        for identity_id, listener in listeners:
            if identity_id is None or identity_id == revocation.identity_id:
                try:
                    listener(revocation)
                except Exception:  # one broken subscriber must not hide the news from others
                    log.exception("revocation listener failed", identity=revocation.identity_id)

    def subscribe(self, listener: Listener, identity_id: str | None = None) -> _Handle:
        with self._lock:
            key = self._next
            self._next += 1
            self._listeners[key] = (identity_id, listener)
        return _Handle(self, key)

    def _remove(self, key: int) -> None:
        with self._lock:
            self._listeners.pop(key, None)
