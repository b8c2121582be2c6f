"""One live session: a performance rendered in real time for one client, with its limits.

The session owns a render thread (the performer paces it at the session's fps), a policy
thread beside it (speech checks can take longer than a frame), and a bounded outbox the
connection drains. A client that reads too slowly loses the oldest frames, never grows memory;
JSON events are never dropped. Everything the gate adds is passed in: the watermark as a frame
filter, the signed record as a frame sink, the policy as a checker, the audit as a callback.
The frames come from a ``Performer`` (the CPU generator here, or a remote worker): the session
checks each one (the next index, the session's size), and a performer that breaks its stream
stops the session with the breach named; no frame leaves unfiltered.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import cv2
import numpy as np
import soxr

from ..auditing.tags import AuditTag
from ..logs import get_logger
from ..performers import (
    SAMPLE_RATE,
    Breach,
    MarkKind,
    PerformedFrame,
    Performer,
    PerformerFailed,
    Voice,
)
from .protocol import (
    AUDIO_RATE,
    ClientEvent,
    ClientEventType,
    ServerEventType,
    VideoFrame,
    pcm16,
    server_event,
)

log = get_logger(__name__)


class StopReason(StrEnum):
    CLIENT_CLOSED = "client_closed"
    POLICY = "policy"
    REVOKED = "revoked"
    QUOTA = "quota"  # the researcher's quota of generated seconds is spent
    MAX_DURATION = "max_duration"
    IDLE = "idle"
    ERROR = "error"
    GENERATOR = "generator"  # the performer broke its stream (the detail says how)
    SHUTDOWN = "shutdown"


@dataclass(frozen=True, slots=True)
class PolicyStop:
    """Why the policy stopped (or refused) something, for the client and the audit log."""

    reason: str
    rule_ids: tuple[str, ...] = ()
    # The policy said "review", not "deny": instructions wait for a reviewer (speech stops the
    # stream all the same). The rest is the evidence a reviewer reads.
    review: bool = False
    categories: tuple[str, ...] = ()
    layer: str = ""
    score: float | None = None


class LiveCheck(Protocol):
    """The policy stage's streaming checks, as a session sees them."""

    def audio(self, samples: np.ndarray, sample_rate: int) -> PolicyStop | None: ...

    def transcript(self, text: str) -> PolicyStop | None: ...

    def instructions(self, text: str) -> PolicyStop | None: ...

    def close(self) -> None:
        """The session is over: no more audio or transcript will come."""


class FrameSink(Protocol):
    """Where the session's record goes (signed segments): every frame as it leaves."""

    def add_frame(self, rgb: np.ndarray, pts: float, audio: np.ndarray) -> None: ...

    def close(self) -> None: ...

    def discard(self) -> None:
        """The session never started: release what was prepared, record nothing."""


FrameFilter = Callable[[np.ndarray], np.ndarray]
AuditHook = Callable[[AuditTag, dict[str, Any]], None]
# Instructions the policy sent to review, held for a reviewer: returns the review's id.
HoldHook = Callable[[str, PolicyStop], str]
# Asked twice a second whether the session may go on: a reason to stop, or None.
Watch = Callable[[], "tuple[StopReason, str] | None"]
WATCH_EVERY_S = 0.5
# Agent voice fed but not yet placed by the performer: more than this many chunks (about
# 30 s of 40 ms chunks) means it is not placing the voice at all.
MAX_UNPLACED = 750
OPEN_INSTRUCTIONS_S = 30.0
# The agent's voice goes to the speech check in pieces of this much (or what has waited this
# long): one call to the check worker per 0.2 s of voice, not per 40 ms chunk, which halves
# what the worker spends beside the recogniser itself (resampling, silero-vad's call, the
# decision, the round trip). A denied sentence stops the stream at most this much later.
CHECK_AUDIO_S = 0.2


@dataclass(frozen=True, slots=True)
class SessionLimits:
    max_seconds: float = 2 * 3600.0
    idle_seconds: float = 120.0  # no message from the client for this long ends the session
    outbox_frames: int = 6  # frames waiting for a slow client; older ones are dropped
    jpeg_quality: int = 80


@dataclass(slots=True)
class SessionStats:
    frames: int = 0
    frames_dropped: int = 0
    agent_seconds: float = 0.0
    user_seconds: float = 0.0
    latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=2000))


