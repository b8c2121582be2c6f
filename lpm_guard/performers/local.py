"""The CPU generator (``lpm_guard.generator``) as a performer in this process.

The only module of the gate that names the generator's classes: a worker process serves the
same adapter over the network (``lpm-guard generator-worker``), and the gate in-process uses
it when no worker is configured.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future

import numpy as np
import numpy.typing as npt

from ..generator import Character, GeneratorError, Performance, Role, align_words
from .errors import PortraitRefused
from .protocol import (
    SAMPLE_RATE,
    AudioMark,
    Direction,
    MarkKind,
    PerformedFrame,
    Portrait,
    Voice,
)


class LocalPerformer:
    def __init__(self, character: Character, direction: Direction) -> None:
        self._character = character
        self._direction = direction
        self._performance = Performance(character, fps=direction.fps, seed=direction.seed)
        self._lock = threading.Lock()
        self._marks: list[AudioMark] = []
        self._seq = 0
        self._closed = threading.Event()
        self._ended: set[Voice] = set()
        self._all_fed = threading.Event()  # offline frames start once every voice has ended

    @property
    def size(self) -> tuple[int, int]:
        return self._character.size

    @property
    def fps(self) -> int:
        return self._direction.fps

    def feed_audio(
        self, samples: npt.NDArray[np.float32], voice: Voice, text: str | None = None
    ) -> int:
        # Aligned before taking the lock: frames keep coming while pocketsphinx works.
        phones = align_words(np.asarray(samples, np.float32).ravel(), text) if text else []
        with self._lock:
            self._seq += 1
            seq = self._seq
            at = self._performance.feed_audio(samples, Role(voice.value), phones=phones)
            if voice is Voice.AGENT:
                self._marks.append(AudioMark(MarkKind.PLACED, seq, at))
        return seq

    def feed_transcript(self, text: str, *, done: bool = False) -> None:
        self._performance.feed_transcript(text, done=done)

    def end_audio(self, voice: Voice | None = None) -> None:
        self._performance.end_audio(Role(voice.value) if voice is not None else None)
        with self._lock:
            self._ended.update([voice] if voice is not None else list(Voice))
            if self._ended == set(Voice):
                self._all_fed.set()

    def cancel(self, voice: Voice = Voice.AGENT) -> None:
        with self._lock:
            self._performance.cancel(Role(voice.value))
            if voice is Voice.AGENT:
                # The fresh track starts at the next frame: the voice is cut there.
                at = round(self._performance.index * SAMPLE_RATE / self.fps)
                self._marks.append(AudioMark(MarkKind.CUT, 0, at))

    def instruct(self, text: str) -> Future[list[str]]:
        done: Future[list[str]] = Future()
        done.set_result(self._performance.instruct(text))
        return done

    def frames(self, stop: threading.Event | None = None) -> Iterator[PerformedFrame]:
        stop = stop or self._closed
        if self._direction.live:
            source = self._performance.live(stop=stop)
        else:
            while not self._all_fed.wait(0.1):
                if stop.is_set():
                    return
            source = self._performance.frames()
        for frame in source:
            with self._lock:  # after the frame: every chunk placed before it was rendered
                marks, self._marks = tuple(self._marks), []
            yield PerformedFrame(frame.index, frame.pts, frame.rgb, frame.state.value, marks)
            if stop.is_set():
                return

    def close(self) -> None:
        self._closed.set()


class LocalBackend:
    """Performers of the CPU generator, in this process."""

    name = "local"

    def start(self, portrait: Portrait, direction: Direction) -> LocalPerformer:
        try:
            character = Character.from_photo(
                portrait.photo,
                references=list(portrait.references),
                landmarks=[list(p) for p in portrait.landmarks] if portrait.landmarks else None,
                size=portrait.size,
            )
        except GeneratorError as exc:
            raise PortraitRefused(str(exc)) from exc
        return LocalPerformer(character, direction)
