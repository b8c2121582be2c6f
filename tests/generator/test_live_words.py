"""A live agent's transcript, arriving in deltas beside its audio, reaches the mouth: only the
words a stretch of audio holds are used up, and a frame never waits for them."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from lpm_guard.generator import SAMPLE_RATE, Character, Performance, Role, load_audio
from lpm_guard.generator.live_words import PendingWords, stretch_end

from .conftest import flite


def test_deltas_become_whole_words_even_split_mid_word() -> None:
    pending = PendingWords()
    for delta in ["Pa", "pa ma", "de a", " pal", "m"]:
        pending.add(delta)
    assert pending.words == ["papa", "made", "a"]  # "palm" may go on
    pending.close()
    assert pending.words == ["papa", "made", "a", "palm"]
    pending.use(2)
    assert pending.words == ["a", "palm"]


def test_a_stretch_ends_in_a_pause_after_voice_not_in_leading_silence() -> None:
    rng = np.random.default_rng(0)
    voice = (0.3 * rng.standard_normal(SAMPLE_RATE // 2)).astype(np.float32)
    quiet = np.zeros(SAMPLE_RATE // 4, np.float32)
    held = np.concatenate([quiet, voice, quiet, voice])
    end, whole = stretch_end(held, done=False, sample_rate=SAMPLE_RATE)
    assert len(quiet) + len(voice) < end < 2 * len(quiet) + len(voice) and whole
    assert stretch_end(np.concatenate([quiet, voice]), False, SAMPLE_RATE) == (0, False)
    ended = stretch_end(np.concatenate([quiet, voice]), True, SAMPLE_RATE)
    assert ended == (SAMPLE_RATE * 3 // 4, True)
    # Its first frame nearly due, a stretch is cut without a pause (its last word may be cut).
    urgent = stretch_end(np.concatenate([quiet, voice]), False, SAMPLE_RATE, urgent=True)
    assert 0 < urgent[0] < SAMPLE_RATE * 3 // 4 and not urgent[1]


def _wait_aligned(performance: Performance, held: int = 0) -> None:
    track = performance.tracks[Role.AGENT]
    deadline = time.monotonic() + 20.0
    while len(track.held) > held and time.monotonic() < deadline:
        time.sleep(0.01)


def test_only_the_words_spoken_are_used_up_and_their_phones_shape_the_mouth(
    character: Character, tmp_path: Path
) -> None:
    first = load_audio(flite("Bob paid the bill.", tmp_path / "a.wav"))
    second = load_audio(flite("Then mom parked by the barn.", tmp_path / "b.wav"))
    pause = np.zeros(round(0.4 * SAMPLE_RATE), np.float32)
    voice = np.concatenate([pause, first, pause, second, pause])
    performance = Performance(character)
    # The whole transcript comes first, as a voice agent's deltas do; then the first phrase
    # and part of the second, in 100 ms chunks.
    for delta in ["Bob pa", "id the bill. Then m", "om parked by the barn."]:
        performance.feed_transcript(delta)
    upto = len(pause) * 2 + len(first) + len(second) // 2
    for at in range(0, upto, 1600):
        performance.feed_audio(voice[at : min(at + 1600, upto)], Role.AGENT)
    track = performance.tracks[Role.AGENT]
    _wait_aligned(performance, held=len(second))
    assert track.words.words == ["then", "mom", "parked", "by", "the", "barn"]
    for at in range(upto, len(voice), 1600):
        performance.feed_audio(voice[at : at + 1600], Role.AGENT)
    performance.feed_transcript("", done=True)
    _wait_aligned(performance)
    assert track.words.words == [] and len(track.held) == 0
    # Both phrases' frames take their mouths from the phones aligned, not from the audio.
    phones = track.analyzer.phones
    for start, length in ((len(pause), len(first)), (2 * len(pause) + len(first), len(second))):
        middle = (start + length // 2) * 25 // SAMPLE_RATE
        assert phones.covers(middle)
    performance.end_audio()
    assert len(list(performance.frames())) == -(-len(voice) * 25 // SAMPLE_RATE)


def test_a_frame_due_before_its_words_are_aligned_shows_the_audio_alone(
    character: Character, tmp_path: Path
) -> None:
    voice = load_audio(flite("Bob paid the bill.", tmp_path / "a.wav"))
    performance = Performance(character)
    performance.feed_transcript("Bob paid the bill.")
    performance.feed_audio(voice[:8000], Role.AGENT)  # no pause yet: nothing to align
    assert performance.ready()  # held audio counts as there: the frame does not wait
    frames = [performance.next_frame() for _ in range(10)]
    assert any(f.controls.jaw_open > 0.1 for f in frames)
    assert performance.tracks[Role.AGENT].analysed >= 10


@pytest.mark.parametrize("done", [False, True])
def test_a_cancel_drops_the_held_voice_and_its_words(character: Character, done: bool) -> None:
    performance = Performance(character)
    performance.feed_transcript("papa made a palm basket", done=done)
    performance.feed_audio(np.zeros(SAMPLE_RATE, np.float32), Role.AGENT)
    performance.cancel()
    track = performance.tracks[Role.AGENT]
    assert len(track.held) == 0 and track.words.words == [] and track.transcribed


def test_a_stretch_uses_up_the_run_of_words_it_holds_past_words_already_shown(
    tmp_path: Path,
) -> None:
    from lpm_guard.generator.phones import align_prefix

    voice = load_audio(flite("Bob paid the bill.", tmp_path / "a.wav"))
    pending = ["well", "maybe", "bob", "paid", "the", "bill", "then", "mom", "parked"]
    used, phones, starts = align_prefix(voice, pending, offset_s=2.0)
    # "well maybe" was shown before (without its words); "then mom parked" is still to come.
    assert used == 6
    assert len(starts) == 4 and starts == sorted(starts)
    assert starts[0] >= 2.0 and starts[-1] < 2.0 + len(voice) / SAMPLE_RATE
    assert [p.name for p in phones if not p.silent][:3] == ["B", "AA", "B"]


def test_held_words_are_aligned_when_their_frames_come_near_though_no_audio_comes(
    character: Character, tmp_path: Path
) -> None:
    """A reply sent far ahead, then nothing more for a while (no pause, not done): the
    aligner looks again as its first frame comes near, instead of leaving it to the audio."""
    phrase = load_audio(flite("Bob paid the bill.", tmp_path / "a.wav"))
    voice = np.concatenate([np.zeros(SAMPLE_RATE * 3 // 2, np.float32), phrase[:12_800]])
    performance = Performance(character)
    performance.feed_transcript("Bob paid the bill. ")
    performance.feed_audio(voice, Role.AGENT)
    track = performance.tracks[Role.AGENT]
    _wait_aligned(performance, held=SAMPLE_RATE)  # the leading silence goes on its own
    time.sleep(0.3)
    assert track.words.words == ["bob", "paid", "the", "bill"]  # nothing aligned yet
    head = track.held_start * 25 // SAMPLE_RATE
    while performance.index < head - 9:  # the held speech's first frame, 0.36 s ahead
        performance.next_frame()
    deadline = time.monotonic() + 10.0
    while track.words.words[:1] == ["bob"] and time.monotonic() < deadline:
        time.sleep(0.01)
    assert track.words.words[:1] != ["bob"]
