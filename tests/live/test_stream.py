from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import websockets
from fastapi import FastAPI
from lpm_guard.generator import Character
from websockets.exceptions import ConnectionClosed

from lpm_guard.live.protocol import VideoFrame, encode_audio
from lpm_guard.live.registry import RegistryLimits, SessionRegistry
from lpm_guard.live.session import LiveSession, SessionLimits
from lpm_guard.performers import Direction
from lpm_guard.performers.local import LocalPerformer


def open_session(app: FastAPI, character: Character, **limits: float) -> tuple[str, str]:
    registry: SessionRegistry = app.state.sessions
    session = LiveSession(
        LocalPerformer(character, Direction()),
        session_id=f"sess-{time.monotonic_ns()}",
        limits=SessionLimits(**limits),
    )
    return session.session_id, registry.add(session, "researcher:a")


async def frames(
    ws: websockets.ClientConnection, count: int
) -> tuple[list[VideoFrame], list[dict[str, object]]]:
    got: list[VideoFrame] = []
    events: list[dict[str, object]] = []
    while len(got) < count:
        message = await asyncio.wait_for(ws.recv(), 10)
        if isinstance(message, bytes):
            got.append(VideoFrame.unpack(message))
        else:
            events.append(json.loads(message))
    return got, events


def test_a_ticket_opens_the_stream_once(
    app: FastAPI, base: str, character: Character, speech24: np.ndarray
) -> None:
    sid, ticket = open_session(app, character)

    async def main() -> None:
        async with websockets.connect(f"{base}/v1/sessions/{sid}/stream?ticket=wrong") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        async with websockets.connect(f"{base}/v1/sessions/{sid}/stream?ticket={ticket}") as ws:
            await ws.send(
                json.dumps({"type": "input_audio_buffer.append", "audio": encode_audio(speech24)})
            )
            got, events = await frames(ws, 30)
            assert [f.index for f in got] == list(range(30))
            assert events[0]["type"] == "session.created"
            await ws.send("not json")
            await ws.send(json.dumps({"type": "session.close"}))
            rest = [m async for m in ws]
            texts = [json.loads(m) for m in rest if isinstance(m, str)]
            assert any(e["type"] == "error" for e in texts)
            assert texts[-1]["type"] == "session.closed" and texts[-1]["reason"] == "client_closed"
        # Used: the same ticket opens nothing now, and the session is gone.
        async with websockets.connect(f"{base}/v1/sessions/{sid}/stream?ticket={ticket}") as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404

    asyncio.run(main())
    assert len(app.state.sessions) == 0


def test_a_client_that_stops_reading_does_not_grow_the_server(
    app: FastAPI, base: str, character: Character
) -> None:
    sid, ticket = open_session(app, character, outbox_frames=4)
    session, _ = app.state.sessions.get(sid)

    async def main() -> None:
        # A small receive buffer, so the kernel cannot soak up seconds of video for the client.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
        host, port = base.removeprefix("ws://").split(":")
        sock.connect((host, int(port)))
        async with websockets.connect(
            f"{base}/v1/sessions/{sid}/stream?ticket={ticket}", sock=sock, max_queue=1
        ) as ws:
            # Read nothing while 250 frames (about 9 MB of JPEG) are rendered, more than the
            # kernel's socket buffers hold (4 MB here).
            deadline = time.monotonic() + 60
            while session.stats.frames < 250 and time.monotonic() < deadline:
                await asyncio.sleep(0.25)
            assert session.stats.frames >= 250
            assert session.stats.frames_dropped > 0
            assert len(session._frames) <= 4
            await ws.close()

    asyncio.run(main())


def test_limits_per_owner_and_per_process(character: Character) -> None:
    from lpm_guard.live.errors import SessionLimitReached

    registry = SessionRegistry(RegistryLimits(per_owner=1, per_process=2))
    registry.add(
        LiveSession(LocalPerformer(character, Direction()), session_id="a"), "researcher:a"
    )
    with pytest.raises(SessionLimitReached):
        registry.add(
            LiveSession(LocalPerformer(character, Direction()), session_id="b"), "researcher:a"
        )
    registry.add(
        LiveSession(LocalPerformer(character, Direction()), session_id="c"), "researcher:b"
    )
    with pytest.raises(SessionLimitReached):
        registry.add(
            LiveSession(LocalPerformer(character, Direction()), session_id="d"), "researcher:c"
        )


def test_an_unclaimed_ticket_expires(character: Character) -> None:
    from lpm_guard.errors import Unauthenticated

    now = [0.0]
    registry = SessionRegistry(clock=lambda: now[0])
    session = LiveSession(LocalPerformer(character, Direction()), session_id="x")
    ticket = registry.add(session, "researcher:a")
    now[0] += 61.0
    with pytest.raises(Unauthenticated):
        registry.claim("x", ticket)


def test_the_limits_come_from_the_settings(tmp_path: Path) -> None:
    from lpm_guard.api import create_app
    from lpm_guard.runtime import Runtime
    from lpm_guard.settings import Settings

    settings = Settings(
        data_dir=tmp_path, live_sessions_per_researcher=3, live_sessions_per_process=5
    )
    runtime = Runtime.open(settings)
    try:
        limits = create_app(runtime=runtime).state.sessions.limits
        assert (limits.per_owner, limits.per_process) == (3, 5)
    finally:
        runtime.close()
