"""The WebSocket that carries one live session: ``/v1/sessions/{id}/stream?ticket=...``.

Who may call it: whoever holds the session's one-time ticket (issued to the researcher whose
request passed the gate). A wrong, used or expired ticket closes the socket with code 4401, an
unknown session with 4404, before anything is rendered. The session and its ticket live on the
node that opened it (the stream URL names that node: ``LPM_NODE_URL``); a socket that reaches
another node closes with 4409 and the holder's URL as the reason.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ..errors import NotFound, Unauthenticated
from . import ledger
from .errors import ProtocolError
from .protocol import ServerEventType, parse_client_event
from .registry import SessionRegistry
from .session import LiveSession, StopReason

router = APIRouter()

CLOSE_UNAUTHORISED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_ELSEWHERE = 4409  # the session is open on another node: the reason is that node's URL


def registry_of(websocket: WebSocket) -> SessionRegistry:
    registry: SessionRegistry = websocket.app.state.sessions
    return registry


@router.websocket("/v1/sessions/{session_id}/stream")
async def stream(websocket: WebSocket, session_id: str, ticket: str = "") -> None:
    registry = registry_of(websocket)
    # Accepted first so that a refusal reaches the client as a close code with a reason
    # (browsers see only a bare failure when the handshake itself is refused).
    await websocket.accept()
    try:
        session = registry.claim(session_id, ticket)
    except NotFound:
        elsewhere = await asyncio.to_thread(
            ledger.holder_url, websocket.app.state.runtime, session_id
        )
        if elsewhere:
            await websocket.close(CLOSE_ELSEWHERE, elsewhere.replace("http", "ws", 1)[:120])
        else:
            await websocket.close(CLOSE_NOT_FOUND, "no such live session")
        return
    except Unauthenticated as exc:
        await websocket.close(CLOSE_UNAUTHORISED, exc.detail)
        return
    session.start(asyncio.get_running_loop())
    reader = asyncio.create_task(_read(websocket, session))
    try:
        async for message in session.outgoing():
            if isinstance(message, bytes):
                await websocket.send_bytes(message)
            else:
                await websocket.send_text(message)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away; the session stops below
    finally:
        session.stop(StopReason.CLIENT_CLOSED)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
        await asyncio.to_thread(session.join, 5.0)  # its end takes it off the registry
        with contextlib.suppress(Exception):
            await websocket.close()


async def _read(websocket: WebSocket, session: LiveSession) -> None:
    try:
        while not session.stopped:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            raw = message.get("text") or message.get("bytes") or b""
            try:
                event = parse_client_event(raw)
            except ProtocolError as exc:
                session.notify(
                    ServerEventType.ERROR,
                    error={
                        "type": "invalid_request_error",
                        "message": exc.detail,
                        **exc.extensions,
                    },
                )
                continue
            session.handle(event)
    finally:
        session.stop(StopReason.CLIENT_CLOSED)
