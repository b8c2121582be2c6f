"""The live-session wire protocol: JSON events in both directions, binary video frames out.

Event names follow the OpenAI Realtime API where they fit, so a voice agent's audio can be
forwarded with little glue. Audio in both directions is PCM16, 24 kHz, mono, base64 in JSON.

Client to server (JSON text messages):

- ``session.update`` ``{"session": {"instructions": "smile warmly"}}``
- ``input_audio_buffer.append`` ``{"audio": b64}``: the user's voice (the character listens)
- ``response.output_audio.delta`` ``{"delta": b64}``: the agent's voice (the character speaks)
- ``response.output_audio_transcript.delta`` ``{"delta": "text"}``: what the agent says
- ``response.output_audio.done``: the agent finished this utterance (end of its audio)
- ``response.cancel``: barge-in, the character stops speaking now
- ``session.close``

Any client event may carry an ``event_id`` (a string, echoed in an ``error`` it causes); the
agent's audio events and ``response.output_audio.done`` may carry a ``response_id``, echoed in
the playback events.

The agent's events are the Realtime API's *server* event names (``response.output_audio.*``): a
relay between a Realtime-style voice agent and a session forwards them unchanged.

Server to client: JSON events (``session.created``, ``session.updated``,
``session.instructions_held`` — instructions the policy sent to a reviewer: not applied until
one approves them, then ``session.updated`` with the ``review_id``; a denial is an ``error``
``instructions_refused`` with it —, ``state.changed``,
``output_audio_buffer.started`` and ``.stopped`` — an utterance starts and finishes being shown,
with the position shown and whether it was interrupted —, ``segment.signed``,
``policy.stopped``, ``session.closed``, ``error``), each with a unique ``event_id``, and one
binary message per video frame: a fixed header, the JPEG, then the agent's audio for that
frame's interval, so a client that plays each frame's audio with the frame stays in sync.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import struct
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import numpy as np

from .errors import ProtocolError

AUDIO_RATE = 24_000  # Hz, PCM16 mono, both directions
MAX_MESSAGE_BYTES = 1 << 20  # a client message larger than this is refused
MAX_INSTRUCTIONS = 2_000  # characters
MAX_ID = 64  # characters of a client's event_id or response_id


class ClientEventType(StrEnum):
    SESSION_UPDATE = "session.update"
    INPUT_AUDIO_APPEND = "input_audio_buffer.append"
    OUTPUT_AUDIO_DELTA = "response.output_audio.delta"
    OUTPUT_TRANSCRIPT_DELTA = "response.output_audio_transcript.delta"
    OUTPUT_AUDIO_DONE = "response.output_audio.done"
    RESPONSE_CANCEL = "response.cancel"
    SESSION_CLOSE = "session.close"


class ServerEventType(StrEnum):
    SESSION_CREATED = "session.created"
    SESSION_UPDATED = "session.updated"
    INSTRUCTIONS_HELD = "session.instructions_held"
    STATE_CHANGED = "state.changed"
    PLAYBACK_STARTED = "output_audio_buffer.started"
    PLAYBACK_STOPPED = "output_audio_buffer.stopped"
    SEGMENT_SIGNED = "segment.signed"
    POLICY_STOPPED = "policy.stopped"
    SESSION_CLOSED = "session.closed"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class ClientEvent:
    type: ClientEventType
    audio: np.ndarray | None = None  # float32 mono at AUDIO_RATE, for the audio events
    text: str | None = None  # instructions or transcript text
    event_id: str | None = None  # the client's own id for this event (echoed in errors)
    response_id: str | None = None  # which agent response the audio belongs to


def parse_client_event(message: str | bytes) -> ClientEvent:
    """One client message, validated; raises ``ProtocolError`` with a message for the client."""
    if len(message) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        data = json.loads(message)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError("messages are JSON objects") from exc
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError('every message is a JSON object with a "type"')
    event_id = data.get("event_id")
    if event_id is not None and (not isinstance(event_id, str) or len(event_id) > MAX_ID):
        raise ProtocolError(f'"event_id" must be a string of at most {MAX_ID} characters')
    try:
        event = _parse(data)
    except ProtocolError as exc:
        if event_id is not None:
            exc.extensions["event_id"] = event_id
        raise
    return replace(event, event_id=event_id)


def _parse(data: dict[str, Any]) -> ClientEvent:
    response_id = data.get("response_id")
    if response_id is not None and (not isinstance(response_id, str) or len(response_id) > MAX_ID):
        raise ProtocolError(f'"response_id" must be a string of at most {MAX_ID} characters')
    try:
        kind = ClientEventType(data["type"])
    except ValueError:
        raise ProtocolError(f"unknown event type {data['type']!r}") from None
    if kind is ClientEventType.INPUT_AUDIO_APPEND:
        return ClientEvent(kind, audio=decode_audio(_field(data, "audio")))
    if kind is ClientEventType.OUTPUT_AUDIO_DELTA:
        return ClientEvent(kind, audio=decode_audio(_field(data, "delta")), response_id=response_id)
    if kind is ClientEventType.OUTPUT_AUDIO_DONE:
        return ClientEvent(kind, response_id=response_id)
    if kind is ClientEventType.OUTPUT_TRANSCRIPT_DELTA:
        return ClientEvent(kind, text=_field(data, "delta"))
    if kind is ClientEventType.SESSION_UPDATE:
        session = data.get("session", {})
        if not isinstance(session, dict):
            raise ProtocolError('"session" must be an object')
        text = session.get("instructions")
        if text is not None and not isinstance(text, str):
            raise ProtocolError('"session.instructions" must be a string')
        if text is not None and len(text) > MAX_INSTRUCTIONS:
            raise ProtocolError(f"instructions longer than {MAX_INSTRUCTIONS} characters")
        return ClientEvent(kind, text=text)
    return ClientEvent(kind)


def _field(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise ProtocolError(f'"{data["type"]}" needs a string "{name}"')
    return value


def decode_audio(b64: str) -> np.ndarray:
    """Base64 PCM16 little-endian mono to float32 samples in -1..1."""
    try:
        raw = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("audio must be base64") from exc
    if len(raw) % 2:
        raise ProtocolError("PCM16 audio has an even number of bytes")
    return np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0


def encode_audio(samples: np.ndarray) -> str:
    """Float samples in -1..1 to base64 PCM16 little-endian."""
    return base64.b64encode(pcm16(samples)).decode("ascii")


def pcm16(samples: np.ndarray) -> bytes:
    """Float samples to PCM16 bytes; the inverse of ``decode_audio`` exactly."""
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2").tobytes()


def server_event(kind: ServerEventType, **fields: Any) -> str:
    """One server event, with a fresh ``event_id`` (unique: 64 random bits)."""
    event = {"type": kind.value, "event_id": "evt_" + secrets.token_hex(8), **fields}
    return json.dumps(event, separators=(",", ":"))


# Binary frame: magic, version, header size, frame index, pts (µs), JPEG length, audio length.
_FRAME = struct.Struct("<4sBBIQII")
FRAME_MAGIC = b"LPMF"
FRAME_VERSION = 1
FRAME_HEADER_BYTES = _FRAME.size


@dataclass(frozen=True, slots=True)
class VideoFrame:
    index: int
    pts: float  # seconds
    jpeg: bytes
    audio: bytes  # PCM16 24 kHz mono: the agent's voice during this frame

    def pack(self) -> bytes:
        header = _FRAME.pack(
            FRAME_MAGIC,
            FRAME_VERSION,
            _FRAME.size,
            self.index,
            round(self.pts * 1_000_000),
            len(self.jpeg),
            len(self.audio),
        )
        return header + self.jpeg + self.audio

    @classmethod
    def unpack(cls, message: bytes) -> VideoFrame:
        if len(message) < _FRAME.size:
            raise ProtocolError("frame shorter than its header")
        magic, version, size, index, pts_us, jpeg_len, audio_len = _FRAME.unpack_from(message)
        if magic != FRAME_MAGIC or version != FRAME_VERSION or size != _FRAME.size:
            raise ProtocolError("not an lpm-guard video frame")
        if len(message) != size + jpeg_len + audio_len:
            raise ProtocolError("frame length does not match its header")
        jpeg = message[size : size + jpeg_len]
        return cls(index, pts_us / 1_000_000, jpeg, message[size + jpeg_len :])
