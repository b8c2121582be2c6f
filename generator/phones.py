"""Visemes from phones: when the words of the speech are known, pocketsphinx aligns their phones
to the audio and the mouth takes each phone's shape — lips shut for /p b m/, the lower lip at
the upper teeth for /f v/, rounded for /u o w/, each open vowel its own opening.

pocketsphinx's forced alignment (its US English model and dictionary ship in the wheel) is the
same one the lip-sync benchmark measures against. Words its dictionary lacks cannot be aligned;
then the audio alone drives the mouth.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

from .visemes import Mouth

_FRAME_S = 0.01  # pocketsphinx counts in 10 ms frames
_LOCK = threading.Lock()  # one shared decoder; alignment is rare (once per utterance)


@dataclass(frozen=True, slots=True)
class Phone:
    name: str  # ARPAbet without stress ("AA", "P"), or "SIL"
    start: float  # s, on the stream's timeline
    end: float

    @property
    def silent(self) -> bool:
        return self.name == "SIL" or self.name.startswith("+")


def words(text: str) -> list[str]:
    """The text as pocketsphinx's dictionary spells it: lower case, letters and apostrophes."""
    return re.findall(r"[a-z']+", text.lower().replace("\u2019", "'"))


@cache
def _decoder() -> Any:
    from pocketsphinx import Decoder

    return Decoder(samprate=16_000, loglevel="FATAL")


_LIVE_LOCK = threading.Lock()


@cache
def _live_decoder() -> Any:
    """A decoder of its own for live words (about 90 MB, made on first use): fed in pieces,
    pocketsphinx updates its running cepstral mean, and on the shared decoder that moved a
    worker's later offline alignments away from the gate's own (the same job, two renders)."""
    from pocketsphinx import Decoder

    return Decoder(samprate=16_000, loglevel="FATAL")


def _forget(decoder: Any) -> None:
    """Start the decoder's front end afresh: pocketsphinx carries its cepstral mean (and more;
    resetting the mean alone is not enough) from one utterance to the next, so the same words
    in the same audio aligned differently after other audio: a worker's render of a job and
    this process's drew the first frames' mouth differently, by what each had aligned before."""
    decoder.reinit_feat()


def align(samples: npt.NDArray[np.float32], text: str, offset_s: float = 0.0) -> list[Phone]:
    """The phones of ``text`` in 16 kHz ``samples``, shifted by ``offset_s``; empty when the
    text has no words, a word is not in the dictionary, or the alignment fails."""
    spoken = words(text)
    if not spoken or len(samples) < 1600:
        return []
    raw = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    with _LOCK:
        decoder = _decoder()
        if any(decoder.lookup_word(w) is None for w in spoken):
            return []
        _forget(decoder)
        try:
            # First pass: the words; second pass: the phones inside them.
            decoder.set_align_text(" ".join(spoken))
            decoder.start_utt()
            decoder.process_raw(raw, full_utt=True)
            decoder.end_utt()
            decoder.set_alignment()
            decoder.start_utt()
            decoder.process_raw(raw, full_utt=True)
            decoder.end_utt()
            alignment = decoder.get_alignment()
        except RuntimeError:
            return []
        if alignment is None:
            return []
        phones: list[Phone] = []
        # Plain nested loops: materialising the iterators (list(...)) crashes pocketsphinx.
        for word in alignment:
            for phone in word:
                start = offset_s + phone.start * _FRAME_S
                end = offset_s + (phone.start + phone.duration) * _FRAME_S
                phones.append(Phone(str(phone.name), start, end))
    return phones


_PIECE = 3_200  # samples a call hands pocketsphinx at a time: it holds the GIL while it works
_SKIP = 12  # words at the front of the pending ones a live stretch may have passed by


def _feed(decoder: Any, raw: bytes) -> None:
    """One utterance in pieces of 0.2 s, so that other threads (the live frames) run between
    them: pocketsphinx keeps the GIL for the whole of each call."""
    decoder.start_utt()
    for at in range(0, len(raw), 2 * _PIECE):
        decoder.process_raw(raw[at : at + 2 * _PIECE], full_utt=False)
    decoder.end_utt()


