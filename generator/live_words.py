"""The words of a live voice, arriving as transcript deltas that are not tied to its audio.

A live agent sends what it says as text deltas (``"Hel"``, ``"lo the"``, ``"re."``) beside its
audio chunks, and neither says which chunk holds which word. :class:`PendingWords` gathers the
deltas into whole words; a :class:`~.performance.Performance` holds the voice's audio (not yet
analysed) while words are pending, and :func:`stretch_end` picks where a stretch of that audio
ends: at a pause, or after a second without one. The stretch is aligned against the
pending words by :func:`.phones.align_prefix`, which finds the run of them it holds, and only
those are used up. Audio whose frame is due before its stretch is aligned is shown from the
audio alone: the live clock is never held up for the words.

One daemon thread (:data:`ALIGNER`) aligns for every performance in the process: the
pocketsphinx decoder is shared and aligns one stretch at a time anyway.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from .phones import words

MAX_WORDS = 400  # pending words kept per voice; older ones are dropped (bounded memory)
PAUSE_S = 0.15  # this much quiet inside held audio ends a stretch
WINDOW_S = 1.0  # without a pause, a stretch ends after this much audio, at its quietest
URGENT_S = 0.3  # or after this much, when its first frame is due within LEAD_S
LEAD_S = 0.4
_BLOCK = 160  # samples (10 ms at 16 kHz) per level measurement
_QUIET_DB = 35.0  # a block this far under the loudest one of the held audio is quiet
_FLOOR_DB = -55.0  # and any block under this (dB re full scale) is


class PendingWords:
    """Words said but not yet matched to audio, gathered from text deltas: a word split
    across two deltas waits for its end (a space or punctuation) or for :meth:`close`."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self._partial = ""

    def add(self, text: str) -> None:
        text = self._partial + text
        cut = len(text)
        while cut > 0 and re.match(r"[A-Za-z'\u2019]", text[cut - 1]):
            cut -= 1
        self._partial = text[cut:]
        self._extend(words(text[:cut]))

    def close(self) -> None:
        """The utterance's text is complete: its last word too."""
        self._extend(words(self._partial))
        self._partial = ""

    def use(self, count: int) -> None:
        del self.words[:count]

    def clear(self) -> None:
        self.words.clear()
        self._partial = ""

    def _extend(self, new: list[str]) -> None:
        self.words.extend(new)
        del self.words[:-MAX_WORDS]


def stretch_end(
    held: npt.NDArray[np.float32], done: bool, sample_rate: int, urgent: bool = False
) -> tuple[int, bool]:
    """Where a stretch of ``held`` audio to align ends (samples from its start; 0: not yet),
    and whether its last word is whole there: in the middle of its last pause that follows
    some voice (whole); else, past ``WINDOW_S`` (or ``URGENT_S`` when ``urgent``: its first
    frame is nearly due), at its quietest 10 ms past its first half second (or first half)
    and before its last 50 ms (perhaps inside a word); else, when ``done`` (no more audio
    comes for these words), at its end (whole)."""
    blocks = len(held) // _BLOCK
    if blocks == 0:
        return (len(held), True) if done else (0, False)
    power = np.mean(held[: blocks * _BLOCK].reshape(blocks, _BLOCK).astype(np.float64) ** 2, 1)
    level = 10.0 * np.log10(power + 1e-12)
    quiet = level < max(_FLOOR_DB, float(level.max()) - _QUIET_DB)
    need = round(PAUSE_S * sample_rate / _BLOCK)
    run, end = 0, 0
    for k in range(blocks):
        run = run + 1 if quiet[k] else 0
        voiced_before = k - run >= 0 and not bool(quiet[: k - run + 1].all())
        if run >= need and voiced_before:
            end = (k + 1 - run // 2) * _BLOCK
    if end:
        return end, True
    if len(held) >= (URGENT_S if urgent else WINDOW_S) * sample_rate:
        lo = min(blocks // 2, sample_rate // (2 * _BLOCK))
        hi = blocks - round(0.05 * sample_rate / _BLOCK)
        if hi > lo:
            return (lo + int(np.argmin(level[lo:hi]))) * _BLOCK + _BLOCK // 2, False
    return (len(held), True) if done else (0, False)


class Aligner:
    """A daemon thread that runs the alignment jobs it is poked for, one at a time."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Callable[[], bool]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def poke(self, work: Callable[[], bool]) -> None:
        """Run ``work`` on the aligner's thread, again and again while it returns True (it
        found a stretch to align and aligned it)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="aligner", daemon=True)
                self._thread.start()
        self._queue.put(work)

    def _run(self) -> None:
        while True:
            work = self._queue.get()
            try:
                while work():
                    pass
            except Exception:  # one performance's failure must not stop the others' words
                import logging

                logging.getLogger(__name__).exception("aligning live words failed")


ALIGNER = Aligner()
