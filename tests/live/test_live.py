from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable

import cv2
import numpy as np
import pytest
from lpm_guard.generator import Character, Role

from lpm_guard.live.protocol import (
    ClientEventType,
    VideoFrame,
    encode_audio,
    parse_client_event,
    pcm16,
)
from lpm_guard.live.session import (
    LiveSession,
    PolicyStop,
    SessionLimits,
    StopReason,
)
from lpm_guard.performers import Direction
from lpm_guard.performers.local import LocalPerformer


def event(kind: ClientEventType, **fields: object) -> str:
    return json.dumps({"type": kind.value, **fields})


def audio_event(kind: ClientEventType, samples: np.ndarray) -> str:
    key = "audio" if kind is ClientEventType.INPUT_AUDIO_APPEND else "delta"
    return event(kind, **{key: encode_audio(samples)})


def drive(
    session: LiveSession,
    script: Callable[[LiveSession, int], None],
    *,
    until: Callable[[list[str | bytes]], bool],
    timeout: float = 20.0,
    read: bool = True,
) -> list[str | bytes]:
    """Run ``session``, calling ``script(session, frames_seen)`` after each message, and
    collect what it sends until ``until`` holds or it closes."""

    async def main() -> list[str | bytes]:
        seen: list[str | bytes] = []
        session.start(asyncio.get_running_loop())
        frames = 0
        try:
            async with asyncio.timeout(timeout):
                if not read:
                    while not until(seen):
                        script(session, frames)
                        await asyncio.sleep(0.05)
                    return seen
                async for message in session.outgoing():
                    seen.append(message)
                    frames += isinstance(message, bytes)
                    script(session, frames)
                    if until(seen):
                        break
        finally:
            session.stop(StopReason.CLIENT_CLOSED)
            session.join(5.0)
        return seen

    return asyncio.run(main())


def frames_of(messages: list[str | bytes]) -> list[VideoFrame]:
    return [VideoFrame.unpack(m) for m in messages if isinstance(m, bytes)]


def events_of(messages: list[str | bytes]) -> list[dict[str, object]]:
    return [json.loads(m) for m in messages if isinstance(m, str)]


def nothing(session: LiveSession, frames: int) -> None:
    return None


