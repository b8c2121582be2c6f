"""End of utterance both ways and playback reports, over a real WebSocket: the client says the
agent has finished (``response.output_audio.done``), the server says when the character has
shown it (``output_audio_buffer.stopped``), with the position shown and whether a barge-in
interrupted it; every server event has its own ``event_id``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import numpy as np
import websockets
from fastapi import FastAPI
from lpm_guard.generator import Character

from lpm_guard.live.protocol import AUDIO_RATE, VideoFrame, encode_audio

from .test_stream import open_session

Messages = list[VideoFrame | dict[str, object]]
PER_FRAME = AUDIO_RATE // 25


def run(
    app: FastAPI,
    base: str,
    character: Character,
    script: Callable[[websockets.ClientConnection, Messages], Awaitable[bool]],
    timeout: float = 30.0,
) -> Messages:
    """Open a session and read from it, calling ``script(ws, seen)`` after each message until
    it answers True; then close and read to the end."""
    sid, ticket = open_session(app, character)

    async def main() -> Messages:
        seen: Messages = []
        url = f"{base}/v1/sessions/{sid}/stream?ticket={ticket}"
        async with asyncio.timeout(timeout), websockets.connect(url) as ws:
            await script(ws, seen)
            async for message in ws:
                seen.append(
                    VideoFrame.unpack(message)
                    if isinstance(message, bytes)
                    else json.loads(message)
                )
                if await script(ws, seen):
                    break
            await ws.send(json.dumps({"type": "session.close"}))
            async for message in ws:
                if isinstance(message, str):
                    seen.append(json.loads(message))
        return seen

    return asyncio.run(main())


def events(seen: Messages, kind: str | None = None) -> list[dict[str, object]]:
    return [m for m in seen if isinstance(m, dict) and (kind is None or m["type"] == kind)]


def frames(seen: Messages) -> list[VideoFrame]:
    return [m for m in seen if isinstance(m, VideoFrame)]


def voiced(seen: Messages) -> list[int]:
    """Indexes of frames that carry some of the agent's voice."""
    return [f.index for f in frames(seen) if np.frombuffer(f.audio, "<i2").any()]


def delta(samples: np.ndarray, **fields: str) -> str:
    return json.dumps(
        {"type": "response.output_audio.delta", "delta": encode_audio(samples), **fields}
    )


