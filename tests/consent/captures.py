"""Test captures for the live consent gate: a bona fide proxy and every attack species.

No webcam recordings of consenting people exist here, so the honest capture is a proxy: a
textured three-dimensional head built from one real photo, rendered with a real perspective
camera and following the challenge script (head turns, blinks, lips driven by the spoken words),
over a room-like backdrop with webcam sensor noise. The attacks are what an adversary holding
one photo, a TTS voice and this project's own generator would upload.

Every builder writes a WebM (VP8 + Opus, what Chrome's MediaRecorder produces) into ``out_dir``
and returns :class:`CaptureFiles`; the same call with the same inputs finds the files already
there and returns at once, so a persistent ``out_dir`` is a cache. ``camera=True`` also writes
the Y4M and WAV that Chromium's fake camera and microphone play (the Y4M is raw: about 7 MB a
second at 640x480 and 15 fps).

What the proxy can show: that the checks accept a head which follows the script's timing
(turn order and windows, two blinks, digits and statement in their windows), whose motion is
three-dimensional under a perspective camera (the nose passes over the far cheek; no single
homography maps one frame to another), whose lips open with the words' loudness, seen through
a webcam's noise over a room. What it cannot show: a real person. It is one photo on a mean 3D
face, so the sides of a turned head are the photo's edge stretched (no ears, no profile), the
light does not move over the face as it turns, the eyes do not move, the mouth's inside is
painted, and the voice is TTS. Whatever the photo holds leaks through: eyes looking down stay
half shut, a turned photo gives a turned rest pose, a small photo a soft face. And it is a
renderer built like the generator (a mesh warp of one photo): a check that passes it cannot,
on motion alone, refuse the generator driven to follow the same script; only the camera's
noise, the enrolled photo's own pixels, the watermark and the reviewer tell them apart.

Written by hand, since no library does it: the head mesh (68 landmarks lifted onto a mean 3D
face plus forehead, hair, neck and shoulder vertices), its per-frame deformation (lids, jaw),
back-face culling and back-to-front painting through per-triangle affine maps, the printed
photo's homographies, and the timing of speech and motion against the script.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import tempfile
import uuid
import wave
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import cache
from math import gcd
from pathlib import Path
from random import Random
from typing import Literal

import av
import cv2
import numpy as np
from lpm_guard.generator import Character, Performance, Role, faces
from lpm_guard.generator.controls import FaceControls
from lpm_guard.generator.pose import HeadModel, camera, fit_head, rotation_matrix
from lpm_guard.generator.warp import label_triangles, sample_map, triangle_affines
from scipy.signal import resample_poly
from scipy.spatial import Delaunay

from lpm_guard.consent.liveness.script import Prompt, Script, Step, new_script

RGB = np.ndarray  # H x W x 3 uint8
WIDTH, HEIGHT = 640, 480
RATE = 48_000  # audio sample rate of every output (Opus's own)
FPS = 15
VERSION = 3  # bump when a capture would render differently: cached ones are then not found

# When a person reacts to a prompt: the head starts moving this long after it appears.
REACTION_S = 0.35
TURN_DEG = 30.0  # yaw of a head turn (people asked to turn turn 30-45 degrees)
UP_DEG = 20.0  # pitch of looking up
SENSOR_SIGMA = 2.5  # webcam noise, levels of 255 per channel, new every frame

Species = Literal[
    "bona-fide",
    "enrolled-photo-static",
    "other-photo-static",
    "printed-photo",
    "replay-other-script",
    "dubbed",
    "generator-fixed-script",
    "generator-live",
    "watermarked-downscaled",
    "different-person",
]


@dataclass(frozen=True, slots=True)
class CaptureFiles:
    webm: Path  # VP8 + Opus in WebM
    mp4: Path | None  # H.264 + AAC, when asked for
    y4m: Path | None  # 640x480 420jpeg, for Chromium's fake camera (camera=True)
    wav: Path  # 48 kHz mono PCM, the capture's sound (Chromium's fake microphone)
    fps: int
    duration_s: float
    species: str

    def video(self) -> bytes:
        return self.webm.read_bytes()


# --- timing ---------------------------------------------------------------------------------


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _ramp(t: np.ndarray, rise: float, fall: float, up_s: float, down_s: float) -> np.ndarray:
    """0 → 1 from ``rise`` over ``up_s``, back to 0 from ``fall`` over ``down_s``."""
    return _smoothstep((t - rise) / up_s) * (1.0 - _smoothstep((t - fall) / down_s))


def _smooth_noise(rng: np.random.Generator, n: int, fps: int, seconds: float) -> np.ndarray:
    """Unit-variance noise, smoothed over about ``seconds`` (slow drift, sway)."""
    width = max(1, int(seconds * fps))
    raw = rng.standard_normal(n + 4 * width)
    kernel = np.hanning(2 * width + 1)
    out = np.convolve(raw, kernel / kernel.sum(), mode="same")[2 * width : 2 * width + n]
    return out / (out.std() + 1e-9)


@dataclass(frozen=True, slots=True)
class Motion:
    """Per-frame pose and expression of a head: radians, a 0..1 lid closure and jaw opening,
    and a body shift in centimetres (x right, y down, z away)."""

    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    blink: np.ndarray
    jaw: np.ndarray
    shift: np.ndarray  # (n, 3)

    @property
    def frames(self) -> int:
        return len(self.yaw)


def head_motion(
    script: Script,
    fps: int,
    frames: int,
    jaw: np.ndarray,
    *,
    seed: int = 0,
    natural_blinks: bool = True,
) -> Motion:
    """What a person following ``script`` does, frame by frame. Turns: the subject's left
    (``turn-left``) is positive yaw, the nose towards the image's right; looking up lifts the
    chin (negative pitch). Each turn starts ``REACTION_S`` after its prompt, holds, and is back
    by the end of the window's following second."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / fps
    yaw = np.radians(1.2) * _smooth_noise(rng, frames, fps, 0.8)
    pitch = np.radians(0.8) * _smooth_noise(rng, frames, fps, 0.8)
    roll = np.radians(1.0) * _smooth_noise(rng, frames, fps, 1.5)
    for step in script.steps:
        if step.prompt not in (Prompt.TURN_LEFT, Prompt.TURN_RIGHT, Prompt.LOOK_UP):
            continue
        amount = 1.0 + 0.1 * rng.uniform(-1, 1)
        rise = step.start_s + REACTION_S + rng.uniform(0, 0.15)
        shape = _ramp(t, rise, step.end_s - 0.45, 0.55, 0.6)
        if step.prompt == Prompt.LOOK_UP:
            pitch -= np.radians(UP_DEG) * amount * shape
        else:
            sign = 1.0 if step.prompt == Prompt.TURN_LEFT else -1.0
            yaw += sign * np.radians(TURN_DEG) * amount * shape
            # People tilt a little as they turn.
            roll += sign * np.radians(2.0) * shape
    blink = np.zeros(frames)
    for step in script.of(Prompt.BLINK):
        for offset in (0.55, 1.35):  # twice, as asked
            blink = np.maximum(blink, _blink_shape(t, step.start_s + offset))
    if natural_blinks:
        # A spontaneous blink now and then in the quiet windows (people blink about every
        # 3-5 s; fewer when concentrating on a prompt).
        for step in script.of(Prompt.LOOK):
            if step.duration_s >= 1.0 and rng.random() < 0.5:
                blink = np.maximum(blink, _blink_shape(t, step.start_s + rng.uniform(0.2, 0.6)))
    breath = np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 6.3))
    shift = np.stack(
        [
            0.5 * _smooth_noise(rng, frames, fps, 2.0),
            0.3 * breath + 0.2 * _smooth_noise(rng, frames, fps, 2.0),
            0.8 * _smooth_noise(rng, frames, fps, 3.0),
        ],
        axis=1,
    )
    return Motion(yaw, pitch, roll, blink, jaw, shift)


def _blink_shape(t: np.ndarray, start: float) -> np.ndarray:
    """A voluntary blink: lids shut in 0.1 s, held 0.14 s, open in 0.16 s."""
    closing = _smoothstep((t - start) / 0.1)
    opening = 1.0 - _smoothstep((t - start - 0.24) / 0.16)
    return np.minimum(closing, opening)


# --- speech ---------------------------------------------------------------------------------


