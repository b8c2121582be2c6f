"""A performance: one stream of frames over a character, driven by audio and instructions.

Two voices can drive it: the ``agent`` track (the character speaks it) and the ``user`` track
(the character listens to it). Frames come at a fixed rate; frame ``i`` shows time ``i / fps``.
``frames()`` renders as fast as possible (offline, tests); ``live()`` paces them by a clock and
waits for a frame's audio no longer than its lookahead.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields, replace

import cv2
import numpy as np

from .audio import SAMPLE_RATE, VoiceAnalyzer
from .behaviour import Behaviour
from .character import Character
from .controls import SILENCE, FaceControls, Role, State, VoiceFrame
from .live_words import ALIGNER, LEAD_S, URGENT_S, PendingWords, stretch_end
from .phones import Phone, align, align_prefix

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Frame:
    index: int
    pts: float  # seconds from the start of the performance
    rgb: np.ndarray  # H×W×3 uint8
    state: State
    controls: FaceControls


class _Track:
    """One voice's analyser and the frames it has produced but not yet shown."""

    def __init__(self, fps: int, lookahead_ms: float) -> None:
        self.analyzer = VoiceAnalyzer(fps=fps, lookahead_ms=lookahead_ms)
        self.pending: deque[VoiceFrame] = deque()
        self.first = 0  # the frame index of pending[0]
        self.samples = 0
        self.finished = False
        # A voice whose transcript arrives beside it (feed_transcript): its audio waits here,
        # not analysed, until its words are aligned or its first frame is due.
        self.transcribed = False
        self.words = PendingWords()
        self.done = False  # the utterance's audio and text are all in
        self.held = np.zeros(0, np.float32)
        self.aligning = False

    @property
    def analysed(self) -> int:
        """How many frames of this voice have been analysed."""
        return self.first + len(self.pending)

    @property
    def held_start(self) -> int:
        return self.samples - len(self.held)

    def push(self, samples: np.ndarray) -> None:
        self.samples += len(samples)
        if self.transcribed and not self.finished:
            self.held = np.concatenate((self.held, samples.astype(np.float32, copy=False)))
        else:
            self.pending.extend(self.analyzer.push(samples))

    def release(self, upto: int) -> None:
        """Analyse the held audio up to sample ``upto`` of the voice, with whatever phones
        were added for it (none: the audio alone)."""
        count = min(len(self.held), upto - self.held_start)
        if count > 0:
            part, self.held = self.held[:count], self.held[count:]
            self.pending.extend(self.analyzer.push(part))

    def finish(self) -> None:
        if not self.finished:
            self.release(self.samples)
            self.pending.extend(self.analyzer.flush())
            self.finished = True

    def take(self, index: int) -> VoiceFrame:
        """The voice at frame ``index``, forgetting every earlier one (sessions last hours)."""
        while self.pending and self.first < index:
            self.pending.popleft()
            self.first += 1
        if self.first == index and self.pending:
            self.first += 1
            return self.pending.popleft()
        return SILENCE


