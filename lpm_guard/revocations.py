"""Revocation notifications: how running live sessions learn that consent was withdrawn (or a
session was revoked) at once, wherever it was revoked.

``RevocationBus`` is the seam. ``InProcessRevocationBus`` serves one process: the consent
service publishes after the revocation is committed, and every subscriber's callback runs at
once in the publisher's thread (a live session sets a flag; it must not block).

``PostgresRevocationBus`` adds the other processes and machines on one PostgreSQL database: a
publish also sends ``NOTIFY lpm_revoked`` and one ``LISTEN`` connection per process (a thread,
started with the first subscription) calls the same local callbacks. Notifications are the fast
path only: a session's own watch reads its identity's consent and its row's revoked flag twice
a second (``live/watching.py``), so a lost notification costs half a second, never a stop.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Engine, text

from .logs import get_logger

log = get_logger(__name__)

CHANNEL = "lpm_revoked"


@dataclass(frozen=True, slots=True)
class Revocation:
    identity_id: str
    revoked_at: datetime
    revoked_by: str  # "subject" or the reviewer's subject
    # One live session revoked (``DELETE /v1/sessions/{id}``), not the identity's consent:
    # listeners for consent ignore these.
    session_id: str | None = None
    detail: str | None = None


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

    def publish_elsewhere(self, revocation: Revocation) -> None:
        """Tell the other processes only (one live session revoked here runs elsewhere);
        nothing for a bus that reaches no other process."""
        ...

    def close(self) -> None:
        """Stop listening to other processes (the runtime is closing)."""
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
        self._deliver(revocation)

    def _deliver(self, revocation: Revocation) -> None:
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

    def publish_elsewhere(self, revocation: Revocation) -> None:
        pass

    def close(self) -> None:
        pass


def _encode(revocation: Revocation, origin: str) -> str:
    return json.dumps(
        {
            "origin": origin,
            "identity_id": revocation.identity_id,
            "revoked_at": revocation.revoked_at.isoformat(),
            "revoked_by": revocation.revoked_by,
            "session_id": revocation.session_id,
            "detail": revocation.detail,
        }
    )


def _decode(payload: str) -> tuple[str, Revocation]:
    data: dict[str, Any] = json.loads(payload)
    return str(data["origin"]), Revocation(
        identity_id=str(data["identity_id"]),
        revoked_at=datetime.fromisoformat(data["revoked_at"]),
        revoked_by=str(data["revoked_by"]),
        session_id=data.get("session_id"),
        detail=data.get("detail"),
    )


class PostgresRevocationBus(InProcessRevocationBus):
    """In-process delivery, plus ``NOTIFY``/``LISTEN`` to every other process on the database."""

    RECONNECT_S = 1.0

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self._engine = engine
        self._origin = secrets.token_hex(8)  # our own notifications come back: skip them
        self._closing = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def publish(self, revocation: Revocation) -> None:
        self._deliver(revocation)  # this process's sessions first, without a round trip
        self.publish_elsewhere(revocation)

    def publish_elsewhere(self, revocation: Revocation) -> None:
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    text("SELECT pg_notify(:channel, :payload)"),
                    {"channel": CHANNEL, "payload": _encode(revocation, self._origin)},
                )
        except Exception:  # committed already; the other processes' watches still see it
            log.exception("NOTIFY of a revocation failed", identity=revocation.identity_id)

    def subscribe(self, listener: Listener, identity_id: str | None = None) -> _Handle:
        self.listen()
        return super().subscribe(listener, identity_id)

    def listen(self, timeout: float | None = None) -> bool:
        """Start the LISTEN thread if it is not running; with ``timeout``, wait until it
        listens (tests). Returns whether it does."""
        with self._start_lock:
            if self._thread is None and not self._closing.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="revocation-listener", daemon=True
                )
                self._thread.start()
        return self._listening.wait(timeout) if timeout else self._listening.is_set()

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join(2 * self.RECONNECT_S)

    def _run(self) -> None:
        while not self._closing.is_set():
            try:
                self._listen_once()
            except Exception:
                self._listening.clear()
                if not self._closing.is_set():
                    log.exception("the revocation listener lost its connection; reconnecting")
                self._closing.wait(self.RECONNECT_S)

    def _listen_once(self) -> None:
        raw = self._engine.raw_connection()
        conn: Any = raw.driver_connection
        raw.detach()  # a connection of its own, never returned to the pool half-listening
        try:
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
            self._listening.set()
            while not self._closing.is_set():
                for note in conn.notifies(timeout=self.RECONNECT_S):
                    try:
                        origin, revocation = _decode(note.payload)
                    except (ValueError, KeyError, TypeError):
                        log.warning("an unreadable revocation notification was ignored")
                        continue
                    if origin != self._origin:
                        self._deliver(revocation)
        finally:
            self._listening.clear()
            conn.close()


def bus_for(engine: Engine) -> InProcessRevocationBus:
    """The bus for a runtime on ``engine``: across processes where the database can notify."""
    if engine.dialect.name == "postgresql":
        return PostgresRevocationBus(engine)
    return InProcessRevocationBus()