def test_the_server_says_when_the_character_has_shown_the_whole_utterance(
    app: FastAPI, base: str, character: Character, speech24: np.ndarray
) -> None:
    speech = speech24[:AUDIO_RATE]  # one second, sent in 200 ms chunks as a TTS streams it
    sent = [False]

    async def script(ws: websockets.ClientConnection, seen: Messages) -> bool:
        if not sent[0] and len(frames(seen)) >= 5:
            sent[0] = True
            for i in range(0, len(speech), AUDIO_RATE // 5):
                await ws.send(delta(speech[i : i + AUDIO_RATE // 5], response_id="resp_1"))
            await ws.send(json.dumps({"type": "response.output_audio.done", "event_id": "c1"}))
        return bool(events(seen, "output_audio_buffer.stopped")) and len(frames(seen)) > 60

    seen = run(app, base, character, script)
    (started,) = events(seen, "output_audio_buffer.started")
    (stopped,) = events(seen, "output_audio_buffer.stopped")
    spoken = voiced(seen)
    assert started["response_id"] == stopped["response_id"] == "resp_1"
    # (1): started names the first frame that carries the voice, stopped the last one.
    assert started["index"] == spoken[0] and stopped["index"] == spoken[-1]
    # (2): the whole second was shown, not interrupted, and nothing of it after.
    assert stopped["interrupted"] is False
    assert abs(float(stopped["playback_position_s"]) - 1.0) < 1e-3  # type: ignore[arg-type]
    assert len(spoken) <= 26 and all(
        f.index <= spoken[-1] or not np.frombuffer(f.audio, "<i2").any() for f in frames(seen)
    )
    # (3): every server event carries its own id.
    ids = [e["event_id"] for e in events(seen)]
    assert all(isinstance(i, str) and i.startswith("evt_") for i in ids) and len(set(ids)) == len(
        ids
    )


def test_a_barge_in_reports_the_position_shown_and_interrupted(
    app: FastAPI, base: str, character: Character, speech24: np.ndarray
) -> None:
    state = {"sent": False, "cancelled": False}

    async def script(ws: websockets.ClientConnection, seen: Messages) -> bool:
        if not state["sent"]:
            state["sent"] = True
            await ws.send(delta(speech24, response_id="resp_2"))
            await ws.send(json.dumps({"type": "response.output_audio.done"}))
        started = events(seen, "output_audio_buffer.started")
        if (
            started
            and not state["cancelled"]
            and len(frames(seen)) >= int(started[0]["index"]) + 15
        ):  # type: ignore[call-overload]
            state["cancelled"] = True
            await ws.send(json.dumps({"type": "response.cancel"}))
        return bool(events(seen, "output_audio_buffer.stopped")) and len(frames(seen)) > 50

    seen = run(app, base, character, script)
    (stopped,) = events(seen, "output_audio_buffer.stopped")
    assert stopped["interrupted"] is True and stopped["response_id"] == "resp_2"
    position = float(stopped["playback_position_s"])  # type: ignore[arg-type]
    total = len(speech24) / AUDIO_RATE
    assert 0.5 <= position < total - 0.3
    # The position is what the frames carried of the voice, to the frame.
    spoken = voiced(seen)
    carried = sum(1 for f in frames(seen) if f.index in set(spoken)) * PER_FRAME / AUDIO_RATE
    assert abs(position - carried) <= 2 * PER_FRAME / AUDIO_RATE
    assert stopped["index"] >= spoken[-1] - 1


def test_done_with_nothing_to_show_is_answered_at_once(
    app: FastAPI, base: str, character: Character
) -> None:
    async def script(ws: websockets.ClientConnection, seen: Messages) -> bool:
        if not seen:
            await ws.send(json.dumps({"type": "response.output_audio.done", "response_id": "r0"}))
        return bool(events(seen, "output_audio_buffer.stopped"))

    seen = run(app, base, character, script)
    (stopped,) = events(seen, "output_audio_buffer.stopped")
    assert stopped["response_id"] == "r0" and stopped["playback_position_s"] == 0
    assert stopped["interrupted"] is False and not events(seen, "output_audio_buffer.started")


def test_a_session_closed_mid_utterance_reports_it_interrupted_before_closing(
    app: FastAPI, base: str, character: Character, speech24: np.ndarray
) -> None:
    async def script(ws: websockets.ClientConnection, seen: Messages) -> bool:
        if not seen:
            await ws.send(delta(speech24))
        return len(voiced(seen)) >= 10

    seen = run(app, base, character, script)
    kinds = [e["type"] for e in events(seen)]
    assert kinds[-1] == "session.closed"
    assert kinds[-2] == "output_audio_buffer.stopped"
    assert events(seen, "output_audio_buffer.stopped")[0]["interrupted"] is True


def test_a_bad_client_event_is_answered_with_its_event_id(
    app: FastAPI, base: str, character: Character
) -> None:
    async def script(ws: websockets.ClientConnection, seen: Messages) -> bool:
        if not seen:
            await ws.send(json.dumps({"type": "response.output_audio.delta", "event_id": "mine-7"}))
            await ws.send(json.dumps({"type": "response.output_audio.done", "event_id": 5}))
        return len(events(seen, "error")) >= 2

    seen = run(app, base, character, script)
    first, second = events(seen, "error")
    assert first["error"]["event_id"] == "mine-7"  # type: ignore[index]
    assert "delta" in first["error"]["message"]  # type: ignore[index]
    assert "event_id" not in second["error"] and "event_id" in second["error"]["message"]  # type: ignore[index,operator]
