"""Live sessions held by this process: opened by the gate, claimed once by a WebSocket ticket.

A session passes the gate when it is created (``POST /v1/sessions``); what the client gets
back is a session id and a ticket that opens the stream once, within a short time. Tickets are
random, kept only as SHA-256 digests, and compared in constant time. Limits: sessions per owner
and per process, counted from creation so a burst of creations cannot overrun them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ..errors import NotFound, Unauthenticated
from .errors import SessionLimitReached
from .session import LiveSession, StopReason

TICKET_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class RegistryLimits:
    per_owner: int = 2
    per_process: int = 8


@dataclass(slots=True)
class _Entry:
    session: LiveSession
    owner: str
    ticket_digest: bytes
    ticket_expires: float
    claimed: bool = False
    tags: dict[str, str] = field(default_factory=dict)  # e.g. identity id, for revocation


def _digest(ticket: str) -> bytes:
    return hashlib.sha256(ticket.encode()).digest()


class SessionRegistry:
    def __init__(
        self, limits: RegistryLimits | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = limits or RegistryLimits()
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        # Reentrant: stopping an unstarted session during a sweep ends it, and its end removes
        # its entry (``add`` registers that).
        self._lock = threading.RLock()

    def add(self, session: LiveSession, owner: str, **tags: str) -> str:
        """Hold ``session`` for ``owner``; returns the one-time ticket that opens its stream."""
        with self._lock:
            self._sweep()
            if len(self._entries) >= self.limits.per_process:
                raise SessionLimitReached(
                    "this server runs as many live sessions as it can; try again later",
                    limit=self.limits.per_process,
                )
            mine = sum(1 for e in self._entries.values() if e.owner == owner)
            if mine >= self.limits.per_owner:
                raise SessionLimitReached(
                    f"at most {self.limits.per_owner} live sessions at a time",
                    limit=self.limits.per_owner,
                )
            ticket = secrets.token_urlsafe(32)
            self._entries[session.session_id] = _Entry(
                session, owner, _digest(ticket), self._clock() + TICKET_SECONDS, tags=dict(tags)
            )
        # However it ends (streamed and closed, revoked unopened, expired), it leaves the books.
        session.on_end(lambda: self.remove(session.session_id))
        return ticket

    def claim(self, session_id: str, ticket: str) -> LiveSession:
        """The session a ticket opens, once; a wrong, used or expired ticket opens nothing."""
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None:
                raise NotFound("no such live session")
            valid = hmac.compare_digest(entry.ticket_digest, _digest(ticket))
            if not valid or entry.claimed or self._clock() > entry.ticket_expires:
                raise Unauthenticated("the stream ticket is not valid (wrong, used or expired)")
            entry.claimed = True
            return entry.session

    def get(self, session_id: str) -> tuple[LiveSession, str]:
        with self._lock:
            entry = self._entries.get(session_id)
            if entry is None:
                raise NotFound("no such live session")
            return entry.session, entry.owner

    def held(self) -> list[str]:
        """The ids of the sessions this process runs (or holds for their stream) now."""
        with self._lock:
            return list(self._entries)

    def remove(self, session_id: str) -> None:
        with self._lock:
            self._entries.pop(session_id, None)

    def matching(self, **tags: str) -> Iterator[LiveSession]:
        """Sessions whose tags include all of ``tags`` (the owner is the tag ``owner``)."""
        with self._lock:
            found = [
                e.session
                for e in self._entries.values()
                if all((e.owner if k == "owner" else e.tags.get(k)) == v for k, v in tags.items())
            ]
        yield from found

    def stop_matching(self, reason: StopReason, detail: str, **tags: str) -> int:
        """Stop every session matching ``tags`` (revocations); returns how many."""
        stopped = 0
        for session in self.matching(**tags):
            if not session.stopped:
                session.stop(reason, detail)
                stopped += 1
        return stopped

    def stop_all(self, reason: StopReason = StopReason.SHUTDOWN) -> None:
        with self._lock:
            sessions = [e.session for e in self._entries.values()]
        for session in sessions:
            session.stop(reason)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _sweep(self) -> None:
        """Forget sessions whose ticket expired unclaimed (the caller holds the lock)."""
        now = self._clock()
        for sid, entry in list(self._entries.items()):
            if not entry.claimed and now > entry.ticket_expires:
                entry.session.stop(StopReason.IDLE, "the stream was never opened")
                self._entries.pop(sid, None)
