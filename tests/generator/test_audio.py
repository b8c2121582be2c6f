"""Audio decoding and per-frame voice analysis: streaming invariants, silence, vowels, bilabial
closures, music against speech. Speech comes from flite (Debian package ``flite``)."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
from lpm_guard.generator.audio import SAMPLE_RATE, VoiceAnalyzer, analyse, load_audio
from lpm_guard.generator.controls import VoiceFrame
from lpm_guard.generator.errors import AudioError

Audio = npt.NDArray[np.float32]
Spoken = tuple[Audio, list[tuple[str, float, float]]]  # samples, (phone, start s, end s)
MOUTH = ("jaw_open", "lip_width", "lip_round", "lip_close")
BILABIALS = ("p", "b", "m")


# --- sources --------------------------------------------------------------------------------


def vowel(
    seconds: float,
    f0: float = 150.0,
    formants: tuple[tuple[float, float], ...] = ((730, 90), (1090, 110), (2440, 170)),
    vibrato: float = 0.0,
) -> Audio:
    """A sung vowel: a harmonic series (-6 dB/octave) shaped by two-pole formant resonances."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    phase = 2 * np.pi * np.cumsum(f0 * (1 + vibrato * np.sin(2 * np.pi * 5.5 * t))) / SAMPLE_RATE
    x = np.zeros_like(t)
    for k in range(1, int(5000 / f0)):
        f, gain = k * f0, 1.0 / k
        for centre, bandwidth in formants:
            gain /= abs(complex(1 - (f / centre) ** 2, f * bandwidth / centre**2))
        x += gain * np.sin(k * phase)
    out: Audio = (0.3 * x / np.abs(x).max()).astype(np.float32)
    return out