def _chain(spoken: list[str]) -> str:
    out = ""
    for word in reversed(spoken):
        out = f"{word} [{out}]" if out else word
    return out


def align_prefix(
    samples: npt.NDArray[np.float32], pending: list[str], offset_s: float = 0.0
) -> tuple[int, list[Phone], list[float]]:
    """The words of ``pending`` (in order, as :func:`words` spells them) spoken in ``samples``,
    for live speech whose transcript runs ahead of (or behind) its audio: pocketsphinx finds
    the longest run of them the audio holds, from one of the first thirteen (a stretch may
    start after words whose audio was shown without them, its frames due before it was cut)
    through a prefix of the rest (the audio may end before the transcript does; JSGF ``w1 [w2
    [w3 ...]]``), then aligns their phones. Returns how many of ``pending`` the stretch used
    up (0 when none), the phones, and when each word used starts (both shifted by
    ``offset_s``). Words after the first one pocketsphinx's dictionary lacks are not tried."""
    if not pending or len(samples) < 1600:
        return 0, [], []
    raw = (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
    with _LIVE_LOCK:
        decoder = _live_decoder()
        known: list[str] = []
        for word in pending[:200]:
            if decoder.lookup_word(word) is None:
                break
            known.append(word)
        if not known:
            return 0, [], []
        _forget(decoder)
        firsts = range(min(_SKIP + 1, len(known)))
        rules = " | ".join(f"({_chain(known[i:])})" for i in firsts)
        try:
            decoder.add_jsgf_string(
                "spoken", f"#JSGF V1.0;\ngrammar spoken;\npublic <s> = {rules};\n"
            )
            decoder.activate_search("spoken")
            _feed(decoder, raw)
            hyp = decoder.hyp()
        except (RuntimeError, ValueError):
            return 0, [], []
        heard = words(hyp.hypstr) if hyp is not None else []
        if not heard:
            return 0, [], []
        # Which start the recogniser took: the first one whose run begins with its words.
        first = next((i for i in firsts if known[i : i + len(heard)] == heard), None)
        if first is None:
            return 0, [], []
        try:
            decoder.set_align_text(" ".join(heard))
            _feed(decoder, raw)
            decoder.set_alignment()
            _feed(decoder, raw)
            alignment = decoder.get_alignment()
        except RuntimeError:
            return 0, [], []
        if alignment is None:
            return 0, [], []
        phones: list[Phone] = []
        starts: list[float] = []
        for word in alignment:
            if not str(word.name).startswith("<"):
                starts.append(offset_s + word.start * _FRAME_S)
            for phone in word:
                start = offset_s + phone.start * _FRAME_S
                end = offset_s + (phone.start + phone.duration) * _FRAME_S
                phones.append(Phone(str(phone.name), start, end))
    return first + len(heard), phones, starts


def _m(jaw: float, width: float = 0.25, rnd: float = 0.0, close: float = 0.0) -> Mouth:
    return Mouth(jaw_open=jaw, lip_width=width, lip_round=rnd, lip_close=close)


# Each phone's mouth (the controls' units). Open vowels differ in opening and spread:
# /ɑ/ widest, /æ/ wide and spread, /ʌ/ half; rounded vowels protrude at smaller openings;
# consonants keep the jaw nearly shut and borrow the rest from their neighbours through
# coarticulation. Hand-set from the phonetics (Ladefoged, A Course in Phonetics), not learnt.
VISEMES: dict[str, Mouth] = {
    "P": _m(0.0, 0.2, close=1.0),
    "B": _m(0.0, 0.2, close=1.0),
    "M": _m(0.0, 0.2, close=1.0),
    "F": _m(0.08, 0.35, close=0.55),
    "V": _m(0.08, 0.35, close=0.55),
    "W": _m(0.12, 0.0, rnd=1.0),
    "UW": _m(0.22, 0.0, rnd=0.9),
    "UH": _m(0.32, 0.1, rnd=0.55),
    "OW": _m(0.45, 0.05, rnd=0.75),
    "OY": _m(0.5, 0.1, rnd=0.6),
    "AO": _m(0.75, 0.1, rnd=0.45),
    "AA": _m(1.0, 0.3),
    "AE": _m(0.8, 0.65),
    "AH": _m(0.6, 0.3),
    "AW": _m(0.85, 0.25, rnd=0.2),
    "AY": _m(0.9, 0.45),
    "EH": _m(0.5, 0.6),
    "EY": _m(0.4, 0.7),
    "IH": _m(0.3, 0.7),
    "IY": _m(0.2, 1.0),
    "ER": _m(0.35, 0.1, rnd=0.45),
    "Y": _m(0.18, 0.9),
    "R": _m(0.25, 0.1, rnd=0.5),
    "SH": _m(0.18, 0.0, rnd=0.65),
    "ZH": _m(0.18, 0.0, rnd=0.65),
    "CH": _m(0.18, 0.0, rnd=0.65),
    "JH": _m(0.18, 0.0, rnd=0.65),
    "S": _m(0.1, 0.6),
    "Z": _m(0.1, 0.6),
    "TH": _m(0.18, 0.45),
    "DH": _m(0.18, 0.45),
    "T": _m(0.2, 0.45),
    "D": _m(0.2, 0.45),
    "N": _m(0.2, 0.45),
    "L": _m(0.28, 0.4),
    "K": _m(0.28, 0.35),
    "G": _m(0.28, 0.35),
    "NG": _m(0.25, 0.35),
    "HH": _m(0.35, 0.3),
}


class PhoneTrack:
    """Phones on a stream's timeline, asked frame by frame: which mouth a frame shows."""

    def __init__(self, fps: int) -> None:
        self.fps = fps
        self._phones: list[Phone] = []
        self._covered: list[tuple[float, float]] = []  # spans whose words were aligned

    def add(self, phones: list[Phone]) -> None:
        if not phones:
            return
        self._phones.extend(phones)
        self._phones.sort(key=lambda p: p.start)
        self._covered.append((phones[0].start, phones[-1].end))

    def covers(self, index: int) -> bool:
        """Whether frame ``index`` lies in audio whose words were aligned."""
        t = (index + 0.5) / self.fps
        return any(a <= t < b for a, b in self._covered)

    def mouth(self, index: int) -> Mouth | None:
        """The mouth frame ``index`` asks for; None when it is silent (or not covered). A
        bilabial or labiodental shorter than the frame still claims it: its closure is what a
        viewer looks for."""
        t0, t1 = index / self.fps, (index + 1) / self.fps
        centre = 0.5 * (t0 + t1)
        best: Phone | None = None
        for phone in self._phones:
            if phone.end <= t0:
                continue
            if phone.start >= t1:
                break
            if phone.silent:
                continue
            holds_centre = phone.start <= centre < phone.end
            if VISEMES.get(phone.name, Mouth()).lip_close >= 0.5:
                # A closure claims every frame it fills a third of, and one shorter than a
                # frame, holding no frame's centre, the frame nearest its middle: a /b/ of
                # 30 ms still shuts the lips on screen, and an alignment 10-20 ms off still
                # shows the lips shut in the frames that hold the closure.
                overlap = min(phone.end, t1) - max(phone.start, t0)
                middle = int(0.5 * (phone.start + phone.end) * self.fps)
                if (
                    holds_centre
                    or overlap * self.fps >= 1.0 / 3.0
                    or (not self._holds_a_centre(phone) and middle == index)
                ):
                    return VISEMES[phone.name]
            if best is None or holds_centre:
                best = phone
        return None if best is None else VISEMES.get(best.name, _m(0.25))

    def _holds_a_centre(self, phone: Phone) -> bool:
        first = int(np.ceil(phone.start * self.fps - 0.5))
        return (first + 0.5) / self.fps < phone.end

    def forget(self, before_s: float) -> None:
        """Drop phones and spans that ended before ``before_s`` (a session lasts hours)."""
        self._phones = [p for p in self._phones if p.end >= before_s]
        self._covered = [c for c in self._covered if c[1] >= before_s]
