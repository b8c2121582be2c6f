"""Visemes from phones: the words known, pocketsphinx aligns them and the mouth takes each
phone's shape; a hum that is no voice leaves the mouth still. Speech from flite, whose own phone
timings (``-psdur``) are the reference, not pocketsphinx's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from lpm_guard.generator.audio import SAMPLE_RATE, VoiceAnalyzer, analyse
from lpm_guard.generator.controls import VoiceFrame
from lpm_guard.generator.phones import align
from scipy.signal import sawtooth

from .test_audio import Spoken, speak

FPS = 25
TEXT = "Bob paid for a map by the farm."


@pytest.fixture(scope="module")
def bob(tmp_path_factory: pytest.TempPathFactory) -> Spoken:
    return speak(TEXT, tmp_path_factory.mktemp("flite"))


def _frames(samples: np.ndarray, text: str | None) -> list[VoiceFrame]:
    analyzer = VoiceAnalyzer(fps=FPS)
    if text:
        analyzer.add_phones(align(samples, text))
    return analyzer.push(samples) + analyzer.flush()


def _frames_of(segments: list[tuple[str, float, float]], names: set[str]) -> list[list[int]]:
    out = []
    for phone, start, end in segments:
        if phone in names:
            first, last = int(np.ceil(start * FPS - 0.5)), int(np.ceil(end * FPS - 0.5)) - 1
            out.append(list(range(first, last + 1)) or [int((start + end) / 2 * FPS)])
    return out


def test_pocketsphinx_aligns_the_words_where_flite_said_them(bob: Spoken) -> None:
    samples, segments = bob
    phones = [p for p in align(samples, TEXT) if not p.silent]
    flite = [s for s in segments if s[0] != "pau"]
    assert [p.name for p in phones][:3] == ["B", "AA", "B"]
    # Each of flite's bilabials has an aligned bilabial within 50 ms of its middle.
    for name, start, end in flite:
        if name in {"b", "p", "m"}:
            middle = (start + end) / 2
            assert any(
                p.name == name.upper() and abs((p.start + p.end) / 2 - middle) < 0.05
                for p in phones
            )


def test_the_same_words_align_alike_whatever_was_aligned_before(tmp_path: Path) -> None:
    """A worker and the gate's own process align a job's words after different histories (the
    jobs each ran before): the phones must depend on this audio and these words alone."""
    text = "Papa made a palm basket by the beach."
    samples, _ = speak(text, tmp_path)
    noise = np.random.default_rng(7).normal(0.0, 0.1, SAMPLE_RATE).astype(np.float32)
    align(noise, "a")
    after_noise = align(samples, text)
    align(samples, text)
    assert align(samples, text) == after_noise


def test_known_words_shut_the_lips_on_every_bilabial_and_open_the_vowels(bob: Spoken) -> None:
    samples, segments = bob
    frames = _frames(samples, TEXT)
    close = np.array([f.lip_close for f in frames])
    jaw = np.array([f.jaw_open for f in frames])
    bilabials = _frames_of(segments, {"b", "p", "m"})
    assert len(bilabials) == 7  # Bob, paid, map, by, farm
    for own in bilabials:
        assert close[own].max() >= 0.9
    # /f/ brings the lower lip up part way; open vowels open the jaw far more than closures.
    open_vowels = [i for own in _frames_of(segments, {"aa", "ao"}) for i in own]
    closed = [i for own in bilabials for i in own]
    assert jaw[open_vowels].mean() > 0.5
    assert jaw[open_vowels].mean() > 4 * max(jaw[closed].mean(), 0.02)
    # Silence before and after the words: the mouth is exactly at rest.
    assert jaw[:3].max() == 0.0 and close[:3].max() == 0.0
    assert frames[-1].jaw_open == 0.0 and frames[-1].lip_close == 0.0


def test_words_the_dictionary_lacks_leave_the_audio_in_charge(bob: Spoken) -> None:
    samples, _ = bob
    assert align(samples, "Bob paid for a zzqxv by the farm.") == []
    assert align(samples, "") == []
    by_audio = _frames(samples, None)
    assert _frames(samples, "zzqxv") == by_audio


def test_a_hum_that_is_no_voice_leaves_the_mouth_shut(bob: Spoken) -> None:
    """A buzz with harmonics like a voice, and hiss: the formant tracker takes it for a voice,
    silero-vad does not, and the mouth stays shut through it, even right after speech."""
    samples, _ = bob
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    rng = np.random.default_rng(0)
    hum = 0.08 * sawtooth(2 * np.pi * 130 * t) + 0.02 * rng.standard_normal(t.size)
    alone = analyse(hum.astype(np.float32))
    assert max(f.voiced for f in alone) >= 0.9  # it does look like a voice
    assert max(f.jaw_open for f in alone) == 0.0
    # The voice-activity gate is what keeps the mouth still: without it the hum talks.
    assert max(f.jaw_open for f in analyse(hum.astype(np.float32), voice_activity=False)) > 0.1
    after = analyse(np.concatenate([samples, hum.astype(np.float32)]))
    speech = len(samples) * FPS // SAMPLE_RATE
    assert max(f.jaw_open for f in after[:speech]) > 0.3
    # From 0.4 s into the hum on (the mouth closes as a voice ends), not a flicker.
    assert max(f.jaw_open for f in after[speech + 10 :]) == 0.0
