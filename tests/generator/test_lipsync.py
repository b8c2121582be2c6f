"""Lip sync as a viewer sees it: dlib on the rendered frames against forced-aligned phones.

flite speaks known sentences, pocketsphinx aligns their text to find where each phone is, and
dlib's landmarks on every rendered frame give the inner-lip gap. Nothing is read from the
renderer's own state. ``bench/lipsync.py`` is the full version (several voices, lag, stillness).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pytest
from lpm_guard.generator import SAMPLE_RATE, Character, Performance, Role, load_audio
from lpm_guard.generator.faces import find_face, landmarks_in
from lpm_guard.generator.render import lip_gap
from pocketsphinx import Decoder

from .conftest import flite

FPS = 25
SENTENCES = ("Bob bought a big map.", "Papa made a palm basket.")
BILABIALS = {"P", "B", "M"}
OPEN_VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY"}
CLOSED = 0.03  # inner-lip gap / inter-ocular distance at or under which the lips touch
LEAD_S, TAIL_S = 0.3, 0.5


@dataclass(frozen=True)
class Phone:
    name: str
    start: float  # s
    end: float  # s


@dataclass(frozen=True)
class Spoken:
    phones: list[Phone]
    gaps: np.ndarray  # per frame: dlib's inner-lip gap / inter-ocular distance


def _align(decoder: Decoder, samples: np.ndarray, text: str) -> list[Phone]:
    """Phone timings from pocketsphinx's forced alignment of the known text."""
    raw = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    decoder.set_align_text(" ".join(re.findall(r"[a-z']+", text.lower())))
    decoder.start_utt()
    decoder.process_raw(raw, full_utt=True)
    decoder.end_utt()
    decoder.set_alignment()  # second pass: phones inside the words
    decoder.start_utt()
    decoder.process_raw(raw, full_utt=True)
    decoder.end_utt()
    phones = []
    for word in decoder.get_alignment():  # plain loops: list() on these crashes
        for phone in word:
            start = phone.start / 100  # 10 ms frames
            phones.append(Phone(phone.name, start, start + phone.duration / 100))
    return phones


def _gaps(character: Character, samples: np.ndarray) -> np.ndarray:
    performance = Performance(character, fps=FPS)
    performance.feed_audio(samples, Role.AGENT)
    performance.end_audio()
    gaps: list[float] = []
    box: tuple[int, int, int, int] | None = None
    anchor = shift = np.zeros(2)
    for frame in performance.frames():
        if box is None:
            face = find_face(frame.rgb)
            box, marks = face.box, face.landmarks
            anchor = marks[36:48].mean(0)
        else:  # the first face box, following the eyes
            dx, dy = np.round(shift).astype(int)
            marks = landmarks_in(frame.rgb, (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy))
        shift = marks[36:48].mean(0) - anchor
        interocular = np.linalg.norm(marks[36:42].mean(0) - marks[42:48].mean(0))
        gaps.append(lip_gap(marks) / interocular)
    return np.array(gaps)


@pytest.fixture(scope="module")
def spoken(tmp_path_factory: pytest.TempPathFactory, character: Character) -> list[Spoken]:
    folder = tmp_path_factory.mktemp("lipsync")
    decoder = Decoder(samprate=SAMPLE_RATE, loglevel="ERROR")
    out = []
    for n, text in enumerate(SENTENCES):
        speech = load_audio(flite(text, folder / f"{n}.wav", voice="slt"))
        samples = np.concatenate(
            [
                np.zeros(round(LEAD_S * SAMPLE_RATE), np.float32),
                speech,
                np.zeros(round(TAIL_S * SAMPLE_RATE), np.float32),
            ]
        )
        out.append(Spoken(_align(decoder, samples, text), _gaps(character, samples)))
    return out


def _frames(phone: Phone, count: int) -> list[int]:
    """The frames whose centre lies in the phone (frame i shows [i/fps, (i+1)/fps)), or the one
    nearest its middle."""
    inside = [i for i in range(count) if phone.start <= (i + 0.5) / FPS < phone.end]
    return inside or [min(int((phone.start + phone.end) / 2 * FPS), count - 1)]


def test_the_alignment_finds_every_bilabial(spoken: list[Spoken]) -> None:
    # bob bought a big map: B B B B M P; papa made a palm basket: P P M P M B
    names = [[p.name for p in s.phones if p.name in BILABIALS] for s in spoken]
    assert names == [list("BBBBMP"), list("PPMPMB")]


def test_the_lips_close_on_p_b_m(spoken: list[Spoken]) -> None:
    closed = [
        s.gaps[_frames(p, len(s.gaps))].min() <= CLOSED
        for s in spoken
        for p in s.phones
        if p.name in BILABIALS
    ]
    assert sum(closed) >= 0.75 * len(closed), f"{sum(closed)} of {len(closed)} closed"


def test_the_mouth_opens_on_open_vowels(spoken: list[Spoken]) -> None:
    opened: list[float] = []
    pressed: list[float] = []
    for s in spoken:
        for p in s.phones:
            if p.name in OPEN_VOWELS | BILABIALS:
                gaps = s.gaps[_frames(p, len(s.gaps))]
                (opened if p.name in OPEN_VOWELS else pressed).extend(gaps)
    assert np.mean(opened) >= 0.15  # clearly open: 15 % of the inter-ocular distance
    assert np.mean(opened) >= 3 * max(float(np.mean(pressed)), CLOSED / 2)


def test_the_mouth_keeps_still_before_the_first_word(spoken: list[Spoken]) -> None:
    # Still, not necessarily shut: at rest the mouth keeps the photo's own shape. The frame
    # just before the first phone may already move towards it.
    for s in spoken:
        first = next(p for p in s.phones if p.name != "SIL")
        before = s.gaps[: int(first.start * FPS) - 1]
        assert len(before) >= 5 and np.ptp(before) <= 0.025