def _read_wav(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as w:
        rate, width, channels = w.getframerate(), w.getsampwidth(), w.getnchannels()
        raw = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError(f"expected 16-bit PCM, got {8 * width}-bit")
    samples = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    return samples.reshape(-1, channels).mean(axis=1), rate


def _resample(samples: np.ndarray, rate: int, to: int) -> np.ndarray:
    if rate == to:
        return samples.astype(np.float32)
    g = gcd(rate, to)
    return resample_poly(samples, to // g, rate // g).astype(np.float32)


@cache
def _tts_cached(text: str, voice: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tts.wav"
        if voice.startswith("espeak"):  # "espeak" or "espeak:en-us+m3"
            lang = voice.partition(":")[2] or "en-us"
            tool = shutil.which("espeak-ng")
            if tool is None:
                raise RuntimeError("espeak-ng is not installed")
            command = [tool, "-v", lang, "-s", "150", "-w", str(out), text]
        else:
            tool = shutil.which("flite")
            if tool is None:
                raise RuntimeError("flite is not installed")
            command = [tool, "-voice", voice, "-t", text, "-o", str(out)]
        subprocess.run(command, check=True, capture_output=True)
        samples, rate = _read_wav(out.read_bytes())
    audio = _resample(samples, rate, RATE)
    audio.setflags(write=False)
    return audio


def tts(text: str, voice: str = "slt") -> np.ndarray:
    """``text`` spoken by flite (``slt``, ``kal16``, ``awb``, ``rms``) or espeak-ng
    (``espeak:<voice>``), float32 mono at 48 kHz."""
    return _tts_cached(text, voice).copy()


DIGIT_GAP_S = 0.45  # people read digits one at a time


def _trimmed(samples: np.ndarray, level: float = 0.002, margin_s: float = 0.05) -> np.ndarray:
    """The word without the silence around it; a low threshold and a margin keep the quiet
    fricatives (the f of "four" and "five") that a recogniser needs."""
    loud = np.flatnonzero(np.abs(samples) > level)
    if not loud.size:
        return samples[:0]
    margin = int(margin_s * RATE)
    return samples[max(0, loud[0] - margin) : loud[-1] + 1 + margin]


def reading(step: Step, voice: str = "slt") -> np.ndarray:
    """What the subject says for a digits or statement step: the digits one by one with a
    pause after each, the statement in one breath."""
    if step.prompt != Prompt.DIGITS:
        return tts(step.text, voice)
    gap = np.zeros(int(DIGIT_GAP_S * RATE), np.float32)
    words = [_trimmed(tts(word, voice)) for word in step.text.split()]
    return np.concatenate([part for word in words for part in (word, gap)][:-1])


def speech_track(script: Script, voice: str = "slt", *, lead_s: float = REACTION_S) -> np.ndarray:
    """The script's digits and statement spoken in their windows, starting ``lead_s`` after
    each prompt; silence elsewhere. A reading longer than its window is squeezed into it by a
    plain resample (faster and higher)."""
    track = np.zeros(round(script.duration_s * RATE), np.float32)
    for step in (*script.of(Prompt.DIGITS), *script.of(Prompt.STATEMENT)):
        said = reading(step, voice)
        room = int((step.duration_s - lead_s - 0.15) * RATE)
        if len(said) > room:
            said = _resample(said, len(said), room)
        start = int((step.start_s + lead_s) * RATE)
        end = min(len(track), start + len(said))
        track[start:end] += said[: end - start]
    return track


def room_noise(samples: int, seed: int = 0, level: float = 0.002) -> np.ndarray:
    """A quiet room: low, brownish noise (about -55 dBFS) and a faint mains hum."""
    rng = np.random.default_rng(seed + 7)
    white = rng.standard_normal(samples).astype(np.float32)
    # One-pole low-pass: the energy of room noise sits low.
    brown = np.asarray(cv2.GaussianBlur(white.reshape(1, -1), (0, 0), sigmaX=6).ravel(), np.float32)
    brown *= level / (brown.std() + 1e-9)
    hum = 0.0004 * np.sin(2 * np.pi * 50 * np.arange(samples) / RATE).astype(np.float32)
    return (brown + hum).astype(np.float32)


def mouth_opening(speech: np.ndarray, fps: int, frames: int, smooth_s: float = 0.06) -> np.ndarray:
    """How far the jaw opens in each frame (0..1), following the speech's loudness envelope
    smoothed over ``smooth_s``; closed in silence."""
    hop = RATE // 100  # 10 ms
    count = len(speech) // hop
    power = (speech[: count * hop].reshape(count, hop).astype(np.float64) ** 2).mean(axis=1)
    width = max(1, round(smooth_s * 100))
    power = np.convolve(power, np.ones(width) / width, mode="same")
    db = 10 * np.log10(power + 1e-10)
    level = np.clip((db + 42.0) / 28.0, 0.0, 1.0)  # -42 dBFS closed .. -14 dBFS wide
    centres = (np.arange(frames) + 0.5) / fps * 100
    return np.interp(centres, np.arange(count), level) ** 0.8 if count else np.zeros(frames)


# --- the head -------------------------------------------------------------------------------

# Vertex roles and how much of the head's rotation each follows.
HEAD, HAIR, NECK, BODY, THROAT = range(5)
FOLLOW = np.array([1.0, 1.0, 0.35, 0.0, 0.7])
# Lower-face vertices that drop as the jaw opens, with their share of the drop.
JAW_DROP = {
    3: 0.05, 4: 0.2, 5: 0.4, 6: 0.65, 7: 0.85, 8: 1.0, 9: 0.85, 10: 0.65, 11: 0.4, 12: 0.2,
    13: 0.05, 55: 0.95, 56: 1.0, 57: 1.0, 58: 1.0, 59: 0.95, 65: 1.0, 66: 1.0, 67: 1.0,
    48: 0.45, 54: 0.45, 60: 0.5, 64: 0.5,
}  # fmt: skip
UPPER_LIDS = ((37, 41), (38, 40), (43, 47), (44, 46))
CAVITY = np.array([52, 18, 22], np.float32)  # the dark of an open mouth
TEETH = np.array([214, 204, 190], np.float32)
LASHES = np.array([40, 30, 28], np.float32)


@dataclass(frozen=True)
class Head:
    """A photo's head as a textured mesh in front of a pinhole camera.

    ``texture`` is the photo placed where the head sits at rest; ``rest`` are the vertices'
    pixels there (the texture coordinates), ``points`` their camera-space positions (cm)."""

    texture: np.ndarray
    alpha: np.ndarray  # float32, where the head (not the photo's background) is
    rest: np.ndarray  # (V, 2)
    points: np.ndarray  # (V, 3)
    roles: np.ndarray  # (V,)
    triangles: np.ndarray  # (T, 3)
    model: HeadModel
    interocular: float
    down: np.ndarray  # unit, eyes towards chin, in the image
    lip_gap: float  # the photo's own inner-lip opening, pixels
    facing: tuple[float, float]  # the photo's head yaw and pitch (radians, turn's signs)


def build_head(photo: RGB, width: int = WIDTH, height: int = HEIGHT) -> Head:
    """Fit the mean face to the photo's landmarks and build the mesh, placed at webcam
    distance (eyes about 62 px apart in a 640x480 frame, a little above the middle)."""
    face = faces.find_face(photo)
    marks = face.landmarks
    right_eye, left_eye = marks[faces.RIGHT_EYE].mean(0), marks[faces.LEFT_EYE].mean(0)
    angle = float(np.degrees(np.arctan2(*(left_eye - right_eye)[::-1])))
    scale = 0.097 * width / face.interocular
    centre = (right_eye + left_eye) / 2
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
    matrix[:, 2] += np.array([width / 2, height * 0.40]) - centre
    texture = cv2.warpAffine(
        photo, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    m = marks @ matrix[:, :2].T + matrix[:, 2]
    model = fit_head(m, width, height)

    right_eye, left_eye = m[faces.RIGHT_EYE].mean(0), m[faces.LEFT_EYE].mean(0)
    io = float(np.linalg.norm(left_eye - right_eye))
    across = (left_eye - right_eye) / io
    down = np.array([-across[1], across[0]])
    mid = m.mean(0)
    extra: list[np.ndarray] = []
    roles: list[int] = [HEAD] * 68

    def add(point: np.ndarray, role: int) -> None:
        extra.append(np.asarray(point, np.float64))
        roles.append(role)

    # Cheeks: halfway between the mouth corners, nose wings and eye corners and the jaw, so
    # that no long thin triangle runs from the mouth to the jaw line.
    for inner, jaw in ((48, 4), (54, 12), (31, 2), (35, 14), (36, 1), (45, 15), (41, 2), (46, 14)):
        add(0.5 * (m[inner] + m[jaw]), HEAD)
    # Forehead, then two rings of hair above it.
    brow_top = float(m[faces.BROWS, 1].min())
    for k, stretch, role in ((1.0, 0.55, HEAD), (1.3, 0.95, HAIR), (1.5, 1.35, HAIR)):
        for s in np.linspace(-1, 1, 9):
            x = mid[0] + s * io * 1.45 * k
            y = brow_top - io * stretch * np.sqrt(max(0.0, 1 - 0.6 * s * s))
            add(np.array([x, y]), role)
    # Beside the jaw: ears and hair above, the neck below.
    outline: list[int] = []
    for i, p in enumerate(m[faces.JAW]):
        outward = (p - mid) / np.linalg.norm(p - mid)
        outline.append(68 + len(extra))
        add(p + outward * io * 0.45, HAIR if i < 5 or i > 11 else NECK)
    chin = m[8]
    neck = [68 + len(extra) + i for i in range(5)]
    for s in (-0.85, -0.45, 0.0, 0.45, 0.85):
        add(chin + down * io * 0.9 + across * s * io, NECK)
    body = []
    for s in (-2.6, -1.7, -1.0, 1.0, 1.7, 2.6):
        body.append(68 + len(extra))
        add(chin + down * io * (1.55 + 0.12 * abs(s)) + across * s * io, BODY)
    bottom = []
    for s in np.linspace(-3.4, 3.4, 7):
        bottom.append(68 + len(extra))
        add(np.array([mid[0] + s * io, height + 0.6 * io]), BODY)
    # Under the jaw, so that a lifted chin stretches the throat evenly.
    for i in range(4, 13):
        add(m[i] + down * io * 0.28, THROAT)
    rest = np.vstack([m, np.array(extra)])
    role_array = np.array(roles)
    # Beyond the face the mesh leans back more gently than the generator's rig: the sides of
    # the head are not in the photo, and a deep rim smears them over the near cheek.
    points = np.vstack([model.points, model.depth_at(rest[68:], spread=0.5)])
    # The neck and body stand behind the face.
    behind = (role_array == NECK) | (role_array == BODY)
    points[behind] = model.unproject(rest[behind], points[behind, 2] + 2.0)

    # The head's silhouette: the outer hair ring, the ears, the neck, the shoulders. Inside
    # it the photo, outside it the room; the edge fades over a few pixels.
    ring = list(range(68 + 8 + 18, 68 + 8 + 27))  # the outermost hair ring, left to right
    left_side = [outline[i] for i in range(0, 5)]
    right_side = [outline[i] for i in range(16, 11, -1)]
    polygon = [
        *ring,
        *right_side,
        neck[-1],
        body[3],
        body[4],
        body[5],
        bottom[-1],
        bottom[0],
        body[0],
        body[1],
        body[2],
        neck[0],
        *left_side[::-1],
    ]
    alpha = _silhouette(texture, rest[polygon], m, io)

    lip_gap = float(np.mean(np.linalg.norm(m[[61, 62, 63]] - m[[67, 66, 65]], axis=1)))
    triangles = _triangulate(rest, down, io)
    rotation, _ = cv2.Rodrigues(model.rotation)
    forward = rotation @ np.array([0.0, 0.0, -1.0])
    facing = (
        float(np.arctan2(forward[0], -forward[2])),
        float(np.arctan2(forward[1], -forward[2])),
    )
    return Head(
        texture, alpha, rest, points, role_array, triangles, model, io, down, lip_gap, facing
    )


def _silhouette(
    texture: np.ndarray, polygon: np.ndarray, marks: np.ndarray, io: float
) -> np.ndarray:
    """Where the person is in the placed photo (1) and where the photo's own background is
    (0): GrabCut, seeded with the face as certain, the mesh's outline as likely and everything
    outside it as background; the edge is softened over about a pixel and a half."""
    height, width = texture.shape[:2]
    seeds = np.full((height, width), cv2.GC_BGD, np.uint8)
    cv2.fillPoly(seeds, [np.round(polygon).astype(np.int32)], cv2.GC_PR_FGD)
    face = np.round(cv2.convexHull(marks.astype(np.float32))).astype(np.int32)
    cv2.fillConvexPoly(seeds, face, cv2.GC_FGD)
    chin = marks[8]
    neck = np.array(
        [
            chin + np.array([-0.35, 0.0]) * io,
            chin + np.array([0.35, 0.0]) * io,
            chin + np.array([0.3, 0.7]) * io,
            chin + np.array([-0.3, 0.7]) * io,
        ]
    )
    cv2.fillConvexPoly(seeds, np.round(neck).astype(np.int32), cv2.GC_FGD)
    # Below the neck, the shoulders inside the outline are the person's clothes (or, where
    # the photo ends, its last rows stretched): certain.
    below = seeds[int(chin[1] + 1.2 * io) :]
    below[below == cv2.GC_PR_FGD] = cv2.GC_FGD
    background, foreground = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(texture, seeds, None, background, foreground, 4, cv2.GC_INIT_WITH_MASK)
    person = ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)).astype(np.uint8)
    # Keep the one piece that holds the face, without pinholes.
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    person = cv2.morphologyEx(person, cv2.MORPH_OPEN, kernel)
    count, labels = cv2.connectedComponents(person)
    if count > 2:
        nose = np.round(marks[30]).astype(int)
        person = (labels == labels[nose[1], nose[0]]).astype(np.uint8)
    person = cv2.morphologyEx(person, cv2.MORPH_CLOSE, kernel)
    return cv2.GaussianBlur(person.astype(np.float32), (0, 0), 1.5)


def _triangulate(rest: np.ndarray, down: np.ndarray, io: float) -> np.ndarray:
    """Delaunay over the vertices with the mouth and eyes held open, so that the lids and each
    lip get triangles of their own and opening one never drags the other along."""
    opened = rest.copy()
    for index, share in JAW_DROP.items():
        opened[index] += down * io * 0.5 * share
    for upper, lower in UPPER_LIDS:
        opened[upper] -= down * io * 0.1
        opened[lower] += down * io * 0.1
    return np.asarray(Delaunay(opened).simplices, dtype=np.int32)


class HeadRenderer:
    """Renders a :class:`Head` in any pose over a backdrop, as a webcam would see it."""

    def __init__(self, head: Head) -> None:
        self.head = head
        self._jaw = np.array(list(JAW_DROP))
        self._jaw_share = np.array(list(JAW_DROP.values()))[:, None]
        self._follow = FOLLOW[head.roles]
        self._rest_area = _signed_area(head.rest, head.triangles)
        # A person at a webcam faces it: a photo taken turned or tilted is turned back part
        # of the way (a little of the photo's pose is kept; turning it all back would show
        # what the photo does not have).
        yaw, pitch = head.facing
        self.rest_pose = (
            -0.5 * float(np.clip(yaw, -0.4, 0.4)),
            -0.7 * float(np.clip(pitch, -0.2, 0.2)),
        )
        # Triangles inside the face (brows, eyes, nose, mouth) that turn away are hidden. The
        # rim (jaw line, ears, hair, neck) is an open edge of the mesh with nothing behind it:
        # a rim triangle that turns away is drawn squashed, first, so that the nearer face
        # covers it and the silhouette stays whole instead of showing a notch of the room.
        self._cullable = ((head.triangles >= 17) & (head.triangles < 68)).all(axis=1)

    def extra_gap(self, jaw: float) -> float:
        """How far the lips part beyond the photo's own opening, pixels at rest."""
        return max(0.0, 0.32 * self.head.interocular * jaw - self.head.lip_gap)

    def vertices(
        self, yaw: float, pitch: float, roll: float, blink: float, jaw: float, shift: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Projected vertices (V, 2) and their camera-space depth (V,)."""
        h = self.head
        p = h.rest.copy()
        # (1) Expression, at rest in the image plane: the jaw drops, the upper lids sweep down
        # onto the lower ones (which rise a little to meet them).
        p[self._jaw] += self._jaw_share * self.extra_gap(jaw) * h.down
        for upper, lower in UPPER_LIDS:
            travel = p[lower] - p[upper]
            p[upper] += travel * 0.85 * blink
            p[lower] -= travel * 0.15 * blink
        # (2) Back to 3D at each vertex's own depth, then turned about the neck as far as its
        # role follows, and the whole body shifted.
        points = h.model.unproject(p, h.points[:, 2])
        yaw, pitch = yaw + self.rest_pose[0], pitch + self.rest_pose[1]
        for weight in np.unique(self._follow):
            if weight == 0:
                continue
            chosen = self._follow == weight
            points[chosen] = h.model.turn(
                points[chosen], yaw * weight, pitch * weight, roll * weight
            )
        points += shift
        return h.model.project(points), points[:, 2]

    def render(
        self,
        background: np.ndarray,
        yaw: float = 0.0,
        pitch: float = 0.0,
        roll: float = 0.0,
        blink: float = 0.0,
        jaw: float = 0.0,
        shift: np.ndarray | None = None,
    ) -> np.ndarray:
        h = self.head
        dst, depth = self.vertices(
            yaw, pitch, roll, blink, jaw, np.zeros(3) if shift is None else shift
        )
        gap = self.extra_gap(jaw)
        # (3) Back-face culling: a triangle whose winding flipped now faces away from the camera.
        area = _signed_area(dst, h.triangles)
        facing = (np.sign(area) == np.sign(self._rest_area)) & (np.abs(area) > 0.25)
        keep = facing | ~self._cullable
        # (4) Painter's order: far triangles first, near ones drawn over them (the nose over
        # the far cheek as the head turns).
        far = depth[h.triangles].mean(axis=1)
        order = np.nonzero(keep)[0]
        order = order[np.argsort(-far[order], kind="stable")]
        height, width = background.shape[:2]
        x0, y0 = np.floor(dst.min(0)).astype(int)
        x1, y1 = np.ceil(dst.max(0)).astype(int) + 1
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
        frame = background.copy()
        if x1 <= x0 or y1 <= y0:
            return frame
        # (5) Every pixel maps back through its triangle's affine map into the texture.
        affines = triangle_affines(h.rest, dst, h.triangles).astype(np.float32)
        labels = label_triangles(dst, h.triangles, order, (y1 - y0, x1 - x0), (x0, y0), 1.0)
        map_x, map_y = sample_map(affines, labels, (float(x0), float(y0)), 1.0)
        map_x, map_y = map_x.astype(np.float32), map_y.astype(np.float32)
        patch = cv2.remap(
            h.texture, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        alpha = cv2.remap(h.alpha, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        alpha[labels < 0] = 0.0
        # (6) The open mouth's dark inside, between the inner lips.
        # Only as far as the mouth opens beyond the photo's own opening (its teeth stay).
        dark = float(np.clip((gap - 0.03 * h.interocular) / (0.1 * h.interocular), 0.0, 0.92))
        if dark > 0:
            patch = self._mouth(patch, dst[60:68] - np.array([x0, y0]), dark)
        if blink > 0.6:
            patch = self._lashes(patch, dst - np.array([x0, y0]), (blink - 0.6) / 0.4)
        a = alpha[..., None]
        region = frame[y0:y1, x0:x1].astype(np.float32)
        frame[y0:y1, x0:x1] = (region + (patch - region) * a).astype(np.uint8)
        return frame

    def _lashes(self, patch: np.ndarray, dst: np.ndarray, strength: float) -> np.ndarray:
        """The dark line of lashes where the closed lids meet, from corner to corner."""
        lines = np.zeros(patch.shape[:2], np.float32)
        width = max(1, round(0.035 * self.head.interocular))
        for eye in ((36, 41, 40, 39), (42, 47, 46, 45)):
            curve = np.round(dst[list(eye)] * 16).astype(np.int32)
            cv2.polylines(lines, [curve], False, 1.0, width, cv2.LINE_AA, 4)
        shade = (cv2.GaussianBlur(lines, (0, 0), 0.7) * 0.75 * strength)[..., None]
        return (patch * (1 - shade) + LASHES * shade).astype(np.uint8)

    def _mouth(self, patch: np.ndarray, inner: np.ndarray, dark: float) -> np.ndarray:
        """The open mouth between the inner lips: dark, a band of upper teeth under the upper
        lip, soft edges (the lips' own shadow)."""
        shape = patch.shape[:2]
        cavity = np.zeros(shape, np.float32)
        cv2.fillPoly(cavity, [np.round(inner * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
        teeth = np.zeros(shape, np.float32)
        upper = inner[[0, 1, 2, 3, 4]]  # corner, upper inner lip, corner
        lower = inner[[4, 5, 6, 7, 0]]
        height = np.linalg.norm(lower[1:4].mean(0) - upper[1:4].mean(0))
        # The teeth's edge is a smooth arc under the lip from corner to corner (the lip's own
        # five points make a chevron): a parabola through the corners and the lip's middle.
        s = np.linspace(0.0, 1.0, 13)[:, None]
        corner_a, middle, corner_b = upper[0], upper[1:4].mean(0), upper[4]
        arc = (1 - s) ** 2 * corner_a + 2 * s * (1 - s) * (2 * middle - (corner_a + corner_b) / 2)
        arc = arc + s**2 * corner_b
        band = arc + np.array([0.0, min(0.3 * height, 0.09 * self.head.interocular)])
        teeth_polygon = np.vstack([arc, band[::-1]])
        cv2.fillPoly(teeth, [np.round(teeth_polygon * 16).astype(np.int32)], 1.0, cv2.LINE_AA, 4)
        cavity = cv2.GaussianBlur(cavity, (0, 0), 0.8) * dark
        teeth = cv2.GaussianBlur(teeth * cavity, (0, 0), 0.6)
        colour = CAVITY[None, None, :] * (1 - teeth[..., None]) + TEETH * teeth[..., None]
        shade = cavity[..., None]
        return (patch * (1 - shade) + colour * shade).astype(np.uint8)


def _signed_area(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    p = points[triangles]
    u, v = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    return u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]


# --- the room and the camera ------------------------------------------------------------------


def room_backdrop(width: int = WIDTH, height: int = HEIGHT, seed: int = 0) -> np.ndarray:
    """A room behind the subject, out of focus: a lit wall, a door frame, a shelf of books and
    a picture, drawn with a few random colours (never the photo's own background)."""
    rng = np.random.default_rng(seed + 101)
    wall = np.array(
        rng.choice([[214, 206, 190], [196, 203, 208], [222, 214, 200], [180, 188, 176]])
    )
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    side = rng.choice([-1.0, 1.0])  # the window's side: light falls off across the room
    light = 1.0 - 0.25 * (0.5 + 0.5 * side * (xs / width * 2 - 1)) - 0.12 * ys / height
    img = wall[None, None, :] * light[..., None]
    # Door frame on one side.
    door_x = int(width * (0.06 if side > 0 else 0.72))
    cv2.rectangle(
        img,
        (door_x, int(height * 0.08)),
        (door_x + int(width * 0.22), height + 5),
        (150, 120, 90),
        9,
    )
    cv2.rectangle(
        img,
        (door_x + 5, int(height * 0.08) + 5),
        (door_x + int(width * 0.22) - 5, height + 5),
        tuple(float(c) * 0.82 for c in wall),
        -1,
    )
    # A shelf with books on the other side.
    shelf_x = int(width * (0.74 if side > 0 else 0.04))
    shelf_y = int(height * rng.uniform(0.28, 0.4))
    cv2.rectangle(
        img, (shelf_x, shelf_y), (shelf_x + int(width * 0.24), shelf_y + 8), (120, 90, 60), -1
    )
    x = shelf_x + 4
    while x < shelf_x + int(width * 0.22):
        w = int(rng.integers(7, 16))
        top = shelf_y - int(rng.integers(38, 62))
        colour = tuple(float(c) for c in rng.integers(40, 200, 3))
        cv2.rectangle(img, (x, top), (x + w, shelf_y - 1), colour, -1)
        x += w + int(rng.integers(1, 3))
    # A picture on the wall above.
    px = int(width * rng.uniform(0.3, 0.55))
    cv2.rectangle(
        img, (px, int(height * 0.04)), (px + 90, int(height * 0.04) + 60), (60, 55, 50), -1
    )
    cv2.rectangle(
        img,
        (px + 6, int(height * 0.04) + 6),
        (px + 84, int(height * 0.04) + 54),
        tuple(float(c) for c in rng.integers(90, 200, 3)),
        -1,
    )
    # Fine wall texture, then the camera's depth of field.
    img += (
        cv2.GaussianBlur(rng.standard_normal((height, width)).astype(np.float32), (0, 0), 1.2)[
            ..., None
        ]
        * 6
    )
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 2.2)
    return np.clip(img, 0, 255).astype(np.uint8)


class SensorNoise:
    """A webcam's noise: new Gaussian noise every frame, ``sigma`` levels per channel."""

    def __init__(self, sigma: float = SENSOR_SIGMA, seed: int = 0) -> None:
        self.sigma = sigma
        self._seed = seed
        self._buf: np.ndarray | None = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        if self._buf is None or self._buf.shape != frame.shape:
            # OpenCV's generator (twice as fast as numpy's here) is per thread: seeded on the
            # first frame, a capture rendered in one thread is the same every time.
            cv2.setRNGSeed(self._seed + 1)
            self._buf = np.empty(frame.shape, np.int16)
        channels = frame.shape[2] if frame.ndim == 3 else 1
        # A scalar mean and deviation would fill the first channel only.
        cv2.randn(self._buf, (0.0,) * channels, (self.sigma,) * channels)
        return np.clip(frame.astype(np.int16) + self._buf, 0, 255).astype(np.uint8)


# --- writing ----------------------------------------------------------------------------------


def _key(species: str, photos: Iterable[np.ndarray], **parts: object) -> str:
    digest = hashlib.sha256(f"v{VERSION}:{species}".encode())
    for photo in photos:
        digest.update(str(photo.shape).encode())
        digest.update(np.ascontiguousarray(photo).tobytes())
    digest.update(json.dumps(parts, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def _cached(out_dir: Path, name: str, mp4: bool, camera: bool) -> bool:
    wanted = [out_dir / f"{name}.webm", out_dir / f"{name}.wav"]
    wanted += [out_dir / f"{name}.mp4"] if mp4 else []
    wanted += [out_dir / f"{name}.y4m"] if camera else []
    return all(p.exists() for p in wanted)


def write_capture(
    frames: Iterable[np.ndarray],
    audio: np.ndarray,
    out_dir: Path,
    name: str,
    *,
    fps: int,
    species: str,
    mp4: bool = False,
    camera: bool = False,
    bitrate: int = 2_500_000,
) -> CaptureFiles:
    """Encode RGB ``frames`` and 48 kHz ``audio`` as WebM (VP8 + Opus at Chrome's default
    2.5 Mbit/s), and as MP4 and Y4M when asked; the WAV is always written. Files appear whole:
    each is written under a temporary name and renamed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    audio = np.clip(np.asarray(audio, np.float32), -1.0, 1.0)
    paths = {"webm": out_dir / f"{name}.webm", "wav": out_dir / f"{name}.wav"}
    if mp4:
        paths["mp4"] = out_dir / f"{name}.mp4"
    if camera:
        paths["y4m"] = out_dir / f"{name}.y4m"
    # A name of its own per writer: two test workers may render the same capture at once.
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp = {k: p.with_name(f".{p.name}.{tag}.tmp") for k, p in paths.items()}
    writers = [_AvWriter(tmp["webm"], "webm", "libvpx", "libopus", fps, bitrate)]
    if mp4:
        writers.append(_AvWriter(tmp["mp4"], "mp4", "libx264", "aac", fps, bitrate))
    y4m = tmp["y4m"].open("wb") if camera else None
    count = 0
    try:
        for frame in frames:
            if y4m is not None:
                if count == 0:
                    h, w = frame.shape[:2]
                    y4m.write(b"YUV4MPEG2 W%d H%d F%d:1 Ip A1:1 C420jpeg\n" % (w, h, fps))
                y4m.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
            for writer in writers:
                writer.video(frame, count)
                writer.audio(audio, (count + 1) * RATE // fps)
            count += 1
        for writer in writers:
            writer.audio(audio, len(audio))
            writer.close()
    finally:
        if y4m is not None:
            y4m.close()
    _write_wav(tmp["wav"], audio)
    for key, path in paths.items():
        tmp[key].replace(path)
    return CaptureFiles(
        webm=paths["webm"],
        mp4=paths.get("mp4"),
        y4m=paths.get("y4m"),
        wav=paths["wav"],
        fps=fps,
        duration_s=count / fps,
        species=species,
    )


def _existing(
    out_dir: Path, name: str, fps: int, species: str, mp4: bool, camera: bool
) -> CaptureFiles:
    with av.open(str(out_dir / f"{name}.webm")) as container:
        stream = container.streams.video[0]
        frames = stream.frames or sum(1 for _ in container.demux(stream) if _.size)
    return CaptureFiles(
        webm=out_dir / f"{name}.webm",
        mp4=out_dir / f"{name}.mp4" if mp4 else None,
        y4m=out_dir / f"{name}.y4m" if camera else None,
        wav=out_dir / f"{name}.wav",
        fps=fps,
        duration_s=frames / fps,
        species=species,
    )


class _AvWriter:
    """One container with a video and an audio stream, audio interleaved as frames go."""

    def __init__(
        self, path: Path, fmt: str, vcodec: str, acodec: str, fps: int, bitrate: int
    ) -> None:
        self.container = av.open(str(path), "w", format=fmt)
        self.fps = fps
        self.vstream: av.VideoStream | None = None
        self.vcodec, self.bitrate = vcodec, bitrate
        self.astream = self.container.add_stream(acodec, rate=RATE)
        self.astream.layout = "mono"
        self.astream.bit_rate = 64_000
        # Opus and AAC encode fixed-size frames; feed them exactly that.
        self.chunk = 960 if acodec == "libopus" else 1024
        self.sent = 0

    def video(self, rgb: np.ndarray, index: int) -> None:
        if self.vstream is None:
            # Added on the first frame (its size), before any packet is muxed.
            stream = self.container.add_stream(self.vcodec, rate=self.fps)
            stream.height, stream.width = rgb.shape[:2]
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = self.bitrate
            if self.vcodec == "libvpx":
                # One thread: libvpx's own threads only contend on a busy machine.
                stream.options = {"deadline": "realtime", "cpu-used": "8", "threads": "1"}
            else:
                stream.options = {"preset": "veryfast", "threads": "1", "crf": "20"}
            self.vstream = stream
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        picture.pts = index
        picture.time_base = Fraction(1, self.fps)
        self.container.mux(self.vstream.encode(picture))

    def audio(self, samples: np.ndarray, until: int) -> None:
        until = min(until, len(samples))
        while self.sent + self.chunk <= until or (until == len(samples) and self.sent < until):
            chunk = samples[self.sent : self.sent + self.chunk]
            if len(chunk) < self.chunk:
                chunk = np.pad(chunk, (0, self.chunk - len(chunk)))
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            frame.sample_rate = RATE
            frame.pts = self.sent
            frame.time_base = Fraction(1, RATE)
            self.container.mux(self.astream.encode(frame))
            self.sent += self.chunk

    def close(self) -> None:
        if self.vstream is not None:
            self.container.mux(self.vstream.encode())
        self.container.mux(self.astream.encode())
        self.container.close()


def _write_wav(path: Path, audio: np.ndarray) -> None:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def decode_capture(path: Path, every: int = 1) -> tuple[list[np.ndarray], np.ndarray, float]:
    """Every ``every``-th RGB frame, the sound (float32 mono, 48 kHz) and the video's
    duration in seconds, as PyAV decodes the file."""
    frames: list[np.ndarray] = []
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=RATE)
        index = 0
        last = 0.0
        streams = [s for s in (*container.streams.video[:1], *container.streams.audio[:1])]
        for packet in container.demux(*streams):
            for decoded in packet.decode():
                if isinstance(decoded, av.VideoFrame):
                    if index % every == 0:
                        frames.append(decoded.to_ndarray(format="rgb24"))
                    index += 1
                    if decoded.time is not None:
                        last = max(last, decoded.time)
                else:
                    chunks.extend(f.to_ndarray()[0] for f in resampler.resample(decoded))
        chunks.extend(f.to_ndarray()[0] for f in resampler.resample(None))
        rate = container.streams.video[0].average_rate if container.streams.video else None
    duration = last + (1 / float(rate) if rate else 0.0)
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return frames, audio, duration


# --- the bona fide proxy --------------------------------------------------------------------

Lips = Literal["speech", "still", "other", "shifted"]
# What a dubbed capture's lips say instead of the words heard.
OTHER_WORDS = (
    "The weather was cold and grey all week, so we stayed inside and painted the kitchen. "
    "Nobody minded very much."
)


def bona_fide(
    photo: RGB,
    script: Script,
    out_dir: Path,
    *,
    voice: str = "slt",
    seed: int = 0,
    fps: int = FPS,
    mp4: bool = False,
    camera: bool = False,
    natural_blinks: bool = True,
) -> CaptureFiles:
    """The honest proxy for the person of ``photo`` in front of a webcam, following ``script``:
    a textured 3D head that turns, blinks and speaks the digits and the statement."""
    return _live_head(
        photo,
        script,
        out_dir,
        species="bona-fide",
        voice=voice,
        seed=seed,
        fps=fps,
        mp4=mp4,
        camera=camera,
        natural_blinks=natural_blinks,
    )


def different_person(
    other_person_photo: RGB,
    script: Script,
    out_dir: Path,
    *,
    voice: str = "slt",
    seed: int = 0,
    fps: int = FPS,
    mp4: bool = False,
    camera: bool = False,
) -> CaptureFiles:
    """Someone else, live and following this session's script: the face must not match."""
    return _live_head(
        other_person_photo,
        script,
        out_dir,
        species="different-person",
        voice=voice,
        seed=seed,
        fps=fps,
        mp4=mp4,
        camera=camera,
    )


def replay_other_script(
    photo: RGB,
    script: Script,
    out_dir: Path,
    *,
    voice: str = "slt",
    seed: int = 0,
    fps: int = FPS,
    mp4: bool = False,
    camera: bool = False,
    other_seed: int = 1_000,
) -> CaptureFiles:
    """A real recording of the person that followed another session's script (another turn
    order, other digits): what an earlier capture or a prepared video looks like."""
    other = _other_script(script, other_seed)
    return _live_head(
        photo,
        other,
        out_dir,
        species="replay-other-script",
        voice=voice,
        seed=seed,
        fps=fps,
        mp4=mp4,
        camera=camera,
    )


def dubbed(
    photo: RGB,
    script: Script,
    out_dir: Path,
    *,
    lips: Lips = "other",
    voice: str = "slt",
    seed: int = 0,
    fps: int = FPS,
    mp4: bool = False,
    camera: bool = False,
) -> CaptureFiles:
    """The head follows the script and the right words play, but the lips do not say them:
    ``still`` (closed), ``other`` (they speak other words in the same windows) or ``shifted``
    (they speak these words 0.8 s late)."""
    return _live_head(
        photo,
        script,
        out_dir,
        species="dubbed",
        voice=voice,
        seed=seed,
        fps=fps,
        mp4=mp4,
        camera=camera,
        lips=lips,
    )


def _other_script(script: Script, seed: int) -> Script:
    rng = Random(seed)
    while True:
        other = new_script(script.of(Prompt.STATEMENT)[0].text, rng=rng)
        if [s.prompt for s in other.steps] != [s.prompt for s in script.steps]:
            return other


def _lip_audio(lips: Lips, script: Script, speech: np.ndarray, voice: str) -> np.ndarray:
    if lips == "speech":
        return speech
    if lips == "still":
        return np.zeros_like(speech)
    if lips == "shifted":
        delay = int(0.8 * RATE)
        return np.concatenate([np.zeros(delay, np.float32), speech[:-delay]])
    other = np.zeros_like(speech)
    words = tts(OTHER_WORDS, voice)
    for step in (*script.of(Prompt.DIGITS), *script.of(Prompt.STATEMENT)):
        start = int((step.start_s + 0.2) * RATE)
        length = min(int((step.duration_s - 0.4) * RATE), len(other) - start)
        offset = 0 if step.prompt == Prompt.DIGITS else len(words) // 3
        piece = words[offset : offset + length]
        other[start : start + len(piece)] = piece
    return other


def _live_head(
    photo: RGB,
    script: Script,
    out_dir: Path,
    *,
    species: str,
    voice: str,
    seed: int,
    fps: int,
    mp4: bool,
    camera: bool,
    natural_blinks: bool = True,
    lips: Lips = "speech",
) -> CaptureFiles:
    name = f"{species}-" + _key(
        species, [photo], script=script.to_json(), voice=voice, seed=seed, fps=fps, lips=lips,
        blinks=natural_blinks,
    )  # fmt: skip
    if _cached(out_dir, name, mp4, camera):
        return _existing(out_dir, name, fps, species, mp4, camera)
    frames = round(script.duration_s * fps)
    speech = speech_track(script, voice)
    jaw = mouth_opening(_lip_audio(lips, script, speech, voice), fps, frames)
    motion = head_motion(script, fps, frames, jaw, seed=seed, natural_blinks=natural_blinks)
    sound = speech + room_noise(len(speech), seed)
    renderer = HeadRenderer(build_head(photo))
    video = head_frames(renderer, motion, room_backdrop(seed=seed), SensorNoise(seed=seed))
    return write_capture(
        video, sound, out_dir, name, fps=fps, species=species, mp4=mp4, camera=camera
    )


def head_frames(
    renderer: HeadRenderer,
    motion: Motion,
    backdrop: np.ndarray,
    noise: Callable[[np.ndarray], np.ndarray] | None,
) -> Iterator[np.ndarray]:
    for i in range(motion.frames):
        frame = renderer.render(
            backdrop,
            yaw=float(motion.yaw[i]),
            pitch=float(motion.pitch[i]),
            roll=float(motion.roll[i]),
            blink=float(motion.blink[i]),
            jaw=float(motion.jaw[i]),
            shift=motion.shift[i],
        )
        yield noise(frame) if noise is not None else frame


# --- photos -----------------------------------------------------------------------------------


def _framed(photo: RGB, height: int = 400) -> np.ndarray:
    h, w = photo.shape[:2]
    scale = min(height / h, (WIDTH - 40) / w)
    return cv2.resize(
        photo, (int(w * scale) // 2 * 2, int(h * scale) // 2 * 2), interpolation=cv2.INTER_CUBIC
    )


def _static_photo(
    photo: RGB,
    script: Script,
    out_dir: Path,
    *,
    species: str,
    voice: str,
    fps: int,
    mp4: bool,
    camera: bool,
) -> CaptureFiles:
    name = f"{species}-" + _key(species, [photo], script=script.to_json(), voice=voice, fps=fps)
    if _cached(out_dir, name, mp4, camera):
        return _existing(out_dir, name, fps, species, mp4, camera)
    picture = _framed(photo, 440)
    canvas = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
    top, left = (HEIGHT - picture.shape[0]) // 2, (WIDTH - picture.shape[1]) // 2
    canvas[top : top + picture.shape[0], left : left + picture.shape[1]] = picture
    frames = round(script.duration_s * fps)
    sound = speech_track(script, voice)
    video = (canvas for _ in range(frames))
    return write_capture(
        video, sound, out_dir, name, fps=fps, species=species, mp4=mp4, camera=camera
    )


def enrolled_photo_static(
    photo: RGB,
    script: Script,
    out_dir: Path,
    *,
    voice: str = "slt",
    fps: int = FPS,
    mp4: bool = False,
    camera: bool = False,
) -> CaptureFiles:
    """A still video of the enrolled photo itself, with TTS reading the digits and statement
    at the script's times (``ffmpeg -loop 1`` and a voice track)."""
    return _static_photo(
        photo,
        script,
        out_dir,
        species="enrolled-photo-static",
        voice=voice,
        fps=fps,
        mp4=mp4,
        camera=camera,
    )


def other_photo_static(
    other_photo: RGB,
    script: Script,
    out_dir: Path,
    *,
    voice: str = "slt",
    fps: int = FPS,
    mp4: bool = False,
    camera: bool = False,
) -> CaptureFiles:
    """The same, with another photo of the person (one the researcher did not enrol)."""
    return _static_photo(
        other_photo,
        script,
        out_dir,
        species="other-photo-static",
        voice=voice,
        fps=fps,
        mp4=mp4,
        camera=camera,
    )


def printed_photo(
    photo: RGB,
    script: Script,
    out_dir: Path,
    *,
    voice: str = "slt",
    seed: int = 0,
    fps: int = FPS,
    mp4: bool = False,
    camera: bool = False,
    tilt_deg: float = 30.0,
) -> CaptureFiles:
    """A printed photo held up to a webcam by a clever adversary: white paper border, a
    trembling hand (about ±5° of roll, drift, zoom), the paper tilted left, right and up in
    each turn window as far as ``tilt_deg`` and moved the way the nose would go, light flicker,
    sensor noise, and TTS reading the digits and statement at the script's times."""
    species = "printed-photo"
    name = f"{species}-" + _key(
        species, [photo], script=script.to_json(), voice=voice, seed=seed, fps=fps, tilt=tilt_deg
    )
    if _cached(out_dir, name, mp4, camera):
        return _existing(out_dir, name, fps, species, mp4, camera)
    frames = round(script.duration_s * fps)
    paper = _paper(photo)
    zeros = np.zeros(frames)
    # The turns as the adversary plays them: the same timing as a person, the paper's own
    # rotation (a flat sheet turns about its vertical or horizontal axis).
    motion = head_motion(script, fps, frames, zeros, seed=seed, natural_blinks=False)
    rng = np.random.default_rng(seed + 3)
    gain = tilt_deg / TURN_DEG
    yaw = motion.yaw * gain
    pitch = motion.pitch * gain * TURN_DEG / UP_DEG
    roll = np.radians(5.0) * _smooth_noise(rng, frames, fps, 1.2).clip(-1, 1)
    dx = 3.0 * np.sin(motion.yaw) + 0.6 * _smooth_noise(rng, frames, fps, 0.6)  # cm
    dy = -2.0 * np.sin(-motion.pitch) + 0.5 * _smooth_noise(rng, frames, fps, 0.6)
    dz = 5.0 * _smooth_noise(rng, frames, fps, 2.5)  # zoom: nearer and further
    t = np.arange(frames) / fps
    flicker = 1.0 + 0.05 * np.sin(2 * np.pi * 7.3 * t) + 0.02 * rng.standard_normal(frames)
    backdrop = room_backdrop(seed=seed)
    noise = SensorNoise(seed=seed)
    sound = speech_track(script, voice) + room_noise(round(script.duration_s * RATE), seed)

    def video() -> Iterator[np.ndarray]:
        for i in range(frames):
            matrix = _paper_homography(
                paper.shape[:2],
                float(yaw[i]),
                float(pitch[i]),
                float(roll[i]),
                (dx[i], dy[i], dz[i]),
            )
            yield noise(_paper_frame(paper, matrix, backdrop, float(flicker[i]), float(yaw[i])))

    return write_capture(
        video(), sound, out_dir, name, fps=fps, species=species, mp4=mp4, camera=camera
    )


def _paper(photo: RGB) -> np.ndarray:
    """The photo as printed: cropped to head and shoulders (the face as large as a real one
    at the camera), lower contrast, warmer whites, a white border."""
    left, top, right, bottom = faces.find_face(photo).box
    side = int(3.0 * (right - left))
    cx, cy = (left + right) // 2, (top + bottom) // 2 + (bottom - top) // 4
    h, w = photo.shape[:2]
    x0, y0 = max(0, cx - side // 2), max(0, cy - side // 2)
    photo = photo[y0 : min(h, y0 + side), x0 : min(w, x0 + side)]
    picture = _framed(photo, 300).astype(np.float32)
    printed = 18 + picture * (228 - 18) / 255.0
    printed = cv2.GaussianBlur(printed, (0, 0), 0.7)
    border = int(0.07 * max(picture.shape[:2]))
    sheet = np.empty((picture.shape[0] + 2 * border, picture.shape[1] + 2 * border, 3), np.float32)
    sheet[:] = (244, 241, 232)
    sheet[border:-border, border:-border] = printed
    return np.clip(sheet, 0, 255).astype(np.uint8)


def _paper_homography(
    size: tuple[int, int], yaw: float, pitch: float, roll: float, shift: tuple[float, float, float]
) -> np.ndarray:
    """The image of the flat sheet turned by yaw/pitch/roll about its centre and moved, seen
    through the webcam's pinhole camera: one homography."""
    h, w = size
    cm_per_px = 22.0 / h  # a sheet about 22 cm tall
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    plane = np.hstack([(corners - [w / 2, h / 2]) * cm_per_px, np.zeros((4, 1))])
    turned = plane @ rotation_matrix(yaw, pitch, roll).T + np.array(
        [shift[0], shift[1] - 1.0, 52.0 + shift[2]]
    )
    cam = camera(WIDTH, HEIGHT)
    projected = turned @ cam.T
    image = projected[:, :2] / projected[:, 2:3]
    return cv2.getPerspectiveTransform(corners.astype(np.float32), image.astype(np.float32))


def _paper_frame(
    paper: np.ndarray, matrix: np.ndarray, backdrop: np.ndarray, flicker: float, yaw: float
) -> np.ndarray:
    h, w = paper.shape[:2]
    # Light on paper: brighter on the side turned towards the window, with the room's flicker.
    ramp = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None]
    lit = np.clip(paper.astype(np.float32) * (flicker + 0.12 * np.sin(yaw) * ramp), 0, 255).astype(
        np.uint8
    )
    warped = cv2.warpPerspective(lit, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(
        np.full((h, w), 255, np.uint8), matrix, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR
    )
    a = (mask.astype(np.float32) / 255.0)[..., None]
    frame = backdrop.astype(np.float32) * (1 - a) + warped.astype(np.float32) * a
    # The fingers holding the sheet's bottom corners.
    for corner in ((0.1, 1.0), (0.9, 1.0)):
        point = matrix @ np.array([corner[0] * w, corner[1] * h, 1.0])
        centre = (int(point[0] / point[2]), int(point[1] / point[2]) + 6)
        cv2.ellipse(frame, centre, (16, 26), 0, 0, 360, (196, 150, 128), -1, cv2.LINE_AA)
    return np.clip(frame, 0, 255).astype(np.uint8)


# --- the generator as an adversary's tool -----------------------------------------------------

GENERATOR_SIZE = (1280, 720)  # a live session's size; scaled and cropped to 640x480
# What an adversary types to make the character follow each prompt. The character's left is
# the subject's left (generator/instructions.py): "look to the left" turns the face towards
# the viewer's right, as turn-left asks.
INSTRUCTIONS = {
    Prompt.TURN_LEFT: "look very far to the left",
    Prompt.TURN_RIGHT: "look very far to the right",
    Prompt.LOOK_UP: "really look up",
}
BACK = "look at the camera"

Drive = Literal["instructions", "controls"]


def script_instructions(script: Script) -> list[tuple[float, str]]:
    """``(seconds, text)`` cues that make the generator follow ``script``'s turns."""
    cues: list[tuple[float, str]] = []
    for step in script.steps:
        if step.prompt in INSTRUCTIONS:
            cues.append((step.start_s + REACTION_S, INSTRUCTIONS[step.prompt]))
            cues.append((step.end_s - 0.45, BACK))
    return cues


def generator_frames(
    photo: RGB,
    script: Script,
    speech: np.ndarray,
    *,
    fps: int,
    seed: int = 0,
    drive: Drive = "instructions",
    size: tuple[int, int] = GENERATOR_SIZE,
) -> Iterator[np.ndarray]:
    """lpm_guard.generator's frames (native size, unwatermarked) of ``photo`` speaking
    ``speech`` and following ``script``: by typed instructions at the prompts' times, or, with
    ``drive="controls"``, by setting the head pose from the same motion a person makes. Either
    way the adversary also forces the blinks the script asks for (there is no instruction for
    them; the performance's face controls are open to whoever runs the library)."""
    character = Character.from_photo(photo, size=size)
    performance = Performance(character, fps=fps, seed=seed)
    performance.feed_audio(_resample(speech, RATE, 16_000), Role.AGENT)
    performance.end_audio()
    frames = round(script.duration_s * fps)
    motion = head_motion(script, fps, frames, np.zeros(frames), seed=seed, natural_blinks=False)
    behave = performance.behaviour.step
    index = 0

    def step(agent: object, user: object) -> tuple[FaceControls, object]:
        nonlocal index
        controls, state = behave(agent, user)  # type: ignore[arg-type]
        i = min(index, frames - 1)
        index += 1
        controls = replace(controls, blink=max(controls.blink, float(motion.blink[i])))
        if drive == "controls":
            controls = replace(
                controls,
                yaw=float(motion.yaw[i]),
                pitch=float(motion.pitch[i]),
                roll=float(motion.roll[i]),
            )
        return controls, state

    performance.behaviour.step = step  # type: ignore[method-assign]
    cues = script_instructions(script) if drive == "instructions" else []
    for i in range(frames):
        while cues and cues[0][0] <= i / fps:
            performance.instruct(cues.pop(0)[1])
        yield performance.next_frame().rgb


def to_webcam(rgb: np.ndarray) -> np.ndarray:
    """A frame of any size scaled to fill 640x480 and centre-cropped (a virtual camera)."""
    h, w = rgb.shape[:2]
    scale = max(WIDTH / w, HEIGHT / h)
    size = (max(WIDTH, round(w * scale)), max(HEIGHT, round(h * scale)))
    scaled = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    x0, y0 = (size[0] - WIDTH) // 2, (size[1] - HEIGHT) // 2
    return np.ascontiguousarray(scaled[y0 : y0 + HEIGHT, x0 : x0 + WIDTH])


def generator_fixed_script(
    photo: RGB,
    script: Script,
    out_dir: Path,
    *,
    voice: str = "slt",
    seed: int = 0,
    fps: int = FPS,
    mp4: bool = False,
    camera: bool = False,
    fixed_seed: int = 7,
) -> CaptureFiles:
    """The generator's unwatermarked output of the person, rendered beforehand following a
    fixed script (its own turns and digits, not this session's), played to the camera."""
    species = "generator-fixed-script"
    fixed = _other_script(script, fixed_seed)
    name = f"{species}-" + _key(
        species, [photo], script=fixed.to_json(), voice=voice, seed=seed, fps=fps
    )
    if _cached(out_dir, name, mp4, camera):
        return _existing(out_dir, name, fps, species, mp4, camera)
    speech = speech_track(fixed, voice)
    video = (to_webcam(f) for f in generator_frames(photo, fixed, speech, fps=fps, seed=seed))
    return write_capture(
        video, speech, out_dir, name, fps=fps, species=species, mp4=mp4, camera=camera
    )


def generator_live(
    photo: RGB,
    script: Script,
    out_dir: Path,
    *,
    voice: str = "slt",
    seed: int = 0,
    fps: int = FPS,
    mp4: bool = False,
    camera: bool = False,
    drive: Drive = "instructions",
    camera_noise: bool = False,
) -> CaptureFiles:
    """The generator driven live to follow THIS session's script: the prompts typed as
    instructions (or the pose set directly, ``drive="controls"``), the blinks forced, and TTS
    reading the digits and statement as the character's own voice, so its lips move with the
    words. ``camera_noise`` adds a webcam's sensor noise to the rendered frames (an adversary
    who knows the gate looks for it)."""
    species = "generator-live"
    name = f"{species}-" + _key(
        species, [photo], script=script.to_json(), voice=voice, seed=seed, fps=fps, drive=drive,
        noise=camera_noise,
    )  # fmt: skip
    if _cached(out_dir, name, mp4, camera):
        return _existing(out_dir, name, fps, species, mp4, camera)
    speech = speech_track(script, voice)
    noise = SensorNoise(seed=seed) if camera_noise else None
    frames = generator_frames(photo, script, speech, fps=fps, seed=seed, drive=drive)
    video = (noise(to_webcam(f)) if noise else to_webcam(f) for f in frames)
    return write_capture(
        video, speech, out_dir, name, fps=fps, species=species, mp4=mp4, camera=camera
    )


def watermarked_delivered(
    photo: RGB,
    script: Script,
    out_dir: Path,
    *,
    secret: bytes,
    reference: int,
    voice: str = "slt",
    seed: int = 0,
    fps: int = FPS,
) -> CaptureFiles:
    """Our own watermarked output as the gate delivers it: the generator follows this
    session's script (pose set directly, blinks forced, lips on the TTS), each 512x512 frame
    is marked as the gate's offline job marks it (``Watermarker(secret, reference)``) and
    encoded as H.264 crf 20 (the ``.mp4``). Cached: the species below all start from it."""
    from lpm_guard.provenance.watermark import Watermarker

    species = "watermarked-delivered"
    name = f"{species}-" + _key(
        species, [photo], script=script.to_json(), voice=voice, seed=seed, fps=fps,
        secret=hashlib.sha256(secret).hexdigest(), reference=reference,
    )  # fmt: skip
    if _cached(out_dir, name, True, False):
        return _existing(out_dir, name, fps, species, True, False)
    speech = speech_track(script, voice)
    size = (512, 512)
    marker = Watermarker(secret, reference, width=size[0], height=size[1])
    frames = generator_frames(
        photo, script, speech, fps=fps, seed=seed, drive="controls", size=size
    )
    return write_capture(
        (marker.mark(f) for f in frames), speech, out_dir, name, fps=fps, species=species, mp4=True
    )


def watermarked_downscaled(
    photo: RGB,
    script: Script,
    out_dir: Path,
    *,
    secret: bytes,
    reference: int,
    width: int = 320,
    voice: str = "slt",
    seed: int = 0,
    fps: int = FPS,
    camera: bool = False,
    mirror: bool = False,
    angle_deg: float = 0.0,
) -> CaptureFiles:
    """Our own output (``watermarked_delivered``) replayed: decoded, mirrored left to right
    when ``mirror`` (a front camera's selfie view), turned ``angle_deg`` about its centre
    (enlarged just enough that no corner is left empty, as a phone's stabiliser crops),
    scaled to ``width`` pixels wide and re-encoded as WebM. Only the watermark (traced
    against the issued ``reference``, or read blind) tells it from a live generator capture."""
    species = "watermarked-downscaled"
    geometry = {"mirror": True} if mirror else {}
    geometry |= {"angle_deg": angle_deg} if angle_deg else {}
    name = f"{species}-" + _key(
        species, [photo], script=script.to_json(), voice=voice, seed=seed, fps=fps, width=width,
        secret=hashlib.sha256(secret).hexdigest(), reference=reference, **geometry,
    )  # fmt: skip
    if _cached(out_dir, name, False, camera):
        return _existing(out_dir, name, fps, species, False, camera)
    delivered = watermarked_delivered(
        photo, script, out_dir, secret=secret, reference=reference, voice=voice, seed=seed, fps=fps
    )
    assert delivered.mp4 is not None
    decoded, _, _ = decode_capture(delivered.mp4)
    speech = speech_track(script, voice)
    size = (decoded[0].shape[1], decoded[0].shape[0])
    height = round(width * size[1] / size[0]) // 2 * 2

    def replayed(frame: np.ndarray) -> np.ndarray:
        if mirror:
            frame = np.ascontiguousarray(frame[:, ::-1])
        if angle_deg:
            turn = math.radians(abs(angle_deg))
            fill = math.cos(turn) + math.sin(turn) * max(size) / min(size)
            matrix = cv2.getRotationMatrix2D((size[0] / 2, size[1] / 2), angle_deg, fill)
            frame = cv2.warpAffine(frame, matrix, size, flags=cv2.INTER_LINEAR)
        return cv2.resize(frame, (width, height), interpolation=cv2.INTER_AREA)

    return write_capture(
        (replayed(f) for f in decoded), speech, out_dir, name, fps=fps, species=species,
        camera=camera, bitrate=600_000,
    )  # fmt: skip


def placed(parts: list[tuple[float, np.ndarray]], seconds: float, rate: int) -> np.ndarray:
    """Mono samples laid on a silent track of ``seconds`` at ``rate``, each at its start (s)."""
    out = np.zeros(int(seconds * rate), np.float32)
    for start, samples in parts:
        i = int(start * rate)
        piece = samples[: out.size - i]
        out[i : i + piece.size] += piece
    return out
