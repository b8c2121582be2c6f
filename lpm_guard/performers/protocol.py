"""What the gate needs from any generator: the ``Performer`` protocol.

A performer is one stream of frames over one character. The gate starts it from a ``Portrait``
(a photo, optional references of the same person, or explicit landmarks for a drawing), feeds it
the agent's voice (the character speaks) and the user's (it listens), 16 kHz mono float, and
text instructions; it can cancel a voice (barge-in) and say that a voice has ended. Frames come
out at a fixed rate, frame ``i`` showing time ``i / fps``, each carrying the ``AudioMark``s that
say where on that timeline the voice the gate fed has been placed (and where a cancel cut it),
so the gate hands every frame its own stretch of the agent's voice.

The CPU generator is one implementation (``local.py``); a ``generator-worker`` reached over the
network is another (``remote.py``). Either way the gate only sees frames: it checks their
size and order, watermarks, records, signs and audits them. A performer holds no keys.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import numpy as np
import numpy.typing as npt

RGB = npt.NDArray[np.uint8]
SAMPLE_RATE = 16_000  # Hz: the voices a performer is fed
SIZES = ((512, 512), (1280, 720), (720, 1280))


class Voice(StrEnum):
    AGENT = "agent"  # the character speaks this audio
    USER = "user"  # the character listens to this audio


class MarkKind(StrEnum):
    PLACED = "placed"  # the fed chunk ``seq`` starts at sample ``at`` of the timeline
    CUT = "cut"  # the agent's voice from sample ``at`` on was forgotten (a cancel)


@dataclass(frozen=True, slots=True)
class AudioMark:
    kind: MarkKind
    seq: int  # the feed_audio call it answers (PLACED); 0 for a cut
    at: int  # samples at 16 kHz from the start of the performance


@dataclass(frozen=True, slots=True)
class PerformedFrame:
    index: int
    pts: float  # seconds: index / fps
    rgb: RGB  # height × width × 3
    state: str  # "idle", "speaking" or "listening"
    marks: tuple[AudioMark, ...] = ()  # what happened to the fed voices before this frame


@dataclass(frozen=True, slots=True)
class Portrait:
    """Who the performer animates: one photo, optional references (other angles, teeth,
    smiles) of the same person, or the photo with explicit landmarks (68 ``[x, y]``)."""

    photo: RGB
    references: tuple[RGB, ...] = ()
    landmarks: tuple[tuple[float, float], ...] | None = None
    size: tuple[int, int] = (512, 512)  # width, height of the frames

    def __post_init__(self) -> None:
        if tuple(self.size) not in SIZES:
            raise ValueError(f"size must be one of {list(SIZES)}, not {self.size}")


@dataclass(frozen=True, slots=True)
class Direction:
    """How the stream runs: its rate, its seed (same input and seed, same frames) and whether
    frames are paced by the clock (live) or come as fast as they render (offline)."""

    fps: int = 25
    seed: int = 0
    live: bool = True
    extra: dict[str, str] = field(default_factory=dict)


class Performer(Protocol):
    """One stream over one character. Input methods return at once and may be called from any
    thread; ``frames`` is read by one thread."""

    @property
    def size(self) -> tuple[int, int]:
        """Width and height of every frame."""

    @property
    def fps(self) -> int: ...

    def feed_audio(
        self, samples: npt.NDArray[np.float32], voice: Voice, text: str | None = None
    ) -> int:
        """Append 16 kHz mono samples (-1..1) to a voice; returns the chunk's sequence number,
        which a later frame's ``PLACED`` mark answers. ``text``: the words spoken in this
        chunk, when known (a transcript): the performer may shape the mouth from them, and a
        call with words may take as long as aligning them (a fraction of the chunk's length)."""

    def feed_transcript(self, text: str, *, done: bool = False) -> None:
        """What the agent is saying, as text deltas not tied to its audio chunks (a live
        agent's transcript); ``done``: its utterance is over. The performer may hold the
        agent's audio while words are pending and align them at its pauses; a frame never
        waits for them."""

    def end_audio(self, voice: Voice | None = None) -> None:
        """No more audio on this voice (or on both)."""

    def cancel(self, voice: Voice = Voice.AGENT) -> None:
        """Barge-in: forget this voice's audio not yet shown (a later frame carries the cut)."""

    def instruct(self, text: str) -> Future[list[str]]:
        """Change behaviour from words; resolves to what the performer understood."""

    def frames(self, stop: threading.Event | None = None) -> Iterator[PerformedFrame]:
        """Frames in order from index 0. Live: paced at ``fps`` until ``stop`` is set or the
        performer ends. Offline: as fast as they render, until every voice has ended and all
        fed audio has been shown. Raises ``PerformerFailed`` when the stream breaks."""

    def close(self) -> None:
        """The stream is over: release everything (a remote worker drops the photos)."""


class Backend(Protocol):
    """Starts performers: the CPU generator in this process, or a pool of remote workers."""

    name: str

    def start(self, portrait: Portrait, direction: Direction) -> Performer:
        """A new performer; raises ``PerformerUnavailable`` when none can be started now, and
        the portrait's own errors (no face found) as ``PortraitRefused``."""


def frames_for(samples: int, fps: int) -> int:
    """Frames needed to show ``samples`` of 16 kHz audio."""
    return -(-samples * fps // SAMPLE_RATE)


def portrait_of(
    photo: RGB,
    references: Sequence[RGB] = (),
    *,
    size: tuple[int, int] = (512, 512),
    landmarks: Sequence[Sequence[float]] | None = None,
) -> Portrait:
    marks = tuple((float(x), float(y)) for x, y in landmarks) if landmarks is not None else None
    return Portrait(np.ascontiguousarray(photo), tuple(references), marks, (size[0], size[1]))