def test_frames_arrive_at_the_session_fps_as_jpeg_with_their_audio(
    character: Character, speech24: np.ndarray
) -> None:
    session = LiveSession(LocalPerformer(character, Direction()), session_id="s1")
    session.handle(parse_client_event(audio_event(ClientEventType.OUTPUT_AUDIO_DELTA, speech24)))
    started = time.monotonic()
    messages = drive(session, nothing, until=lambda seen: len(frames_of(seen)) >= 50)
    elapsed = time.monotonic() - started
    frames = frames_of(messages)
    assert [f.index for f in frames[:50]] == list(range(50))
    assert np.allclose([f.pts for f in frames[:50]], np.arange(50) / 25)
    assert elapsed >= 1.8  # paced by the clock, not as fast as possible
    image = cv2.imdecode(np.frombuffer(frames[10].jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (512, 512, 3)
    # The agent's voice comes back cut to the frames: played in order it is what was sent.
    audio = b"".join(f.audio for f in frames[:50])
    assert audio == pcm16(speech24)[: len(audio)]
    first = events_of(messages)[0]
    assert first["type"] == "session.created"


def test_the_character_listens_then_speaks(character: Character, speech24: np.ndarray) -> None:
    session = LiveSession(LocalPerformer(character, Direction()), session_id="s2")
    session.handle(parse_client_event(audio_event(ClientEventType.INPUT_AUDIO_APPEND, speech24)))
    spoken = False

    def script(s: LiveSession, frames: int) -> None:
        nonlocal spoken
        if frames >= 70 and not spoken:
            spoken = True
            s.handle(parse_client_event(audio_event(ClientEventType.OUTPUT_AUDIO_DELTA, speech24)))

    messages = drive(session, script, until=lambda seen: len(frames_of(seen)) >= 110)
    states = [e["state"] for e in events_of(messages) if e["type"] == "state.changed"]
    assert "listening" in states and "speaking" in states
    assert states.index("listening") < states.index("speaking")


def test_the_agents_transcript_deltas_reach_the_mouth(
    character: Character, speech24: np.ndarray
) -> None:
    """The agent's words come as text deltas beside its voice, tied to no chunk: the session
    hands them to the performer, which aligns them to the voice it holds, and the reply's end
    (response.output_audio.done) ends its words."""
    performer = LocalPerformer(character, Direction())
    session = LiveSession(performer, session_id="s-words")
    for delta in ["Papa made a pa", "lm basket by the ", "beach."]:
        session.handle(
            parse_client_event(event(ClientEventType.OUTPUT_TRANSCRIPT_DELTA, delta=delta))
        )
    session.handle(parse_client_event(audio_event(ClientEventType.OUTPUT_AUDIO_DELTA, speech24)))
    session.handle(parse_client_event(event(ClientEventType.OUTPUT_AUDIO_DONE)))
    track = performer._performance.tracks[Role.AGENT]
    deadline = time.monotonic() + 20.0
    while (len(track.held) or track.words.words) and time.monotonic() < deadline:
        time.sleep(0.02)
    session.stop(StopReason.CLIENT_CLOSED)
    assert not track.words.words and not len(track.held)
    middle = len(speech24) // 2 * 25 // 24_000
    assert track.analyzer.phones.covers(middle)  # its frames take their mouths from phones


def test_instructions_are_applied_and_reported(character: Character) -> None:
    session = LiveSession(LocalPerformer(character, Direction()), session_id="s3")
    session.handle(
        parse_client_event(
            event(ClientEventType.SESSION_UPDATE, session={"instructions": "smile warmly"})
        )
    )
    messages = drive(session, nothing, until=lambda seen: len(frames_of(seen)) >= 3)
    updated = [e for e in events_of(messages) if e["type"] == "session.updated"]
    assert updated and updated[0]["session"]["understood"]  # type: ignore[index]


def test_instructions_given_at_open_are_reported_when_the_session_starts(
    character: Character,
) -> None:
    session = LiveSession(LocalPerformer(character, Direction()), session_id="s3b")
    assert session.instruct_at_open("be calm and look to the left") == ["calm", "look left"]
    messages = drive(session, nothing, until=lambda seen: len(frames_of(seen)) >= 1)
    created = events_of(messages)[0]
    assert created["type"] == "session.created"
    assert created["session"] == {
        "id": "s3b",
        "fps": 25,
        "size": [512, 512],
        "instructions": "be calm and look to the left",
        "understood": ["calm", "look left"],
    }


class WordCheck:
    """Deterministic stand-in for the policy stage's live checker, behind its Protocol."""

    def __init__(self, word: str) -> None:
        self.word = word
        self.audio_seconds = 0.0
        self.closed = False

    def audio(self, samples: np.ndarray, sample_rate: int) -> PolicyStop | None:
        self.audio_seconds += len(samples) / sample_rate
        return None

    def transcript(self, text: str) -> PolicyStop | None:
        if self.word in text.lower():
            return PolicyStop(f"the transcript says {self.word!r}", ("test.word",))
        return None

    def instructions(self, text: str) -> PolicyStop | None:
        return self.transcript(text)

    def close(self) -> None:
        self.closed = True


def test_a_refused_utterance_stops_the_stream_and_is_audited(
    character: Character, speech24: np.ndarray
) -> None:
    audited: list[tuple[str, dict[str, object]]] = []
    check = WordCheck("forbidden")
    session = LiveSession(
        LocalPerformer(character, Direction()),
        session_id="s4",
        checker=check,
        audit=lambda t, d: audited.append((t, d)),
    )
    session.handle(parse_client_event(audio_event(ClientEventType.OUTPUT_AUDIO_DELTA, speech24)))
    said = [0.0]

    def script(s: LiveSession, frames: int) -> None:
        if frames == 10 and not said[0]:
            said[0] = time.monotonic()
            s.handle(
                parse_client_event(
                    event(ClientEventType.OUTPUT_TRANSCRIPT_DELTA, delta="a Forbidden word")
                )
            )

    messages = drive(session, script, until=lambda seen: False)
    stopped_after = time.monotonic() - said[0]
    kinds = [e["type"] for e in events_of(messages)]
    assert "policy.stopped" in kinds and kinds[-1] == "session.closed"
    assert events_of(messages)[-1]["reason"] == "policy"
    assert stopped_after < 3.0
    assert session.stop_reason is not None and session.stop_reason[0] is StopReason.POLICY
    assert [t for t, _ in audited] == ["session:speech:deny", "session:stream:stop"]
    assert check.audio_seconds == pytest.approx(len(speech24) / 24_000, abs=0.01)


def test_a_refused_instruction_is_not_applied(character: Character) -> None:
    session = LiveSession(
        LocalPerformer(character, Direction()), session_id="s5", checker=WordCheck("forbidden")
    )
    session.handle(
        parse_client_event(
            event(ClientEventType.SESSION_UPDATE, session={"instructions": "look forbidden"})
        )
    )
    messages = drive(session, nothing, until=lambda seen: len(frames_of(seen)) >= 3)
    errors = [e for e in events_of(messages) if e["type"] == "error"]
    assert errors and errors[0]["error"]["code"] == "instructions_refused"  # type: ignore[index]
    assert not [e for e in events_of(messages) if e["type"] == "session.updated"]


def test_stopping_from_outside_closes_within_a_second(character: Character) -> None:
    session = LiveSession(LocalPerformer(character, Direction()), session_id="s6")
    asked = [0.0]

    def script(s: LiveSession, frames: int) -> None:
        if frames == 5 and not asked[0]:
            asked[0] = time.monotonic()
            s.stop(StopReason.REVOKED, "consent revoked")

    messages = drive(session, script, until=lambda seen: False)
    assert time.monotonic() - asked[0] < 1.0
    closed = events_of(messages)[-1]
    assert str(closed.pop("event_id")).startswith("evt_")
    assert closed == {"type": "session.closed", "reason": "revoked", "detail": "consent revoked"}


def test_a_client_that_stops_reading_loses_frames_not_memory(character: Character) -> None:
    session = LiveSession(
        LocalPerformer(character, Direction()),
        session_id="s7",
        limits=SessionLimits(outbox_frames=4),
    )
    drive(session, nothing, until=lambda seen: session.stats.frames >= 40, read=False)
    assert session.stats.frames_dropped >= 30
    assert len(session._frames) <= 4


def test_limits_end_idle_and_overlong_sessions(character: Character) -> None:
    idle = LiveSession(
        LocalPerformer(character, Direction()),
        session_id="s8",
        limits=SessionLimits(idle_seconds=0.5),
    )
    messages = drive(idle, nothing, until=lambda seen: False)
    assert events_of(messages)[-1]["reason"] == "idle"
    short = LiveSession(
        LocalPerformer(character, Direction()),
        session_id="s9",
        limits=SessionLimits(max_seconds=0.4),
    )
    messages = drive(short, nothing, until=lambda seen: False)
    assert events_of(messages)[-1]["reason"] == "max_duration"
    assert len(frames_of(messages)) == 11  # frames 0 .. 0.4 s


def test_cancel_stops_the_agent_voice_at_once(character: Character, speech24: np.ndarray) -> None:
    session = LiveSession(LocalPerformer(character, Direction()), session_id="s10")
    session.handle(parse_client_event(audio_event(ClientEventType.OUTPUT_AUDIO_DELTA, speech24)))

    def script(s: LiveSession, frames: int) -> None:
        if frames == 20:
            s.handle(parse_client_event(event(ClientEventType.RESPONSE_CANCEL)))

    messages = drive(session, script, until=lambda seen: len(frames_of(seen)) >= 40)
    frames = frames_of(messages)
    silent = np.frombuffer(b"".join(f.audio for f in frames[25:40]), "<i2")
    assert not silent.any()  # nothing of the cancelled speech is played


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "[]",
        '{"type": "nope"}',
        '{"type": "input_audio_buffer.append"}',
        '{"type": "input_audio_buffer.append", "audio": "***"}',
        json.dumps(
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"abc").decode()}
        ),
        '{"type": "session.update", "session": {"instructions": 5}}',
        '{"type": "session.update", "session": []}',
    ],
)
def test_bad_messages_are_refused_with_a_reason(message: str) -> None:
    from lpm_guard.live.errors import ProtocolError

    with pytest.raises(ProtocolError):
        parse_client_event(message)


