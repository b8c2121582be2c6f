"""The messages between the gate and a ``generator-worker`` (one WebSocket per performer).

Gate to worker: binary ``p`` + PNG (the photo) and ``r`` + PNG (each reference), then the JSON
``start``; then binary ``a`` audio (voice byte, sequence number, 16 kHz float32 samples) and JSON
``words`` (the text spoken in the audio chunk numbered ``seq``, sent just before it),
``transcript`` (a delta of what the agent says, tied to no chunk; ``done`` ends its utterance),
``instruct``, ``cancel``, ``end_audio``, ``play`` (frames may start) and ``close``.

Worker to gate: JSON ``ready`` (the frames' size and rate), ``understood`` (an instruction's
answer), ``end`` (the stream is over), ``refused`` (the portrait cannot be animated), ``error``;
binary ``f`` frames: a fixed header, the audio marks, then the picture, raw RGB (lossless) or
JPEG at quality 95 or more.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from .protocol import RGB, AudioMark, MarkKind, PerformedFrame, Voice

PHOTO, REFERENCE, AUDIO, FRAME = b"p", b"r", b"a", b"f"
RAW, JPEG = 0, 1
ENCODINGS = {"raw": RAW, "jpeg": JPEG}
MIN_JPEG_QUALITY = 95  # frames between worker and gate: lossless, or JPEG at least this good
MAX_IMAGE_BYTES = 16 << 20
MAX_REFERENCES = 8
MAX_MESSAGE_BYTES = 32 << 20  # a 720p raw frame is 2.7 MB; a photo at most MAX_IMAGE_BYTES
MAX_WORDS = 20_000  # characters of the text spoken in one audio chunk
STATES = ("idle", "speaking", "listening")
VOICES = (Voice.AGENT, Voice.USER)

_AUDIO = struct.Struct("<cBI")  # tag, voice, seq
_FRAME = struct.Struct("<cIdBBH")  # tag, index, pts, encoding, state, marks
_MARK = struct.Struct("<BIq")  # kind, seq, at
_KINDS = (MarkKind.PLACED, MarkKind.CUT)


class WireError(ValueError):
    """A message the protocol does not have."""


def event(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields}, separators=(",", ":"))


def parse_event(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise WireError("a text message that is not JSON") from None
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise WireError("a JSON message without a type")
    return value


def png(image: RGB) -> bytes:
    ok, data = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise WireError("PNG encoding failed")
    return data.tobytes()


def unpng(data: bytes) -> RGB:
    if len(data) > MAX_IMAGE_BYTES:
        raise WireError(f"an image larger than {MAX_IMAGE_BYTES} bytes")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise WireError("an image that is not a PNG")
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))


def audio(voice: Voice, seq: int, samples: npt.NDArray[np.float32]) -> bytes:
    header = _AUDIO.pack(AUDIO, VOICES.index(voice), seq)
    return header + np.asarray(samples, "<f4").tobytes()


def unaudio(data: bytes) -> tuple[Voice, int, npt.NDArray[np.float32]]:
    if len(data) < _AUDIO.size or (len(data) - _AUDIO.size) % 4:
        raise WireError("an audio message of the wrong length")
    _, voice, seq = _AUDIO.unpack_from(data)
    if voice >= len(VOICES):
        raise WireError("an audio message for no voice")
    samples = np.frombuffer(data, "<f4", offset=_AUDIO.size).astype(np.float32)
    if not np.isfinite(samples).all():
        raise WireError("audio samples that are not finite")
    return VOICES[voice], seq, samples


def frame(performed: PerformedFrame, encoding: int, quality: int = MIN_JPEG_QUALITY) -> bytes:
    state = STATES.index(performed.state) if performed.state in STATES else 0
    parts = [
        _FRAME.pack(FRAME, performed.index, performed.pts, encoding, state, len(performed.marks))
    ]
    parts += [_MARK.pack(_KINDS.index(m.kind), m.seq, m.at) for m in performed.marks]
    rgb = np.ascontiguousarray(performed.rgb, np.uint8)
    if encoding == JPEG:
        ok, data = cv2.imencode(
            ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
        if not ok:  # pragma: no cover
            raise WireError("JPEG encoding failed")
        parts.append(data.tobytes())
    else:
        parts.append(rgb.tobytes())
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class FrameHeader:
    index: int
    pts: float
    encoding: int
    state: str
    marks: tuple[AudioMark, ...]
    offset: int  # where the picture starts


def frame_header(data: bytes) -> FrameHeader:
    if len(data) < _FRAME.size:
        raise WireError("a frame message shorter than its header")
    _, index, pts, encoding, state, count = _FRAME.unpack_from(data)
    offset = _FRAME.size + count * _MARK.size
    if encoding not in (RAW, JPEG) or state >= len(STATES) or len(data) < offset:
        raise WireError("a frame header the protocol does not have")
    marks = []
    for k in range(count):
        kind, seq, at = _MARK.unpack_from(data, _FRAME.size + k * _MARK.size)
        if kind >= len(_KINDS) or at < 0:
            raise WireError("an audio mark the protocol does not have")
        marks.append(AudioMark(_KINDS[kind], seq, at))
    return FrameHeader(index, pts, encoding, STATES[state], tuple(marks), offset)


def picture(data: bytes, header: FrameHeader, size: tuple[int, int]) -> RGB | None:
    """The frame's picture, or None when it is not ``size`` (width, height)."""
    width, height = size
    body = memoryview(data)[header.offset :]
    if header.encoding == RAW:
        if len(body) != width * height * 3:
            return None
        return np.frombuffer(body, np.uint8).reshape(height, width, 3).copy()
    if _jpeg_size(body) != (width, height):  # read from the header: no bomb is decoded
        return None
    decoded = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
    if decoded is None or decoded.shape != (height, width, 3):
        raise WireError("a frame picture that is not a JPEG")
    return np.asarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), np.uint8)


def _jpeg_size(body: memoryview) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(body), formats=("JPEG",)) as image:
            return (int(image.size[0]), int(image.size[1]))
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def picture_size(data: bytes, header: FrameHeader) -> str:
    """What a refused picture was, for the stop reason."""
    body = memoryview(data)[header.offset :]
    if header.encoding == RAW:
        return f"{len(body)} bytes of raw RGB"
    size = _jpeg_size(body)
    return "an unreadable JPEG" if size is None else f"a {size[0]}×{size[1]} JPEG"
