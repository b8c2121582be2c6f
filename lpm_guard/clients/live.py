"""A small asyncio client for live sessions (the protocol in ``lpm_guard.sessions.protocol``).

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
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import websockets

from ..sessions.protocol import VideoFrame

Event = dict[str, Any]


class LiveClient:
    def __init__(self, connection: websockets.ClientConnection) -> None:
        self.connection = connection

    @classmethod
    def connect(cls, url: str, **options: Any) -> _Connecting:
        return _Connecting(url, options)

    async def send(self, kind: str, **fields: Any) -> None:
        await self.connection.send(json.dumps({"type": kind, **fields}))

    async def speak(self, pcm16: bytes) -> None:
        """The agent's voice (PCM16, 24 kHz, mono): the character says it."""
        await self.send("response.output_audio.delta", delta=base64.b64encode(pcm16).decode())

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
