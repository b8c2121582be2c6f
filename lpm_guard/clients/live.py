"""A small asyncio client for live sessions (the protocol in ``lpm_guard.live.protocol``).

    async with LiveClient.connect(stream_url) as client:
        await client.speak(pcm16_24k_bytes)          # the character says it
        async for item in client:                    # frames and events, in order
            if isinstance(item, VideoFrame): show(item.jpeg); play(item.audio)
            else: print(item["type"])

``stream_url`` is the ``ws://…/v1/sessions/{id}/stream?ticket=…`` that ``POST /v1/sessions``
returns. It imports nothing from the server side but the protocol module.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import websockets

from ..live.protocol import VideoFrame

Event = dict[str, Any]


class SessionRefused(Exception):
    """The server refused a token or a session: ``status`` and its problem+json ``problem``."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        detail = problem.get("detail") or problem.get("error_description") or problem
        super().__init__(f"{status}: {detail}")
        self.status, self.problem = status, problem


@dataclass(frozen=True)
class OpenedSession:
    session_id: str
    stream_url: str
    audit_index: int


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            data: dict[str, Any] = json.loads(answer.read())
            return data
    except urllib.error.HTTPError as exc:
        try:
            problem = json.loads(exc.read())
        except ValueError:
            problem = {"detail": exc.reason}
        raise SessionRefused(exc.code, problem) from None


def open_session(
    base_url: str,
    client_id: str,
    client_secret: str,
    identity_id: str,
    *,
    instructions: str | None = None,
    size: str = "512x512",
    fps: int = 25,
    timeout: float = 30.0,
) -> OpenedSession:
    """An API client's own live session (blocking: call it in a thread from async code): a
    client-credentials token for ``generate:live``, then ``POST /v1/sessions`` through the
    gate. Raises ``SessionRefused`` with the server's problem (a 403 names the gate's
    reasons)."""
    base = base_url.rstrip("/")
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": "generate:live"})
    token = _post(
        f"{base}/oauth/token",
        form.encode(),
        {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        timeout,
    )["access_token"]
    body: dict[str, Any] = {"identity_id": identity_id, "size": size, "fps": fps}
    if instructions is not None:
        body["instructions"] = instructions
    opened = _post(
        f"{base}/v1/sessions",
        json.dumps(body).encode(),
        {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout,
    )
    return OpenedSession(opened["session_id"], opened["stream_url"], int(opened["audit_index"]))


class LiveClient:
    def __init__(self, connection: websockets.ClientConnection) -> None:
        self.connection = connection

    @classmethod
    def connect(cls, url: str, **options: Any) -> _Connecting:
        return _Connecting(url, options)

    async def send(self, kind: str, **fields: Any) -> None:
        await self.connection.send(json.dumps({"type": kind, **fields}))

    async def speak(self, pcm16: bytes, response_id: str | None = None) -> None:
        """The agent's voice (PCM16, 24 kHz, mono): the character says it. ``response_id``
        names the reply it belongs to (repeated in the playback events)."""
        ids = {"response_id": response_id} if response_id else {}
        await self.send(
            "response.output_audio.delta", delta=base64.b64encode(pcm16).decode(), **ids
        )

    async def hear(self, pcm16: bytes) -> None:
        """The user's voice (PCM16, 24 kHz, mono): the character listens to it."""
        await self.send("input_audio_buffer.append", audio=base64.b64encode(pcm16).decode())

    async def transcript(self, text: str) -> None:
        await self.send("response.output_audio_transcript.delta", delta=text)

    async def instruct(self, text: str) -> None:
        await self.send("session.update", session={"instructions": text})

    async def done(self, response_id: str | None = None) -> None:
        """End of utterance: the agent has finished this reply. The session answers
        ``output_audio_buffer.stopped`` when the character has shown all of it."""
        await self.send(
            "response.output_audio.done", **({"response_id": response_id} if response_id else {})
        )

    async def cancel(self) -> None:
        """Barge-in: the session answers ``output_audio_buffer.stopped`` (interrupted)."""
        await self.send("response.cancel")

    async def close(self) -> None:
        await self.send("session.close")

    async def __aiter__(self) -> AsyncIterator[VideoFrame | Event]:
        async for message in self.connection:
            if isinstance(message, bytes):
                yield VideoFrame.unpack(message)
            else:
                yield json.loads(message)


class _Connecting:
    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self._connect = websockets.connect(url, max_size=8 * 2**20, **options)

    async def __aenter__(self) -> LiveClient:
        return LiveClient(await self._connect.__aenter__())

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self._connect.__aexit__(kind, value, traceback)
