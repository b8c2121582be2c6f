"""A live session over a remote performer fails closed: a worker that dies, stalls, sends the
wrong size or sends after its stream ended stops the session with the breach named (to the
client and in the audit entry that ends it), and every frame that left was watermarked and
recorded."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from skimage import data

from lpm_guard.live.protocol import VideoFrame
from lpm_guard.live.session import LiveSession, StopReason
from lpm_guard.performers import Direction, portrait_of
from lpm_guard.performers.remote import RemotePerformer
from lpm_guard.provenance.watermark import Watermarker, detect
from tests.generator_workers import new_secret, rogue_worker, worker_process
from tests.live.test_live import drive, events_of, frames_of

from .test_remote import _after_end, _wrong_size

PORTRAIT = portrait_of(data.astronaut())
REFERENCE = 4242


class Recorded:
    """The session's record as a list (the signed record is tested in test_gated.py)."""

    def __init__(self) -> None:
        self.frames: list[np.ndarray] = []
        self.closed = False

    def add_frame(self, rgb: np.ndarray, pts: float, audio: np.ndarray) -> None:
        self.frames.append(rgb.copy())

    def close(self) -> None:
        self.closed = True

    def discard(self) -> None:
        self.closed = True


def run(performer: RemotePerformer, until_frames: int, act: Any) -> tuple[Any, ...]:
    key = secrets.token_bytes(32)
    marker = Watermarker(key, REFERENCE, width=512, height=512)
    marked: list[int] = []

    def mark(rgb: np.ndarray) -> np.ndarray:
        marked.append(1)
        return marker.mark(rgb)

    record = Recorded()
    audited: list[tuple[str, dict[str, Any]]] = []
    session = LiveSession(
        performer,
        session_id="remote",
        frame_filter=mark,
        sink=record,
        audit=lambda tag, details: audited.append((tag, details)),
    )

    def script(session: LiveSession, frames: int) -> None:
        if frames == until_frames:
            act()

    messages = drive(
        session,
        script,
        until=lambda seen: any(isinstance(m, str) and "session.closed" in m for m in seen),
        timeout=60,
    )
    return session, messages, record, audited, marked, key


def check_closed(
    session: LiveSession, messages: list[str | bytes], breach: str, *rest: Any
) -> None:
    record, audited, marked, key = rest
    assert session.stop_reason is not None
    reason, detail = session.stop_reason
    assert reason is StopReason.GENERATOR and detail.startswith(breach), detail
    events = events_of(messages)
    errors = [e for e in events if e["type"] == "error"]
    assert errors and errors[0]["error"]["code"] == breach  # type: ignore[index]
    closed = events[-1]
    assert closed["type"] == "session.closed" and closed["reason"] == "generator"
    stop = [d for tag, d in audited if tag == "session:stream:stop"]
    assert stop and stop[0]["reason"] == "generator"
    # Every frame that left went through the watermark, and into the record.
    sent = frames_of(messages)
    assert len(sent) == len(record.frames) == len(marked) == stop[0]["frames"]
    pictures = [
        cv2.cvtColor(
            cv2.imdecode(np.frombuffer(f.jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
        )
        for f in sent
    ]
    if len(pictures) >= 8:
        found = detect(pictures, key)
        assert found.present and found.reference == REFERENCE
    assert record.closed


@pytest.mark.parametrize("how", ["dies", "stalls"])
def test_a_worker_that_dies_or_stalls_stops_the_session(tmp_path: Path, how: str) -> None:
    with worker_process(tmp_path) as worker:
        performer = RemotePerformer(worker.url, worker.secret, PORTRAIT, Direction(), stall_s=1.5)
        act = worker.kill if how == "dies" else worker.pause
        try:
            session, messages, *rest = run(performer, 10, act)
        finally:
            worker.resume()
    breach = "generator_died" if how == "dies" else "generator_stalled"
    check_closed(session, messages, breach, *rest)


@pytest.mark.parametrize(
    ("script", "breach"),
    [(_wrong_size, "generator_wrong_size"), (_after_end, "generator_after_end")],
)
def test_a_worker_that_lies_stops_the_session(script: Any, breach: str) -> None:
    secret = new_secret()
    with rogue_worker(script, secret) as url:
        performer = RemotePerformer(url, secret, PORTRAIT, Direction(), stall_s=3.0)
        session, messages, *rest = run(performer, -1, lambda: None)
    check_closed(session, messages, breach, *rest)
    assert [VideoFrame.unpack(m).index for m in messages if isinstance(m, bytes)] == [0]
    assert json.loads(next(m for m in messages if isinstance(m, str)))["type"] == "session.created"
