"""The capture builders themselves: the motion, sound and pixels each species claims to have.

The consent checks are tested on these captures elsewhere (tests/consent, tests/web, the
benchmark); here only that a builder makes what it says, measured with dlib and PyAV.
"""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
from lpm_guard.generator import faces
from lpm_guard.generator.pose import fit_head

from lpm_guard.consent.liveness.script import Prompt
from tests.consent import captures
from tests.consent.conftest import People
from tests.consent.consenting import CAPTURES
from tests.consent.consenting import SCRIPT as SHARED_SCRIPT

SCRIPT = SHARED_SCRIPT

needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")


def _yaw_deg(landmarks: np.ndarray) -> float:
    """The head's yaw as solvePnP against the mean face measures it (turn's sign)."""
    head = fit_head(landmarks, captures.WIDTH, captures.HEIGHT)
    rotation, _ = cv2.Rodrigues(head.rotation)
    forward = rotation @ np.array([0.0, 0.0, -1.0])
    return float(np.degrees(np.arctan2(forward[0], -forward[2])))


def _eye_aspect(landmarks: np.ndarray) -> float:
    def one(eye: np.ndarray) -> float:
        height = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
        return float(height / (2 * np.linalg.norm(eye[0] - eye[3])))

    return (one(landmarks[faces.RIGHT_EYE]) + one(landmarks[faces.LEFT_EYE])) / 2


def _window(prompt: Prompt) -> tuple[float, float]:
    step = SCRIPT.of(prompt)[0]
    return step.start_s, step.end_s


def test_motion_follows_the_script() -> None:
    fps = 15
    frames = round(SCRIPT.duration_s * fps)
    motion = captures.head_motion(SCRIPT, fps, frames, np.zeros(frames), natural_blinks=False)
    t = np.arange(frames) / fps

    def peak(values: np.ndarray, prompt: Prompt) -> float:
        start, end = _window(prompt)
        inside = values[(t >= start) & (t < end)]
        return float(inside[np.argmax(np.abs(inside))])

    # The subject's left is positive yaw (the nose towards the image's right); up is chin up.
    assert np.degrees(peak(motion.yaw, Prompt.TURN_LEFT)) > 20
    assert np.degrees(peak(motion.yaw, Prompt.TURN_RIGHT)) < -20
    assert np.degrees(peak(motion.pitch, Prompt.LOOK_UP)) < -15
    start, end = _window(Prompt.BLINK)
    closed = (motion.blink > 0.9) & (t >= start) & (t < end)
    assert closed.sum() >= 2 and (motion.blink[(t < start) | (t >= end)] < 0.01).all()
    # Back to the camera when the digits come.
    assert abs(np.degrees(peak(motion.yaw, Prompt.DIGITS))) < 5


@needs_flite
def test_speech_sits_in_its_windows_and_opens_the_mouth() -> None:
    speech = captures.speech_track(SCRIPT)
    assert len(speech) == round(SCRIPT.duration_s * captures.RATE)
    fps = 15
    jaw = captures.mouth_opening(speech, fps, round(SCRIPT.duration_s * fps))
    t = np.arange(len(jaw)) / fps
    digits, statement = _window(Prompt.DIGITS), _window(Prompt.STATEMENT)
    speaking = ((t >= digits[0]) & (t < digits[1])) | ((t >= statement[0]) & (t < statement[1]))
    before = t < digits[0]
    rms_before = np.sqrt(np.mean(speech[: int(digits[0] * captures.RATE)] ** 2))
    assert rms_before == 0.0  # silence until the digits (the room's noise is added later)
    assert jaw[speaking].max() > 0.7 and np.mean(jaw[speaking] > 0.3) > 0.3
    assert jaw[before].max() < 0.05


def test_head_turns_with_parallax_and_blinks(people: People) -> None:
    renderer = captures.HeadRenderer(captures.build_head(people.astronaut))
    backdrop = captures.room_backdrop()
    front, _ = renderer.vertices(0.0, 0.0, 0.0, 0.0, 0.0, np.zeros(3))
    turned, _ = renderer.vertices(np.radians(25), 0.0, 0.0, 0.0, 0.0, np.zeros(3))
    # Parallax: the nose tip moves further than the ears' side of the face (a flat picture
    # would move every point alike, up to foreshortening).
    nose = turned[30, 0] - front[30, 0]
    cheeks = (turned[[0, 16], 0] - front[[0, 16], 0]).mean()
    assert nose > 15 and nose - cheeks > 15

    rest = faces.detect_faces(renderer.render(backdrop))
    left = faces.detect_faces(renderer.render(backdrop, yaw=np.radians(25)))
    right = faces.detect_faces(renderer.render(backdrop, yaw=np.radians(-25)))
    closed = faces.detect_faces(renderer.render(backdrop, blink=1.0))
    assert all(len(found) == 1 for found in (rest, left, right, closed))
    assert _yaw_deg(left[0].landmarks) - _yaw_deg(rest[0].landmarks) > 10
    assert _yaw_deg(right[0].landmarks) - _yaw_deg(rest[0].landmarks) < -10
    assert _eye_aspect(closed[0].landmarks) < 0.6 * _eye_aspect(rest[0].landmarks)


def test_sensor_noise_is_new_every_frame() -> None:
    noise = captures.SensorNoise(seed=1)
    flat = np.full((48, 64, 3), 128, np.uint8)
    a, b = noise(flat).astype(float), noise(flat).astype(float)
    assert 2.0 < np.std(a - 128) < 3.0
    assert np.std(a - b) > 3.0  # not the same pattern twice


@pytest.mark.slow
@needs_flite
def test_bona_fide_capture_decodes_and_shows_a_face(people: People) -> None:
    CAPTURES.mkdir(parents=True, exist_ok=True)
    files = captures.bona_fide(people.astronaut, SCRIPT, CAPTURES)
    frames, audio, duration = captures.decode_capture(files.webm, every=5)
    assert abs(duration - SCRIPT.duration_s) < 0.2 and abs(files.duration_s - duration) < 0.1
    assert abs(len(audio) / captures.RATE - SCRIPT.duration_s) < 0.2
    assert np.sqrt(np.mean(audio**2)) > 0.01  # the reading is there
    found = sum(len(faces.detect_faces(f)) == 1 for f in frames)
    assert found >= 0.9 * len(frames)
    assert files.wav.stat().st_size > 0 and files.y4m is None
    # Rendered once: the same call finds the files and writes nothing.
    written = files.webm.stat().st_mtime_ns
    again = captures.bona_fide(people.astronaut, SCRIPT, CAPTURES)
    assert again.webm == files.webm and files.webm.stat().st_mtime_ns == written


@pytest.mark.slow
@needs_flite
def test_attack_species_decode_with_sound(people: People) -> None:
    CAPTURES.mkdir(parents=True, exist_ok=True)
    for files in (
        captures.enrolled_photo_static(people.astronaut, SCRIPT, CAPTURES),
        captures.printed_photo(people.astronaut, SCRIPT, CAPTURES),
    ):
        frames, audio, duration = captures.decode_capture(files.webm, every=15)
        assert abs(duration - SCRIPT.duration_s) < 0.2, files.species
        assert np.sqrt(np.mean(audio**2)) > 0.01, files.species
        assert sum(len(faces.detect_faces(f)) == 1 for f in frames) >= 0.8 * len(frames)
