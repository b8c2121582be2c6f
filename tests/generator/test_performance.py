"""Performances: speaking, listening, determinism, pacing, and the offline MP4."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import av
import numpy as np
import pytest
from lpm_guard.generator import (
    SAMPLE_RATE,
    AudioError,
    Character,
    Performance,
    Role,
    State,
    load_audio,
    render,
)

from .conftest import flite


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    return flite("Well, I think that is a wonderful idea. Tell me more about it.", path)


def _digest(performance: Performance, count: int) -> str:
    digest = hashlib.sha256()
    for frame in performance.frames(count):
        digest.update(frame.rgb.tobytes())
    return digest.hexdigest()


def test_the_same_inputs_and_seed_give_identical_frames(character: Character, speech: Path) -> None:
    audio = load_audio(speech)
    digests = []
    for _ in range(2):
        performance = Performance(character, seed=7)
        performance.instruct("smile warmly")
        performance.feed_audio(audio, Role.AGENT)
        performance.end_audio()
        digests.append(_digest(performance, 60))
    assert digests[0] == digests[1]
    other = Performance(character, seed=8)
    other.feed_audio(audio, Role.AGENT)
    other.end_audio()
    assert _digest(other, 60) != digests[0]


def test_speaking_moves_the_mouth_and_silence_keeps_it_still(
    character: Character, speech: Path
) -> None:
    performance = Performance(character)
    audio = load_audio(speech)
    performance.feed_audio(np.concatenate([audio, np.zeros(SAMPLE_RATE, np.float32)]), Role.AGENT)
    performance.end_audio()
    frames = list(performance.frames())
    jaw = np.array([f.controls.jaw_open for f in frames])
    speaking = len(audio) * 25 // SAMPLE_RATE
    assert jaw[:speaking].max() > 0.3
    assert (jaw[speaking + 10 :] == 0).all()
    assert State.SPEAKING in {f.state for f in frames[:speaking]}


def test_listening_keeps_the_mouth_closed_and_nods_after_a_pause(
    character: Character, speech: Path
) -> None:
    performance = Performance(character, seed=3)
    audio = load_audio(speech)
    performance.feed_audio(
        np.concatenate([audio, np.zeros(3 * SAMPLE_RATE, np.float32)]), Role.USER
    )
    performance.end_audio()
    frames = list(performance.frames())
    assert all(f.controls.jaw_open == 0 and f.controls.lip_close == 0 for f in frames)
    assert State.LISTENING in {f.state for f in frames}
    assert performance.behaviour.nods_started >= 1
    ends = len(audio) * 25 // SAMPLE_RATE
    pitch = np.array([f.controls.pitch for f in frames[ends - 10 :]])
    assert pitch.max() - pitch.min() > 0.03  # a visible nod around the pause


def test_unknown_instructions_are_ignored(character: Character) -> None:
    performance = Performance(character)
    assert performance.instruct("xyzzy plugh") == []
    assert performance.instruct("") == []
    assert "smile" in " ".join(performance.instruct("please smile warmly"))


def test_late_live_audio_starts_at_the_next_frame(character: Character) -> None:
    performance = Performance(character)
    list(performance.frames(10))  # 0.4 s of silence shown before any audio arrives
    tone = 0.3 * np.sin(np.arange(SAMPLE_RATE) * 2 * np.pi * 180 / SAMPLE_RATE)
    performance.feed_audio(tone.astype(np.float32), Role.AGENT)
    track = performance.tracks[Role.AGENT]
    assert track.samples == SAMPLE_RATE + 10 * SAMPLE_RATE // 25


def test_live_paces_frames_by_the_clock(character: Character) -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    performance = Performance(character)
    frames = performance.live(clock=lambda: now[0], sleep=sleep)
    times = []
    for _ in range(5):
        next(frames)
        times.append(now[0])
    assert np.allclose(np.diff(times), 0.04, atol=1e-6)


def test_render_writes_a_synced_mp4(character: Character, speech: Path, tmp_path: Path) -> None:
    out = tmp_path / "talk.mp4"
    seen: list[int] = []
    count = render(
        character,
        speech,
        out,
        instructions=[(0.0, "calm")],
        progress=lambda done, total: seen.append(done),
    )
    assert seen[-1] == count
    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
        decoded = sum(1 for _ in container.decode(video=0))
        assert decoded == count
        assert (video.width, video.height) == (512, 512)
    duration = len(load_audio(speech)) / SAMPLE_RATE
    assert abs(count / 25 - duration) <= 0.04
    assert [p.name for p in tmp_path.iterdir()] == ["talk.mp4"]


def test_dialogue_listens_while_the_other_side_speaks(
    character: Character, speech: Path, tmp_path: Path
) -> None:
    audio = load_audio(speech)
    silence = np.zeros_like(audio)
    performance = Performance(character, seed=1)
    performance.feed_audio(np.concatenate([silence, audio]), Role.AGENT)
    performance.feed_audio(np.concatenate([audio, silence]), Role.USER)
    performance.end_audio()
    states = [f.state for f in performance.frames()]
    half = len(states) // 2
    assert states[half // 2] is State.LISTENING
    assert states[half + half // 2] is State.SPEAKING


def test_bad_audio_leaves_no_file(character: Character, tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVE")
    with pytest.raises(AudioError):
        render(character, broken, tmp_path / "out.mp4")
    assert [p.name for p in tmp_path.iterdir()] == ["broken.wav"]


def test_render_can_show_a_progress_bar(
    character: Character, speech: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bar.mp4"
    assert render(character, speech, out, progress=True) > 0
    assert out.stat().st_size > 10_000


def test_a_long_performance_forgets_the_voices_it_has_shown(character: Character) -> None:
    performance = Performance(character)
    tone = (0.2 * np.sin(np.arange(SAMPLE_RATE * 20) * 2 * np.pi * 150 / SAMPLE_RATE)).astype(
        np.float32
    )
    performance.feed_audio(tone, Role.AGENT)
    for _ in performance.frames(400):
        pass
    track = performance.tracks[Role.AGENT]
    # Only the 100 frames of audio not yet shown are kept, not the 400 already shown.
    assert track.first == 400 and len(track.pending) <= 100


def test_render_encodes_what_the_frame_filter_returns(
    character: Character, speech: Path, tmp_path: Path
) -> None:
    def paint(rgb: np.ndarray) -> np.ndarray:
        marked = rgb.copy()
        marked[:64, :64] = (255, 0, 255)
        return marked

    out = tmp_path / "marked.mp4"
    render(character, speech, out, frame_filter=paint)
    with av.open(str(out)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert np.abs(first[8:56, 8:56].astype(int) - (255, 0, 255)).max() < 24

    def shrink(rgb: np.ndarray) -> np.ndarray:
        return rgb[::2, ::2]

    with pytest.raises(ValueError, match="frame_filter"):
        render(character, speech, tmp_path / "bad.mp4", frame_filter=shrink)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["marked.mp4"]


def test_cancel_stops_the_speech_at_once_and_eases_the_mouth_shut(
    character: Character, speech: Path
) -> None:
    audio = load_audio(speech)
    performance = Performance(character)
    performance.feed_audio(audio, Role.AGENT)
    frames = list(performance.frames(30))
    assert frames[-1].state is State.SPEAKING
    opening = max(f.controls.jaw_open for f in frames[-5:])
    assert opening > 0.1
    performance.cancel()
    after = list(performance.frames(8))
    jaws = [f.controls.jaw_open for f in after]
    # Three frames ease the mouth shut (no pop), then it stays shut: the rest of the speech
    # fed before the cancel is never shown.
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(jaws))
    assert jaws[0] < frames[-1].controls.jaw_open or frames[-1].controls.jaw_open == 0.0
    assert jaws[3:] == [0.0] * 5
    assert performance.duration_frames() == 30  # nothing of the cancelled speech is left
    # New speech after the cancel starts at once, from the next frame.
    performance.feed_audio(audio[:SAMPLE_RATE], Role.AGENT)
    resumed = list(performance.frames(25))
    assert max(f.controls.jaw_open for f in resumed) > 0.1