class Performance:
    def __init__(
        self,
        character: Character,
        *,
        fps: int = 25,
        seed: int = 0,
        lookahead_ms: float = 40.0,
    ) -> None:
        if not 0 <= lookahead_ms <= 40:
            raise ValueError("live lookahead is at most 40 ms")
        self.character = character
        self.fps = fps
        self.lookahead = lookahead_ms / 1000
        self.behaviour = Behaviour(fps=fps, seed=seed)
        self.tracks = {role: _Track(fps, lookahead_ms) for role in Role}
        self.index = 0
        self._shown = SILENCE  # the agent's voice in the last frame shown
        self._fade: list[VoiceFrame] = []  # after a cancel: the mouth easing shut
        self._poked = False  # the aligner thread has been asked to look at this performance
        self._lock = threading.Lock()
        self._fed = threading.Condition(self._lock)  # audio arrived: a waiting frame may be ready
        # One thread for rendering: the budget is one core, and threads would break determinism.
        cv2.setNumThreads(1)

    # --- input --------------------------------------------------------------------------------

    def feed_audio(
        self,
        samples: np.ndarray,
        role: Role | str,
        sample_rate: int = SAMPLE_RATE,
        *,
        text: str | None = None,
        phones: Sequence[Phone] | None = None,
    ) -> int:
        """Append mono float samples (-1..1) to a voice; returns where the chunk starts on the
        performance's timeline (samples at 16 kHz from its start). Audio that arrives after its
        time has been rendered starts at the next frame, so live input is always shown as soon
        as it can. ``text``: the words spoken in this chunk, when known (a transcript, a TTS
        engine's text): their phones are aligned to it and shape the mouth. ``phones``: the
        same, already aligned (:func:`align_words`; seconds from the chunk's start), for a
        caller that must not wait on the aligner while it holds a lock of its own."""
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"feed {SAMPLE_RATE} Hz audio (load_audio resamples files)")
        chunk = np.asarray(samples, dtype=np.float32).ravel()
        # Aligned before taking the lock: frames keep coming while pocketsphinx works.
        spoken = list(phones) if phones is not None else align(chunk, text) if text else []
        with self._lock:
            track = self.tracks[Role(role)]
            behind = round(self.index * SAMPLE_RATE / self.fps) - track.samples
            if behind > 0:
                track.push(np.zeros(behind, np.float32))
            start = track.samples
            offset = start / SAMPLE_RATE
            if spoken:
                track.release(start)  # phones must reach the analyser before their audio
                track.analyzer.add_phones(
                    [replace(p, start=p.start + offset, end=p.end + offset) for p in spoken]
                )
                track.pending.extend(track.analyzer.push(chunk))
                track.samples += len(chunk)
            else:
                track.push(chunk)
                self._poke(track)
            self._fed.notify_all()
            return start

    def feed_transcript(self, text: str, *, done: bool = False) -> None:
        """What the agent is saying, in deltas of text as they come (a voice agent's
        transcript), not tied to its audio chunks; ``done``: its utterance is over (its text
        and audio are all in). From the first call on, the voice's audio is held back (not
        analysed) while words are pending, and stretches of it are aligned against them on
        :data:`.live_words.ALIGNER`'s thread, ending at pauses: the words a stretch holds
        shape its mouth. Audio whose frame comes due first is shown from the audio alone."""
        with self._lock:
            track = self.tracks[Role.AGENT]
            track.transcribed = True
            track.words.add(text)
            if done:
                track.words.close()
                track.done = True
            self._poke(track)

    def _poke(self, track: _Track) -> None:
        if track.transcribed and not self._poked and len(track.held) and track.words.words:
            self._poked = True
            ALIGNER.poke(self._align_next)

    def _align_next(self) -> bool:
        """On the aligner's thread: align the next stretch of held audio, if there is one."""
        with self._lock:
            track = self.tracks[Role.AGENT]
            cut, whole = 0, False
            if track.transcribed and track.words.words and not track.finished:
                lead = track.held_start / SAMPLE_RATE - self.index / self.fps
                cut, whole = stretch_end(track.held, track.done, SAMPLE_RATE, lead < LEAD_S)
            if cut == 0:
                self._poked = False
                return False
            start, samples = track.held_start, track.held[:cut].copy()
            pending = list(track.words.words)
        used, phones, starts = align_prefix(samples, pending, offset_s=start / SAMPLE_RATE)
        upto = start + cut
        if not whole and len(starts) >= 2:
            # Cut without a pause, perhaps inside its last word: that word (and its audio)
            # goes to the next stretch, whole.
            upto = max(start + 1, round(starts[-1] * SAMPLE_RATE))
            phones = [p for p in phones if p.start < starts[-1]]
            used -= 1
        with self._lock:
            if self.tracks[Role.AGENT] is not track:  # cancelled meanwhile
                return True
            track.analyzer.add_phones(phones)  # any part shown meanwhile was shown without
            track.words.use(used)
            track.release(upto)
            if track.done and not (len(track.held) and track.words.words):
                # The utterance is over, and so are its words: the rest is shown as it is.
                track.release(track.samples)
                track.words.clear()
                track.done = False
            self._fed.notify_all()
        return True

    def end_audio(self, role: Role | str | None = None) -> None:
        """No more audio on this voice (or on both): its last frames are analysed now."""
        with self._lock:
            for r in [Role(role)] if role else list(Role):
                self.tracks[r].finish()
            self._fed.notify_all()

    def cancel(self, role: Role | str = Role.AGENT) -> None:
        """Barge-in: forget this voice's audio not yet shown, from the next frame on. The mouth
        eases shut over three frames instead of snapping; new audio starts a fresh stream."""
        with self._lock:
            r = Role(role)
            track = _Track(self.fps, self.lookahead * 1000)
            track.transcribed = self.tracks[r].transcribed
            # The fresh track starts at the next frame: audio fed now shows from there.
            track.first = self.index
            track.samples = round(self.index * SAMPLE_RATE / self.fps)
            self.tracks[r] = track
            if r is Role.AGENT:
                steps = 3
                self._fade = [_blend(self._shown, (k + 1) / (steps + 1)) for k in range(steps)]
            self._fed.notify_all()

    def instruct(self, text: str) -> list[str]:
        """Change behaviour from words ("smile warmly", "calm"); returns what it understood."""
        with self._lock:
            return self.behaviour.instruct(text)

    # --- output -------------------------------------------------------------------------------

    def duration_frames(self) -> int:
        """Frames needed to show all audio fed so far."""
        return max(int(np.ceil(t.samples * self.fps / SAMPLE_RATE)) for t in self.tracks.values())

    def ready(self) -> bool:
        """Whether the next frame's audio (with its lookahead) has been analysed on every voice
        that is still streaming."""
        i = self.index
        need = self._needs(i)
        return all(
            t.finished
            or t.analysed > i
            or t.samples == 0
            or (len(t.held) > 0 and t.samples >= need)
            for t in self.tracks.values()
        )

    def _needs(self, index: int) -> int:
        """Samples of a voice the analyser needs to emit frame ``index``."""
        return (index + 1) * SAMPLE_RATE // self.fps + round(self.lookahead * SAMPLE_RATE)

    def next_frame(self) -> Frame:
        with self._lock:
            i = self.index
            for track in self.tracks.values():  # its frame is due: held audio goes as it is
                track.release(self._needs(i))
            speaker = self.tracks[Role.AGENT]
            lead = speaker.held_start / SAMPLE_RATE - (i + 1) / self.fps
            if len(speaker.held) >= URGENT_S * SAMPLE_RATE and lead < LEAD_S:
                # No audio came since the last look, but its first frame is nearly due now.
                self._poke(speaker)
            agent = speaker.take(i)
            if self._fade:
                easing = self._fade.pop(0)
                agent = agent if agent.energy > easing.energy else easing
            self._shown = agent
            user = self.tracks[Role.USER].take(i)
            controls, state = self.behaviour.step(agent, user)
            self.index += 1
        controls = controls.with_mouth(agent)
        rgb = self.character.renderer.render(controls)
        return Frame(i, i / self.fps, rgb, state, controls)

    def frames(self, count: int | None = None) -> Iterator[Frame]:
        """As fast as possible: ``count`` frames, or until all audio fed has been shown."""
        total = self.index + count if count is not None else None
        while (total is None and self.index < self.duration_frames()) or (
            total is not None and self.index < total
        ):
            yield self.next_frame()

    def live(
        self,
        clock: Clock = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        stop: threading.Event | None = None,
    ) -> Iterator[Frame]:
        """Paced by ``clock``: frame ``i`` is due at ``start + i / fps``; it waits for its audio
        at most one frame plus the lookahead past that, then shows silence for a missing voice."""
        start = clock() - self.index / self.fps
        patience = self.lookahead + 1 / self.fps
        while stop is None or not stop.is_set():
            due = start + self.index / self.fps
            while not self.ready() and (now := clock()) < due + patience:
                if sleep is time.sleep:  # woken by the audio itself, not by polling
                    with self._fed:
                        if not self.ready():
                            self._fed.wait(due + patience - now)
                else:  # an injected clock (tests): poll it
                    sleep(0.002)
            wait = due - clock()
            if wait > 0:
                sleep(wait)
            yield self.next_frame()


def _blend(voice: VoiceFrame, toward_silence: float) -> VoiceFrame:
    """``voice`` eased ``toward_silence`` (0..1) of the way to a closed, silent mouth."""
    keep = 1.0 - toward_silence
    values = {f.name: getattr(voice, f.name) * keep for f in fields(voice)}
    return replace(voice, **values)