@dataclass
class _Utterance:
    """One reply of the agent's on the 24 kHz frame timeline: from its first audio to the
    client's ``response.output_audio.done`` (or a barge-in)."""

    response_id: str | None
    start: int  # timeline sample where its audio begins
    end: int  # where the audio placed so far ends
    done: bool = False  # the client said the agent has finished it
    started: bool = False  # a frame showing it has been sent

    def shown_s(self, upto: int) -> float:
        """Seconds of it shown by frames that end at timeline sample ``upto``."""
        return round(max(0, min(upto, self.end) - self.start) / AUDIO_RATE, 3)

    def ids(self) -> dict[str, str]:
        return {"response_id": self.response_id} if self.response_id else {}


class _AgentAudio:
    """The agent's voice at 24 kHz on the frame timeline, handed out one frame at a time."""

    def __init__(self, fps: int) -> None:
        self.per_frame = AUDIO_RATE // fps
        self.start = 0  # timeline sample of buffer[0]
        self.buffer = np.zeros(0, np.float32)
        self.lock = threading.Lock()

    def place(self, samples: np.ndarray, at: int) -> None:
        with self.lock:
            end = self.start + len(self.buffer)
            if at > end:
                self.buffer = np.concatenate([self.buffer, np.zeros(at - end, np.float32)])
            keep = max(0, at - self.start)
            self.buffer = np.concatenate([self.buffer[:keep], samples])

    def cut(self, at: int) -> None:
        """Forget everything from ``at`` on (barge-in)."""
        with self.lock:
            self.buffer = self.buffer[: max(0, at - self.start)]

    def take(self, index: int) -> np.ndarray:
        with self.lock:
            begin = index * self.per_frame
            if begin > self.start:
                self.buffer = self.buffer[begin - self.start :]
                self.start = begin
            out = np.zeros(self.per_frame, np.float32)
            part = self.buffer[: self.per_frame]
            out[: len(part)] = part
            self.buffer = self.buffer[len(part) :]
            self.start += self.per_frame
            return out


