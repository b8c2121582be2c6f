"""Factories for tests with more than one process on one database: a node (a runtime with
its session services), a researcher, an approved synthetic character, and a live session
streamed without HTTP."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from lpm_guard.policy import Policy
from lpm_guard.policy import Use as PolicyUse

from lpm_guard.access.principals import Principal
from lpm_guard.access.routes import AccessServices
from lpm_guard.access.scopes import Role, Scope
from lpm_guard.api import create_app
from lpm_guard.consent.models import SyntheticOrigin, Use
from lpm_guard.consent.services import ConsentService
from lpm_guard.gate.services import build_gate_services
from lpm_guard.live.checks import policy_stop
from lpm_guard.live.opening import open_live_session
from lpm_guard.live.services import LiveServices, build_live_services
from lpm_guard.live.session import LiveSession, PolicyStop, StopReason
from lpm_guard.runtime import Runtime
from lpm_guard.settings import Settings
from tests.access.world import World
from tests.consent.conftest import png

RESEARCHER_SCOPES = frozenset({Scope.IDENTITIES_WRITE, Scope.GENERATE_OFFLINE, Scope.GENERATE_LIVE})


class _NoSpeechChecks:
    """The live speech checks left out: these tests are about processes, not policy (and the
    real pool starts a speech model per worker). Instructions go through the policy's text
    check, in process, as the pool's checks send them."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    class _Check:
        def __init__(self, policy: Policy) -> None:
            self.policy = policy

        def audio(self, samples: np.ndarray, sample_rate: int) -> None:
            return None

        def transcript(self, text: str) -> None:
            return None

        def instructions(self, text: str) -> PolicyStop | None:
            return policy_stop(self.policy.check_text(text, PolicyUse.LIVE))

        def close(self) -> None:
            pass

    def checker(self) -> _Check:
        return self._Check(self.policy)

    def close(self) -> None:
        pass


@dataclass
class Node:
    """One process's view of the platform (tests open two on one database)."""

    runtime: Runtime
    services: LiveServices
    access: AccessServices

    @classmethod
    def open(cls, settings: Settings) -> Node:
        runtime = Runtime.open(settings)
        access: AccessServices = create_app(runtime=runtime).state.access
        services = build_live_services(build_gate_services(runtime, quotas=access.quotas))
        services.checks = _NoSpeechChecks(services.policy)  # type: ignore[assignment]
        return cls(runtime, services, access)

    def close(self) -> None:
        self.services.lease.stop()
        self.services.checks.close()
        self.runtime.close()

    def researcher(self, quota_s: float = 600.0) -> Principal:
        world = World(self.access, None, "", self.runtime)  # type: ignore[arg-type]
        account = world.researcher(quota_s=quota_s)
        return Principal(account.account_id, RESEARCHER_SCOPES, Role.RESEARCHER)

    def character(self, owner: Principal, photo: np.ndarray) -> str:
        """A synthetic character a reviewer approved: generatable without a capture."""
        consent = ConsentService(self.runtime)
        view = consent.enroll_synthetic(
            owner,
            "Test Host",
            SyntheticOrigin.AI_GENERATED,
            "This character was generated and depicts no real person.",
            [png(photo)],
            [Use.OFFLINE, Use.LIVE],
        )
        consent.review_synthetic("reviewer:test", view.id, approve=True, reason="checked")
        return view.id

    def open_session(
        self, owner: Principal, identity: str, instructions: str | None = None
    ) -> LiveSession:
        opened = open_live_session(
            self.services, owner, identity, instructions=instructions, size="512x512", fps=25
        )
        session, _ = self.services.registry.get(opened.session_id)
        return session


@dataclass
class Stream:
    """A live session streamed in a thread of its own, as a client would read it."""

    session: LiveSession
    frames: int = 0
    closed: dict[str, object] | None = None
    closed_at: float = 0.0  # wall clock, when session.closed arrived
    done: threading.Event = field(default_factory=threading.Event)
    events: list[dict[str, Any]] = field(default_factory=list)  # every JSON event, in order

    def wait_event(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        """The first event of type ``kind`` (waiting for it while the session runs)."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((e for e in list(self.events) if e["type"] == kind), None)
            if found is not None:
                return found
            assert time.monotonic() < deadline, f"no {kind} in {self.events}"
            time.sleep(0.01)

    def wait_frames(self, n: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.frames < n:
            assert not self.done.is_set(), f"the session ended early: {self.closed}"
            assert time.monotonic() < deadline, "no frames"
            time.sleep(0.01)

    def wait_closed(self, timeout: float = 10.0) -> dict[str, object]:
        assert self.done.wait(timeout), "the session did not stop"
        assert self.closed is not None
        return self.closed


@contextmanager
def streaming(
    session: LiveSession, on_frame: Callable[[int], None] | None = None
) -> Iterator[Stream]:
    stream = Stream(session)

    async def read() -> None:
        session.start(asyncio.get_running_loop())
        async for message in session.outgoing():
            if isinstance(message, bytes):
                stream.frames += 1
                if on_frame is not None:
                    on_frame(stream.frames)
            else:
                event = json.loads(message)
                stream.events.append(event)
                if event["type"] == "session.closed":
                    stream.closed, stream.closed_at = event, time.time()

    def run() -> None:
        try:
            asyncio.run(read())
        finally:
            stream.done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield stream
    finally:
        session.stop(StopReason.CLIENT_CLOSED)  # the first reason wins
        thread.join(10)
        session.join(5)