def test_the_voice_reaches_the_speech_check_in_pieces_of_a_fifth_of_a_second(
    character: Character, speech24: np.ndarray
) -> None:
    """Sent as a voice platform streams it (40 ms chunks in real time), the agent's voice is
    checked every 0.2 s, not every chunk: all of it, in order, in about a fifth as many calls."""
    from lpm_guard.live.session import CHECK_AUDIO_S

    class Calls(WordCheck):
        def __init__(self) -> None:
            super().__init__("never said")
            self.pieces: list[np.ndarray] = []

        def audio(self, samples: np.ndarray, sample_rate: int) -> PolicyStop | None:
            self.pieces.append(samples.copy())
            return super().audio(samples, sample_rate)

    check = Calls()
    session = LiveSession(LocalPerformer(character, Direction()), session_id="s9", checker=check)
    chunk = 24_000 // 25
    sent = speech24[: 50 * chunk]
    at = [0]

    def script(s: LiveSession, frames: int) -> None:
        while at[0] < min(frames, 50):  # one 40 ms chunk per frame shown
            piece = sent[at[0] * chunk : (at[0] + 1) * chunk]
            s.handle(parse_client_event(audio_event(ClientEventType.OUTPUT_AUDIO_DELTA, piece)))
            at[0] += 1

    drive(session, script, until=lambda seen: len(frames_of(seen)) >= 62)
    checked = np.concatenate(check.pieces)
    assert pcm16(checked) == pcm16(sent)  # all of it, in order
    assert len(check.pieces) <= 2.0 / CHECK_AUDIO_S + 3  # not 50 calls
    assert np.median([len(p) for p in check.pieces]) >= 0.75 * CHECK_AUDIO_S * 24_000