class LiveSession:
    def __init__(
        self,
        performer: Performer,
        *,
        session_id: str,
        limits: SessionLimits | None = None,
        frame_filter: FrameFilter | None = None,
        sink: FrameSink | None = None,
        checker: LiveCheck | None = None,
        audit: AuditHook | None = None,
        watch: Watch | None = None,
        hold: HoldHook | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session_id = session_id
        self.performer = performer
        self.fps = fps = performer.fps
        self.limits = limits or SessionLimits()
        self.stats = SessionStats()
        self._opening: dict[str, object] = {}
        self._filter = frame_filter
        self.sink = sink
        self._checker = checker
        self._audit = audit
        self._watch = watch
        self._hold = hold
        self._watched = float("-inf")  # the first frame is watched
        self._clock = clock
        self._last_heard = clock()
        self._resamplers = {voice: self._resampler() for voice in Voice}
        self._agent_audio = _AgentAudio(fps)
        # The agent's voice at 24 kHz by the sequence number the performer placed it under,
        # when it arrived (latency) and its reply, until a frame says where it goes; a reply
        # the client finished while some of it waits is done once all of it is placed.
        self._unplaced: dict[int, tuple[np.ndarray, float, str | None]] = {}
        self._placing = threading.Lock()
        self._done_waiting: deque[tuple[str | None, int]] = deque()  # (reply, its last chunk)
        self._last_agent_seq = 0
        self._next_index = 0  # the next frame the render thread will show
        self._fed_at: deque[tuple[int, float]] = deque(maxlen=256)  # (frame, clock) of agent audio
        self._utterance: _Utterance | None = None
        self._utterance_lock = threading.Lock()
        self._stopped = threading.Event()
        self._stop_reason: tuple[StopReason, str] | None = None
        self._stop_lock = threading.Lock()
        self._events: deque[str] = deque()
        self._frames: deque[bytes] = deque()
        self._outbox_lock = threading.Lock()
        self._wake_event = asyncio.Event()
        self._wake: Callable[[], None] = lambda: None
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._checks: deque[tuple[str, Any, float]] = deque()  # (kind, payload, queued at)
        self._checks_ready = threading.Condition()
        self._on_end: list[Callable[[], None]] = []

    @staticmethod
    def _resampler() -> soxr.ResampleStream:
        # LQ: 6 ms of delay, plenty for lip sync (HQ adds 21 ms).
        return soxr.ResampleStream(AUDIO_RATE, SAMPLE_RATE, 1, dtype="float32", quality="LQ")

    # --- lifecycle ----------------------------------------------------------------------------

    def instruct_at_open(self, instructions: str) -> list[str]:
        """Apply the instructions the gate admitted with the session (policy already checked
        them); ``session.created`` tells the client what was understood."""
        understood = self.performer.instruct(instructions).result(OPEN_INSTRUCTIONS_S)
        self._opening = {"instructions": instructions, "understood": understood}
        return understood

    def hold_at_open(self, instructions: str, stop: PolicyStop) -> None:
        """Instructions given at open that the policy sent to review: held for a reviewer as
        soon as the session starts (the client hears it after ``session.created``)."""
        if self._hold is None or self._checker is None:
            raise RuntimeError("held instructions need a hold hook and a policy check")
        self._queue_check("hold", (instructions, stop, None))

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start rendering; the outbox wakes ``outgoing()`` on ``loop``."""
        wake = self._wake_event

        def wake_up() -> None:
            loop.call_soon_threadsafe(wake.set)

        self._wake = wake_up
        self._push_event(
            server_event(
                ServerEventType.SESSION_CREATED,
                session={
                    "id": self.session_id,
                    "fps": self.fps,
                    "size": self.size,
                    **self._opening,
                },
            )
        )
        with self._stop_lock:
            for target, name in ((self._render, "render"), (self._police, "policy")):
                self._threads.append(
                    threading.Thread(target=target, name=f"{name}-{self.session_id}", daemon=True)
                )
        for thread in self._threads:
            thread.start()

    @property
    def size(self) -> list[int]:
        width, height = self.performer.size
        return [width, height]

    @property
    def started(self) -> bool:
        return bool(self._threads)

    @property
    def stopped(self) -> bool:
        return self._stopped.is_set()

    @property
    def stop_reason(self) -> tuple[StopReason, str] | None:
        return self._stop_reason

    def stop(self, reason: StopReason, detail: str = "") -> None:
        """End the session (any thread, any number of times: the first reason wins)."""
        with self._stop_lock:
            if self._stop_reason is not None:
                return
            self._stop_reason = (reason, detail)
            started = self.started
        self._stopped.set()
        with self._checks_ready:
            self._checks_ready.notify_all()
        if not started:  # no thread will finish it: release the record and the checker here
            self.performer.close()
            if self.sink is not None:
                self.sink.discard()
            if self._checker is not None:
                self._checker.close()
            self._ended()

    def on_end(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once when the session is over (closed, or stopped unstarted)."""
        self._on_end.append(callback)

    def _ended(self) -> None:
        callbacks, self._on_end = self._on_end, []
        for callback in callbacks:
            try:
                callback()
            except Exception:  # the others still run
                log.exception("a live session's end callback failed")

    def join(self, timeout: float | None = None) -> None:
        for thread in self._threads:
            thread.join(timeout)

    # --- input --------------------------------------------------------------------------------

    def handle(self, event: ClientEvent) -> None:
        """Apply one client event (called from the connection; returns at once)."""
        self._last_heard = self._clock()
        kind = event.type
        if kind is ClientEventType.SESSION_CLOSE:
            self.stop(StopReason.CLIENT_CLOSED)
        elif kind is ClientEventType.RESPONSE_CANCEL:
            self._cancel()
        elif kind is ClientEventType.OUTPUT_AUDIO_DONE:
            self._utterance_done(event.response_id)
        elif kind is ClientEventType.SESSION_UPDATE:
            self._update(event.text, event.event_id)
        elif kind is ClientEventType.OUTPUT_TRANSCRIPT_DELTA and event.text is not None:
            self._queue_check("transcript", event.text)
            # The words also reach the mouth (aligned to the voice at its pauses); they are
            # checked as text all the same, and stop the session like its audio does.
            self.performer.feed_transcript(event.text)
        elif event.audio is not None:
            voice = Voice.AGENT if kind is ClientEventType.OUTPUT_AUDIO_DELTA else Voice.USER
            self._feed(event.audio, voice, event.response_id)

    def _feed(self, samples24: np.ndarray, voice: Voice, response_id: str | None = None) -> None:
        samples16 = self._resamplers[voice].resample_chunk(samples24)
        seconds = len(samples24) / AUDIO_RATE
        if voice is Voice.AGENT:
            with self._placing:  # a frame's mark may place it before feed_audio returns
                seq = self.performer.feed_audio(samples16, voice)
                self._unplaced[seq] = (samples24, self._clock(), response_id)
                self._last_agent_seq = seq
                unplaced = len(self._unplaced)
            self.stats.agent_seconds += seconds
            self._queue_check("audio", samples24)
            if unplaced > MAX_UNPLACED:
                self._breach(
                    PerformerFailed(Breach.MALFORMED, "the generator does not place the voice")
                )
        else:
            self.performer.feed_audio(samples16, voice)
            self.stats.user_seconds += seconds

    def _placed(self, samples24: np.ndarray, at: int, arrived: float, reply: str | None) -> None:
        """The performer put a chunk of the agent's voice at timeline sample ``at`` (24 kHz)."""
        with self._utterance_lock:
            utterance = self._utterance
            if utterance is None:  # the first audio of a new reply
                self._utterance = _Utterance(reply, at, at + len(samples24))
            else:
                # The resampler holds a few ms back, so the generator places a chunk that
                # much before the previous one's end: the voice continues where it ended
                # (placed there, it would cut the previous chunk's last milliseconds).
                if 0 < utterance.end - at < self._agent_audio.per_frame:
                    at = utterance.end
                utterance.end = max(utterance.end, at + len(samples24))
        self._agent_audio.place(samples24, at)
        self._fed_at.append((at // self._agent_audio.per_frame, arrived))

    def _cancel(self) -> None:
        # The cut arrives with the frame the performer cancelled at (an audio mark).
        self.performer.cancel(Voice.AGENT)
        self._resamplers[Voice.AGENT] = self._resampler()

    def _cut(self, shown: int) -> None:
        """A cancel forgot the agent's voice from timeline sample ``shown`` (24 kHz) on."""
        self._agent_audio.cut(shown)
        with self._utterance_lock:
            cut, self._utterance = self._utterance, None
        if cut is not None:  # barge-in: what was shown of it, and that it was interrupted
            self._playback_stopped(cut, shown, interrupted=True)

    def _utterance_done(self, response_id: str | None) -> None:
        """The agent finished its reply: the session says when the character has shown it all
        (at once if nothing of it is waiting)."""
        self.performer.feed_transcript("", done=True)
        with self._placing:
            if self._unplaced:  # some of it is not placed yet: done once its last chunk is
                self._done_waiting.append((response_id, self._last_agent_seq))
                return
        self._finish_reply(response_id)

    def _finish_reply(self, response_id: str | None) -> None:
        with self._utterance_lock:
            utterance = self._utterance
            if utterance is not None:
                utterance.done = True
                utterance.response_id = utterance.response_id or response_id
                return
        self._playback_stopped(_Utterance(response_id, 0, 0), 0, interrupted=False)

    def _playback_stopped(self, utterance: _Utterance, upto: int, *, interrupted: bool) -> None:
        per_frame = self._agent_audio.per_frame
        index = max(0, -(-upto // per_frame) - 1)  # the last frame that showed audio up to there
        self._push_event(
            server_event(
                ServerEventType.PLAYBACK_STOPPED,
                **utterance.ids(),
                index=index,
                pts=round(index / self.fps, 6),
                playback_position_s=utterance.shown_s(upto),
                interrupted=interrupted,
            )
        )

    def _show_utterance(self, index: int, pts: float) -> None:
        """After frame ``index`` is rendered: say when an utterance starts being shown, and when
        the client has said it is done and its last sample has been shown."""
        frame_end = (index + 1) * self._agent_audio.per_frame
        with self._utterance_lock:
            utterance = self._utterance
            if utterance is None:
                return
            starting = not utterance.started and frame_end > utterance.start
            utterance.started = utterance.started or starting
            finished = utterance.done and frame_end >= utterance.end
            if finished:
                self._utterance = None
        if starting:
            self._push_event(
                server_event(
                    ServerEventType.PLAYBACK_STARTED, **utterance.ids(), index=index, pts=pts
                )
            )
        if finished:
            self._playback_stopped(utterance, min(frame_end, utterance.end), interrupted=False)

    def _update(self, instructions: str | None, event_id: str | None = None) -> None:
        if instructions:
            refused = self._checker.instructions(instructions) if self._checker else None
            if refused is not None and refused.review and self._hold is not None:
                # Neither applied nor refused: held for a reviewer. The hold is written by the
                # policy thread (a database write and an audit entry: not on the event loop).
                self._queue_check("hold", (instructions, refused, event_id))
                return
            if refused is not None:
                self._record(AuditTag.SESSION_INSTRUCTIONS_DENY, refused)
                asked = {"event_id": event_id} if event_id else {}
                self._refuse(refused.reason, rule_ids=list(refused.rule_ids), **asked)
                return
            self.performer.instruct(instructions).add_done_callback(
                lambda answer: self._updated(instructions, answer)
            )
            return
        self._updated(instructions, None)

    def _updated(
        self,
        instructions: str | None,
        answer: Future[list[str]] | None,
        review_id: str | None = None,
    ) -> None:
        if answer is not None and answer.exception() is not None:
            return  # the performer failed: the render thread stops the session and says why
        understood = answer.result() if answer is not None else []
        reviewed = {"review_id": review_id} if review_id else {}
        self._push_event(
            server_event(
                ServerEventType.SESSION_UPDATED,
                session={"instructions": instructions, "understood": understood, **reviewed},
            )
        )

    def _held(self, instructions: str, stop: PolicyStop, event_id: str | None) -> None:
        """Write held instructions down for a reviewer and tell the client they wait."""
        assert self._hold is not None
        asked = {"event_id": event_id} if event_id else {}
        try:
            review_id = self._hold(instructions, stop)
        except Exception:  # not held, so refused: nothing unreviewed is applied
            log.exception("holding live instructions for review failed", session=self.session_id)
            self._refuse(
                "the instructions need a reviewer, and the review could not be recorded",
                rule_ids=list(stop.rule_ids),
                **asked,
            )
            return
        self._push_event(
            server_event(
                ServerEventType.INSTRUCTIONS_HELD,
                review_id=review_id,
                reason=f"awaiting review: {stop.reason.removeprefix('review: ')}",
                rule_ids=list(stop.rule_ids),
                **asked,
            )
        )

    def apply_reviewed(self, review_id: str, instructions: str) -> None:
        """A reviewer approved held instructions: the performer gets them now, and the client
        hears ``session.updated`` (with the review's id)."""
        if self.stopped:
            return
        self.performer.instruct(instructions).add_done_callback(
            lambda answer: self._updated(instructions, answer, review_id)
        )

    def refuse_reviewed(self, review_id: str, reason: str) -> None:
        """A reviewer denied held instructions: they are never applied; the client hears why."""
        self._refuse(f"a reviewer denied the instructions: {reason}", review_id=review_id)

    def _refuse(self, message: str, **about: Any) -> None:
        """Tell the client its instructions were refused (policy, a failed hold, a reviewer)."""
        error = {"type": "policy", "code": "instructions_refused", "message": message, **about}
        self._push_event(server_event(ServerEventType.ERROR, error=error))

    # --- policy beside the stream -------------------------------------------------------------

    def _queue_check(self, kind: str, payload: Any) -> None:
        if self._checker is None:
            return
        with self._checks_ready:
            first = not self._checks
            self._checks.append((kind, payload, time.monotonic()))
            # Woken only when it has something to do now, or its first voice to time: a
            # thread woken for each 40 ms chunk, 25 times a second a session, can take the CPU
            # from one that holds the GIL (and every render thread then waits for both).
            if first or kind != "audio" or self._check_wait() == 0.0:
                self._checks_ready.notify()

    def _police(self) -> None:
        checker = self._checker
        if checker is None:
            return
        try:
            self._police_with(checker)
        finally:
            checker.close()

    def _police_with(self, checker: LiveCheck) -> None:
        while True:
            with self._checks_ready:
                while not self._stopped.is_set() and (wait := self._check_wait()) != 0.0:
                    self._checks_ready.wait(wait)
                if self._stopped.is_set():
                    return
                kind, payload, _ = self._checks.popleft()
                if kind == "audio":  # all the voice queued so far in one check
                    parts = [payload]
                    while self._checks and self._checks[0][0] == "audio":
                        parts.append(self._checks.popleft()[1])
                    payload = np.concatenate(parts) if len(parts) > 1 else payload
            if kind == "hold":  # instructions the policy sent to review
                self._held(*payload)
                continue
            try:
                if kind == "audio":
                    verdict = checker.audio(payload, AUDIO_RATE)
                else:
                    verdict = checker.transcript(payload)
            except Exception as exc:  # a failing checker must not let speech through
                self._fail(exc)
                return
            if verdict is not None:
                self._record(AuditTag.SESSION_SPEECH_DENY, verdict)
                self._push_event(
                    server_event(
                        ServerEventType.POLICY_STOPPED,
                        reason=verdict.reason,
                        rule_ids=list(verdict.rule_ids),
                    )
                )
                self.stop(StopReason.POLICY, verdict.reason)
                return

    def _check_wait(self) -> float | None:
        """How long the policy thread waits before its next check (0: check now; None: until
        something is queued). Voice waits until ``CHECK_AUDIO_S`` of it is queued or its first
        chunk has waited that long; anything queued after it (text, a hold) goes at once."""
        if not self._checks:
            return None
        if self._checks[0][0] != "audio":
            return 0.0
        queued = 0
        for kind, payload, _ in self._checks:
            if kind != "audio":
                return 0.0
            queued += len(payload)
        waited = time.monotonic() - self._checks[0][2]
        if queued >= CHECK_AUDIO_S * AUDIO_RATE or waited >= CHECK_AUDIO_S:
            return 0.0
        return CHECK_AUDIO_S - waited

    def _record(self, tag: AuditTag, stop: PolicyStop) -> None:
        if self._audit is not None:
            self._audit(tag, {"reason": stop.reason, "rule_ids": list(stop.rule_ids)})

    def _breach(self, failure: PerformerFailed) -> None:
        """The performer broke its stream: the session stops, saying how."""
        self._push_event(
            server_event(
                ServerEventType.ERROR,
                error={
                    "type": "generator",
                    "code": failure.breach.value,
                    "message": failure.detail,
                },
            )
        )
        self.stop(StopReason.GENERATOR, f"{failure.breach.value}: {failure.detail}")

    def _fail(self, exc: Exception) -> None:
        self._push_event(
            server_event(
                ServerEventType.ERROR,
                error={"type": "server_error", "code": type(exc).__name__, "message": "internal"},
            )
        )
        self.stop(StopReason.ERROR, type(exc).__name__)

    # --- output -------------------------------------------------------------------------------

    def _render(self) -> None:
        state = None
        quality = [cv2.IMWRITE_JPEG_QUALITY, self.limits.jpeg_quality]
        width, height = self.performer.size
        try:
            for frame in self.performer.frames(self._stopped):
                if self._stopped.is_set():
                    break  # nothing after the session ended leaves
                self._check(frame, frame.index == self._next_index, (height, width, 3))
                self._next_index = frame.index + 1
                self._place(frame)
                rgb = frame.rgb if self._filter is None else self._filter(frame.rgb)
                audio = self._agent_audio.take(frame.index)
                if self.sink is not None:
                    self.sink.add_frame(rgb, frame.pts, audio)
                ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), quality)
                if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
                    raise RuntimeError("JPEG encoding failed")
                if frame.state != state:
                    state = frame.state
                    self._push_event(
                        server_event(
                            ServerEventType.STATE_CHANGED,
                            state=state,
                            index=frame.index,
                            pts=frame.pts,
                        )
                    )
                self._note_latency(frame.index)
                self._show_utterance(frame.index, frame.pts)
                packed = VideoFrame(frame.index, frame.pts, jpeg.tobytes(), pcm16(audio)).pack()
                self._push_frame(packed)
                self.stats.frames += 1
                self._enforce_limits(frame.pts)
        except PerformerFailed as failure:
            self._breach(failure)
        except Exception as exc:
            self._fail(exc)
        finally:
            self.performer.close()
            self._finish()

    @staticmethod
    def _check(frame: PerformedFrame, in_order: bool, shape: tuple[int, int, int]) -> None:
        """Whatever performer made it, a frame is the next one and of the session's size."""
        if not in_order:
            raise PerformerFailed(Breach.OUT_OF_ORDER, f"frame {frame.index} out of order")
        if frame.rgb.shape != shape or frame.rgb.dtype != np.uint8:
            raise PerformerFailed(
                Breach.WRONG_SIZE, f"a {frame.rgb.dtype} frame of shape {frame.rgb.shape}"
            )

    def _place(self, frame: PerformedFrame) -> None:
        """Put the agent's voice where the performer says it went (and cut it at a cancel)."""
        ratio = AUDIO_RATE / SAMPLE_RATE
        for mark in frame.marks:
            if mark.kind is MarkKind.CUT:
                self._cut(round(mark.at * ratio))
                continue
            with self._placing:
                fed = self._unplaced.pop(mark.seq, None)
            if fed is None:
                raise PerformerFailed(Breach.MALFORMED, f"a placement of no voice ({mark.seq})")
            samples24, arrived, reply = fed
            self._placed(samples24, round(mark.at * ratio), arrived, reply)
            while self._done_waiting and self._done_waiting[0][1] <= mark.seq:
                self._finish_reply(self._done_waiting.popleft()[0])

    def _note_latency(self, index: int) -> None:
        # From the arrival of agent audio to the first frame that shows it.
        while self._fed_at and self._fed_at[0][0] <= index:
            _, fed = self._fed_at.popleft()
            self.stats.latencies_ms.append((self._clock() - fed) * 1000.0)

    def _enforce_limits(self, pts: float) -> None:
        now = self._clock()
        if self._watch is not None and now - self._watched >= WATCH_EVERY_S:
            self._watched = now
            verdict = self._watch()
            if verdict is not None:
                self.stop(*verdict)
                return
        if pts >= self.limits.max_seconds:
            self.stop(StopReason.MAX_DURATION, f"sessions last at most {self.limits.max_seconds} s")
        elif self._clock() - self._last_heard > self.limits.idle_seconds:
            self.stop(StopReason.IDLE, f"nothing heard for {self.limits.idle_seconds} s")

    def _finish(self) -> None:
        self.stop(StopReason.SHUTDOWN)  # no-op when a reason is already set
        if self.sink is not None:
            try:
                self.sink.close()
            except Exception as exc:
                self._fail(exc)
        reason, detail = self._stop_reason or (StopReason.SHUTDOWN, "")
        with self._utterance_lock:
            cut, self._utterance = self._utterance, None
        if cut is not None and cut.started:  # the session ended in the middle of it
            self._playback_stopped(
                cut, self._next_index * self._agent_audio.per_frame, interrupted=True
            )
        if self._audit is not None:
            try:
                self._audit(
                    AuditTag.SESSION_STREAM_STOP,
                    {
                        "reason": reason.value,
                        "frames": self.stats.frames,
                        "frames_dropped": self.stats.frames_dropped,
                        "agent_seconds": round(self.stats.agent_seconds, 3),
                    },
                )
            except Exception:  # the client still hears that the session closed
                log.exception("recording the end of a live session failed")
        self._ended()  # before the client hears it: what listened for this session is gone
        self._push_event(
            server_event(ServerEventType.SESSION_CLOSED, reason=reason.value, detail=detail)
        )
        self._closed = True
        self._wake()

    def notify(self, kind: ServerEventType, **fields: Any) -> None:
        """Send the client an event from any thread (the segment recorder's ``segment.signed``)."""
        self._push_event(server_event(kind, **fields))

    def _push_event(self, message: str) -> None:
        with self._outbox_lock:
            self._events.append(message)
        self._wake()

    def _push_frame(self, message: bytes) -> None:
        with self._outbox_lock:
            if len(self._frames) >= self.limits.outbox_frames:
                self._frames.popleft()
                self.stats.frames_dropped += 1
            self._frames.append(message)
        self._wake()

    async def outgoing(self) -> AsyncIterator[str | bytes]:
        """Messages for the client, events first, until the session has closed."""
        wake = self._wake_event
        while True:
            await wake.wait()
            wake.clear()
            while True:
                with self._outbox_lock:
                    if self._events:
                        message: str | bytes = self._events.popleft()
                    elif self._frames:
                        message = self._frames.popleft()
                    else:
                        break
                yield message
            if self._closed:
                with self._outbox_lock:
                    if not self._events and not self._frames:
                        return