def music(seconds: float, seed: int = 0) -> Audio:
    """Sustained sine chords (two per second) with a noise-burst drum on every beat."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    x = np.zeros_like(t)
    progression = [(261.6, 329.6, 392.0), (349.2, 440.0, 523.3), (392.0, 493.9, 587.3)]
    step = SAMPLE_RATE // 2
    for start in range(0, t.size, step):
        for f in progression[(start // step) % len(progression)]:
            x[start : start + step] += 0.15 * np.sin(2 * np.pi * f * t[start : start + step])
    for start in range(0, t.size, SAMPLE_RATE // 4):
        n = min(SAMPLE_RATE // 8, t.size - start)
        x[start : start + n] += 0.3 * rng.standard_normal(n) * np.exp(-np.arange(n) / 480)
    out: Audio = (0.5 * x / np.abs(x).max()).astype(np.float32)
    return out


def _flite() -> str:
    found = shutil.which("flite")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("flite is not installed (apt-get install flite)")
        pytest.skip("flite is not installed (apt-get install flite)")
    return found


def speak(text: str, folder: Path) -> Spoken:
    """flite's slt voice saying ``text``, with its phone segments as (phone, start, end) s."""
    path = folder / f"{abs(hash(text))}.wav"
    run = subprocess.run(
        [_flite(), "-voice", "slt", "-psdur", "-t", text, "-o", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    segments, start = [], 0.0
    for item in run.stdout.split():
        phone, end = item.rsplit(":", 1)
        segments.append((phone, start, float(end)))
        start = float(end)
    return load_audio(path), segments


@pytest.fixture(scope="module")
def papa(tmp_path_factory: pytest.TempPathFactory) -> Spoken:
    return speak("Papa bought a map", tmp_path_factory.mktemp("flite"))


@pytest.fixture(scope="module")
def sentence(tmp_path_factory: pytest.TempPathFactory) -> Audio:
    text = "We were away a year ago, and my mother sang to me every morning."
    return speak(text, tmp_path_factory.mktemp("flite"))[0]


def column(frames: list[VoiceFrame], name: str) -> npt.NDArray[np.float64]:
    return np.array([getattr(f, name) for f in frames])


# --- load_audio -----------------------------------------------------------------------------


def test_load_audio_reads_wav_as_float_mono(papa: Spoken) -> None:
    samples, segments = papa
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(samples.size / SAMPLE_RATE - segments[-1][2]) < 0.05
    assert 0.05 < float(np.abs(samples).max()) <= 1.0


def _encode(path: Path, samples: Audio, codec: str) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=48_000 if codec == "libopus" else 22_050)
        assert isinstance(stream, av.AudioStream)
        stream.layout = "stereo"
        frame = av.AudioFrame.from_ndarray(
            np.stack([samples, samples], axis=1).reshape(1, -1), format="flt", layout="stereo"
        )
        frame.sample_rate = SAMPLE_RATE
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.mark.parametrize(
    ("suffix", "codec"),
    [(".m4a", "aac"), (".mp3", "libmp3lame"), (".flac", "flac"), (".ogg", "libopus")],
)
def test_load_audio_decodes_compressed_stereo_and_resamples(
    tmp_path: Path, suffix: str, codec: str
) -> None:
    source = vowel(1.0)
    path = tmp_path / f"vowel{suffix}"
    _encode(path, source, codec)
    samples = load_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(samples.size - source.size) < 0.1 * SAMPLE_RATE  # encoder priming aside
    rms = float(np.sqrt(np.mean(samples**2)))
    assert rms == pytest.approx(float(np.sqrt(np.mean(source**2))), rel=0.2)
    frames = analyse(samples)
    assert np.median(column(frames, "pitch")[5:-5]) == pytest.approx(150.0, rel=0.03)


def test_load_audio_resamples_to_the_rate_asked(tmp_path: Path) -> None:
    path = tmp_path / "v.flac"
    _encode(path, vowel(1.0), "flac")
    assert abs(load_audio(path, 8_000).size - 8_000) < 100


@pytest.mark.parametrize("content", [b"", b"this is not audio at all", bytes(range(256)) * 20])
def test_load_audio_rejects_unreadable_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.mp3"
    path.write_bytes(content)
    with pytest.raises(AudioError, match=r"bad\.mp3"):
        load_audio(path)


def test_load_audio_rejects_missing_files_and_files_without_sound(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="cannot read audio"):
        load_audio(tmp_path / "missing.wav")
    empty = tmp_path / "empty.flac"
    with av.open(str(empty), "w") as container:
        stream = container.add_stream("flac", rate=SAMPLE_RATE)
        assert isinstance(stream, av.AudioStream)
        for packet in stream.encode(None):
            container.mux(packet)
    with pytest.raises(AudioError, match="empty"):
        load_audio(empty)


# --- streaming ------------------------------------------------------------------------------


def _chunked(samples: Audio, size: int, fps: int = 25) -> list[VoiceFrame]:
    analyzer = VoiceAnalyzer(fps=fps)
    frames: list[VoiceFrame] = []
    for start in range(0, samples.size, size):
        frames += analyzer.push(samples[start : start + size])
    frames += analyzer.flush()
    assert analyzer.frames_emitted == len(frames)
    return frames


def test_any_chunking_gives_the_same_frames(
    papa: Spoken,
) -> None:
    samples = papa[0]
    whole = analyse(samples)
    assert len(whole) == -(-samples.size * 25 // SAMPLE_RATE)
    for size in (1, 137, 640, 16_000):
        assert _chunked(samples, size) == whole, size


@pytest.mark.parametrize("fps", [25, 30, 60])
def test_a_frame_never_depends_on_audio_past_its_lookahead(papa: Spoken, fps: int) -> None:
    samples = papa[0]
    whole = analyse(samples, fps=fps)
    lookahead = 40 * SAMPLE_RATE // 1000
    rng = np.random.default_rng(fps)
    for i in range(0, len(whole), 4):
        horizon = (i + 1) * SAMPLE_RATE // fps + lookahead
        if horizon > samples.size:
            break
        early = VoiceAnalyzer(fps=fps).push(samples[: horizon - 1])
        assert len(early) == i  # frame i needs every sample up to its horizon
        analyzer = VoiceAnalyzer(fps=fps)
        assert analyzer.push(samples[:horizon])[i] == whole[i]
        future = samples.copy()
        future[horizon:] = rng.uniform(-1, 1, samples.size - horizon)
        assert analyse(future, fps=fps)[i] == whole[i]


def test_analysis_is_deterministic(sentence: Audio) -> None:
    assert analyse(sentence) == analyse(sentence.copy())


def test_flush_pads_the_last_frame_and_closes_the_stream() -> None:
    analyzer = VoiceAnalyzer()
    assert analyzer.push(np.zeros(1000, np.float32)) == []  # 640 + 640 lookahead not yet in
    assert len(analyzer.flush()) == 2 and analyzer.frames_emitted == 2
    assert analyzer.flush() == []
    with pytest.raises(RuntimeError):
        analyzer.push(np.zeros(10))
    assert VoiceAnalyzer().flush() == []


def test_bad_input_is_refused() -> None:
    with pytest.raises(AudioError, match="mono"):
        VoiceAnalyzer().push(np.zeros((2, 100)))
    with pytest.raises(AudioError, match="NaN"):
        VoiceAnalyzer().push(np.array([0.0, np.nan]))
    with pytest.raises(ValueError):
        VoiceAnalyzer(fps=0)


# --- features -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "samples",
    [
        np.zeros(2 * SAMPLE_RATE, np.float32),
        (1e-3 * np.random.default_rng(1).standard_normal(2 * SAMPLE_RATE)).astype(np.float32),
        (3e-2 * np.random.default_rng(2).standard_normal(2 * SAMPLE_RATE)).astype(np.float32),
    ],
    ids=["zeros", "low-noise", "hiss"],
)
def test_silence_and_noise_keep_the_mouth_exactly_shut(samples: Audio) -> None:
    frames = analyse(samples)
    for name in MOUTH:
        assert all(getattr(f, name) == 0.0 for f in frames), name
    assert max(column(frames, "voiced")) < 0.1
    assert not any(f.speaking for f in frames)


def test_zeros_are_silent_in_every_field() -> None:
    assert set(analyse(np.zeros(SAMPLE_RATE, np.float32))) == {VoiceFrame()}


def test_the_mouth_shuts_and_stays_still_after_speech(sentence: Audio) -> None:
    rng = np.random.default_rng(5)
    tail = (1e-3 * rng.standard_normal(SAMPLE_RATE)).astype(np.float32)
    frames = analyse(np.concatenate([sentence, tail]))
    for f in frames[-15:]:
        assert (f.jaw_open, f.lip_width, f.lip_round, f.lip_close) == (0.0, 0.0, 0.0, 0.0)


def test_a_sustained_vowel_holds_the_jaw_open() -> None:
    # Synthetic vowels are no speech to silero-vad: the formant tracker's part, without it.
    samples = np.concatenate([vowel(2.0), np.zeros(SAMPLE_RATE // 2, np.float32)])
    frames = analyse(samples, voice_activity=False)
    held = frames[2:50]  # the vowel runs 0..2 s, frames 0..49
    assert min(column(held, "jaw_open")) > 0.3
    assert min(column(held, "voiced")) > 0.9
    assert np.median(column(held, "pitch")) == pytest.approx(150.0, rel=0.01)
    assert max(np.abs(column(held, "pitch_rel"))) < 0.05
    assert frames[-1] == VoiceFrame()


def test_a_sung_melody_stays_voiced_and_its_pitch_rel_follows_the_notes() -> None:
    notes = (220.0, 262.0, 330.0, 262.0, 196.0)
    frames = analyse(
        np.concatenate([vowel(0.6, f0=f, vibrato=0.015) for f in notes]), voice_activity=False
    )
    assert min(column(frames[2:-2], "jaw_open")) > 0.3
    assert np.mean(column(frames, "voiced")) > 0.9
    mid = [np.median(column(frames[15 * k + 4 : 15 * k + 11], "pitch_rel")) for k in range(5)]
    # Against the running median: the first note is the reference, the fourth repeats the
    # median of the first three, the last lies below all of them.
    assert mid[2] > mid[1] > mid[0] > mid[4]
    assert abs(mid[0]) < 0.02 and abs(mid[3]) < 0.05 and mid[4] < -0.3
    assert max(np.abs(column(frames, "pitch_rel"))) <= 1.0


def test_vowel_shapes_follow_the_formants() -> None:
    def mouth(formants: tuple[tuple[float, float], ...]) -> dict[str, float]:
        held = analyse(vowel(1.0, f0=120.0, formants=formants), voice_activity=False)[5:20]
        return {name: float(np.mean(column(held, name))) for name in MOUTH}

    a = mouth(((730, 90), (1090, 110), (2440, 170)))
    i = mouth(((280, 60), (2250, 100), (2900, 150)))
    u = mouth(((320, 60), (870, 80), (2240, 150)))
    assert a["jaw_open"] > 0.7 and a["jaw_open"] > 2 * max(i["jaw_open"], u["jaw_open"])
    assert i["lip_width"] > 0.7 and i["lip_round"] < 0.1
    assert u["lip_round"] > 0.6 and u["lip_width"] < 0.1
    assert max(a["lip_close"], i["lip_close"], u["lip_close"]) < 0.1


def test_bilabials_close_the_lips(papa: Spoken) -> None:
    samples, segments = papa
    frames = analyse(samples)
    close = column(frames, "lip_close")

    def frames_of(start: float, end: float) -> npt.NDArray[np.float64]:
        return close[int(start * 25) : int(np.ceil(end * 25))]

    bilabials = [(s, e) for p, s, e in segments if p in BILABIALS]
    assert len(bilabials) == 5
    # The first /p/ follows silence: its closure is the resting mouth, shut and still.
    assert segments[0][0] == "pau" and segments[1][0] == "p"
    first = frames[int(segments[1][1] * 25) : int(segments[1][2] * 25) - 1]
    assert all(f.jaw_open == 0.0 and f.lip_close == 0.0 for f in first)
    for start, end in bilabials[1:]:
        assert frames_of(start, end).max() > 0.5, (start, end)
    for start, end in [(s, e) for p, s, e in segments if p in ("aa", "ae")]:
        middle = (start + end) / 2
        assert frames_of(middle - 0.02, middle + 0.02).min() < 0.2, (start, end)
    peaks = [i for i in range(1, close.size - 1) if close[i - 1] < close[i] >= close[i + 1]]
    assert sum(close[i] > 0.5 for i in peaks) >= 4
    jaw = column(frames, "jaw_open")
    assert jaw.max() > 0.7  # the open vowels of "papa", "bought" and "map"


def test_music_without_a_voice_is_not_taken_for_one(sentence: Audio) -> None:
    chords = analyse(music(4.0))
    speech = analyse(sentence)
    speaking = [f for f in speech if f.energy > 0.3]
    assert np.mean(column(chords, "voiced")) < 0.1
    assert np.mean(column(speaking, "voiced")) > 0.8
    assert sum(f.speaking for f in chords) <= 2
    assert np.mean(column(chords, "jaw_open")) < 0.02


def test_a_voice_over_music_is_still_heard(sentence: Audio) -> None:
    mixed = sentence + 0.3 * music(sentence.size / SAMPLE_RATE + 0.1)[: sentence.size]
    alone, under = analyse(sentence), analyse(mixed)
    assert np.mean(column(under, "voiced")) > 0.8 * np.mean(column(alone, "voiced"))
    assert np.corrcoef(column(alone, "jaw_open"), column(under, "jaw_open"))[0, 1] > 0.8


def test_every_value_stays_in_range(sentence: Audio) -> None:
    for f in analyse(sentence, fps=30):
        for field in fields(VoiceFrame):
            value = getattr(f, field.name)
            if field.name == "pitch":
                assert value == 0.0 or 70.0 <= value <= 400.0
            elif field.name == "pitch_rel":
                assert -1.0 <= value <= 1.0
            else:
                assert 0.0 <= value <= 1.0, field.name


def test_a_vowel_falling_straight_into_a_murmur_shuts_the_lips() -> None:
    """The "I'm" of a real speaker (CMU ARCTIC slt_a0004, frames 20-22 as measured): F1 falls
    from 660 to 270 Hz in one frame and the band under 500 Hz takes over, though by 16 dB only
    (a murmur between two vowels is darker still). A glide towards a close vowel, or a close
    vowel held, keeps the lips apart."""
    from lpm_guard.generator.visemes import FrameFeatures, mouth_target

    def frame(f1: float, dark: float) -> FrameFeatures:
        return FrameFeatures(
            level_db=-17.0, energy=0.9, phonation=1.0, voiced=1.0, f1=f1, f2=1000.0, dark_db=dark
        )

    vowel, murmur = frame(660.0, 1.8), frame(271.0, 16.3)
    assert mouth_target(murmur, [frame(276.0, 16.6)], 0.0, before=vowel).lip_close > 0.5
    glide = frame(450.0, 8.0)
    assert mouth_target(glide, [frame(350.0, 10.0)], 0.0, before=vowel).lip_close < 0.1
    held = frame(280.0, 15.0)
    assert mouth_target(murmur, [frame(276.0, 16.6)], 0.0, before=held).lip_close < 0.1


@pytest.mark.parametrize(
    "text", ["Father saw a large car on the farm.", "Pam and Bob bumped the boat by the pier."]
)
def test_the_mouth_is_at_rest_within_three_frames_of_the_last_phone(
    text: str, tmp_path: Path
) -> None:
    """Once the voice is over the gate shuts (silero-vad hears no speech, or the level has sat
    at the floor for two frames with nothing rising ahead) and the mouth settles at once: it
    does not hold a stop's closure into the pause and then let it go while the pause is shown.
    """
    samples, segments = speak(text, tmp_path)
    end = max(e for phone, _, e in segments if phone != "pau")
    frames = analyse(np.concatenate([samples, np.zeros(SAMPLE_RATE // 2, np.float32)]))
    first_still = int(np.ceil((end + 0.12) * 25))
    assert first_still < len(frames) - 5
    for f in frames[first_still:]:
        assert (f.jaw_open, f.lip_width, f.lip_round, f.lip_close) == (0.0, 0.0, 0.0, 0.0)
