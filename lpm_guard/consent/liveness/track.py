"""A capture read once: the face followed through sampled frames, the sound, the camera noise.

``read_capture`` decodes the video in one bounded pass (``decode``), and for each frame sampled
at about ``sample_fps`` finds the face and measures it (``geometry``): landmarks, head pose,
eye and mouth opening. Frames are dropped as soon as they are measured; what is kept is the
per-frame measures (a few kilobytes per second), a few face crops, and their descriptors.

Cost: dlib's detector over a whole 640 px frame takes ~25-35 ms, so it runs once a second (the
face count) and when the face is lost; in between the face is found again in a small crop
around its last place (~5 ms). The detector gives boxes only: the 68 landmarks (~4 ms here)
are fitted once per sampled frame, to the box followed, and its head pose is taken once.
Descriptors (~130 ms each) are computed on at most eight crops. A 34.5 s 640×480 15 fps
capture (362 sampled frames): ~8 s of CPU to read (it was ~9.5 s while the crop search also
fitted landmarks it threw away), then ~4 s to analyse, mostly speech recognition (a shared
2-core machine, load 6-12; ~1.5 s more loads dlib's models once per process). Memory: the
per-frame measures, ≤ 36 face crops, ≤ 64 full-size lumas.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from .. import landmarks as dlib_faces
from ..landmarks import Box, Face
from . import geometry
from .decode import RATE, Audio, Luma, Sample, decode
from .noise import pair_noise
from .script import Prompt, Script

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]

MAX_SECONDS = 90.0
MAX_PIXELS = 1920 * 1080
SAMPLE_FPS = 10.0
SCAN_EVERY_S = 1.0  # the whole frame is searched for faces this often
TRACK_FOR_S = 0.5  # landmarks carried in the last box when the detector misses a turned face
CROP_FACE = 100  # px: the face's size in the crop the detector searches (finds >= 80 px)
CROP_PAD = 0.45  # of the face's side, around its last box
BIN_S = 2.0  # one frontal and one turned crop kept per bin, for descriptors
FRONTAL_DESCRIPTORS = 5
TURNED_DESCRIPTORS = 3
TURNED_MIN = 10.0  # degrees from the capture's median pose for a "turned" descriptor
# Full-size lumas kept for the watermark reader, spread over the capture (one per second,
# thinned by half whenever twice this many are held: at most ~2 MB each at 1080p).
WATERMARK_FRAMES = 32
BLINK_LAG_S = 0.75  # as motion.LAG_S


@dataclass(frozen=True, slots=True)
class Still:
    """A face crop kept from the capture (working resolution), with its face in crop pixels."""

    t: float
    image: npt.NDArray[np.uint8]
    face: Face
    yaw: float
    pitch: float


@dataclass(frozen=True, slots=True)
class Described:
    t: float
    descriptor: Floats  # dlib's 128-D descriptor
    yaw: float
    pitch: float
    frontal: bool  # one of the evenly spread frontal crops (else one of the most turned)


@dataclass(frozen=True, slots=True)
class Track:
    """Per sampled frame, in time order. Measures are NaN where no face was followed."""

    times: Floats
    found: Bools  # the detector found the face
    tracked: Bools  # landmarks carried in the last box (detector missed; < TRACK_FOR_S)
    faces: Ints  # faces in the whole-frame scan; -1 where none ran
    landmarks: Floats  # (n, 68, 2) working pixels
    yaw: Floats
    pitch: Floats
    roll: Floats
    ear: Floats
    mouth: Floats
    interocular: Floats

    @property
    def present(self) -> Bools:
        return np.asarray(self.found | self.tracked)

    def between(self, start: float, end: float) -> Bools:
        return np.asarray((self.times >= start) & (self.times <= end))

    def __len__(self) -> int:
        return len(self.times)


@dataclass(frozen=True)
class Recording:
    track: Track
    audio: Audio  # mono float32 at 16 kHz, time 0 = the first video frame
    video_s: float
    frames: int  # video frames decoded (all, not only the sampled ones)
    size: tuple[int, int]  # the source's width and height
    working_size: tuple[int, int]
    noise: tuple[float, ...]  # camera noise per frame pair (grey levels)
    stills: tuple[Still, ...]  # frontal face crops, evenly spread (for face match, copies)
    descriptors: tuple[Described, ...]
    lumas: tuple[Luma, ...] = ()  # full-size grey frames spread over the capture

    def frames_rgb(self) -> Iterator[npt.NDArray[np.uint8]]:
        """The kept full-size frames, grey in three channels (what the watermark reader takes:
        it reads luma only)."""
        for luma in self.lumas:
            yield np.repeat(luma[:, :, None], 3, axis=2)

    @property
    def audio_s(self) -> float:
        return self.audio.size / RATE

    @property
    def duration_s(self) -> float:
        """What both picture and sound cover."""
        return min(self.video_s, self.audio_s)


def read_capture(
    path: Path,
    *,
    max_seconds: float = MAX_SECONDS,
    max_pixels: int = MAX_PIXELS,
    sample_fps: float = SAMPLE_FPS,
    script: Script | None = None,
) -> Recording:
    """Decode and measure a capture; raises ``UnreadableMedia`` for a file without video or
    sound, frames over ``max_pixels``, more than ``max_seconds``, or undecodable data.

    With the ``script``, every frame of its blink windows is measured, not only the sampled
    ones: a blink closes the eyes for 100-150 ms, which 10 samples a second can miss."""
    tracker = _Tracker()
    dense = (
        []
        if script is None
        else [(step.start_s, step.end_s + BLINK_LAG_S) for step in script.of(Prompt.BLINK)]
    )
    decoded = decode(
        str(path),
        on_sample=tracker.sample,
        on_pair=tracker.pair,
        max_seconds=max_seconds,
        max_pixels=max_pixels,
        sample_fps=sample_fps,
        dense=dense,
    )
    track = tracker.track()
    stills, descriptors = tracker.describe(track)
    return Recording(
        track=track,
        audio=decoded.audio,
        video_s=decoded.video_s,
        frames=decoded.frames,
        size=decoded.size,
        working_size=tracker.working_size,
        noise=tuple(tracker.noise),
        stills=stills,
        descriptors=descriptors,
        lumas=tracker.kept_lumas(),
    )


_Row = tuple[float, bool, bool, int, Floats | None, "geometry.Pose | None", tuple[int, int]]


@dataclass
class _Kept:
    still: Still
    score: float


@dataclass
class _Tracker:
    # time, found, tracked, faces counted, landmarks, their pose, the working size then
    rows: list[_Row] = field(default_factory=list)
    noise: list[float] = field(default_factory=list)
    working_size: tuple[int, int] = (0, 0)
    _box: tuple[int, int, int, int] | None = None
    _seen_s: float = -1.0  # when the detector last found the face
    _scanned_s: float = -1e9
    _upsampled_s: float = -1e9
    _frontal: dict[int, _Kept] = field(default_factory=dict)
    _turned: dict[int, _Kept] = field(default_factory=dict)
    _scale: float = 1.0
    _lumas: list[Luma] = field(default_factory=list)
    _pairs: int = 0
    _luma_every: int = 1

    # (1): each sampled frame: find the face, measure it, keep a crop now and then.
    def sample(self, sample: Sample) -> None:
        gray, t = sample.gray, sample.t
        height, width = gray.shape
        self.working_size, self._scale = (width, height), sample.scale
        count = -1
        # The detector gives boxes; landmarks are fitted to the one box followed (~4 ms each).
        box: Box | None = None
        if t - self._scanned_s >= SCAN_EVERY_S:
            found = dlib_faces.detect_boxes(gray, upsample=0)
            count, self._scanned_s = len(found), t
            box = self._pick(found)
        if box is None and self._box is not None:
            box = self._in_crop(gray)
        if box is None and count < 0:
            box = self._pick(dlib_faces.detect_boxes(gray, upsample=0))
        if box is None and t - self._upsampled_s >= SCAN_EVERY_S:
            # Small faces (under 80 px) need the upsampled pass: four times the cost.
            self._upsampled_s = t
            found = dlib_faces.detect_boxes(gray, upsample=1)
            count = max(count, len(found))
            box = self._pick(found)
        face = None if box is None else Face(box, dlib_faces.landmarks_in(gray, box))
        tracked = False
        landmarks: Floats | None = None
        if face is not None:
            self._box, self._seen_s, landmarks = face.box, t, face.landmarks
        elif self._box is not None and t - self._seen_s <= TRACK_FOR_S:
            landmarks, tracked = dlib_faces.landmarks_in(gray, self._box), True
        else:
            self._box = None
        pose = None
        if landmarks is not None:
            pose = geometry.head_pose(landmarks, width, height)
        self.rows.append((t, face is not None, tracked, count, landmarks, pose, (width, height)))
        if face is not None:
            assert pose is not None
            self._keep(sample, face, pose)

    def _pick(self, found: list[Box]) -> Box | None:
        if not found:
            return None
        if self._box is None:
            return max(found, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
        cx, cy = (self._box[0] + self._box[2]) / 2, (self._box[1] + self._box[3]) / 2
        return min(found, key=lambda b: abs((b[0] + b[2]) / 2 - cx) + abs((b[1] + b[3]) / 2 - cy))

    def _in_crop(self, gray: Luma) -> Box | None:
        """The face's box near its last place: the detector on a small crop, ~5 times
        cheaper."""
        assert self._box is not None
        left, top, right, bottom = self._box
        side = max(right - left, bottom - top)
        pad = round(side * CROP_PAD)
        x0, y0 = max(0, left - pad), max(0, top - pad)
        x1, y1 = min(gray.shape[1], right + pad), min(gray.shape[0], bottom + pad)
        crop = gray[y0:y1, x0:x1]
        zoom = CROP_FACE / max(side, 1)
        if crop.size == 0:
            return None
        small = cv2.resize(crop, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_AREA)
        found = dlib_faces.detect_boxes(np.ascontiguousarray(small), upsample=0)
        if not found:
            return None
        centre = np.array([(x1 - x0) / 2, (y1 - y0) / 2]) * zoom
        b = min(
            found,
            key=lambda f: float(
                np.hypot((f[0] + f[2]) / 2 - centre[0], (f[1] + f[3]) / 2 - centre[1])
            ),
        )
        return (
            round(x0 + b[0] / zoom), round(y0 + b[1] / zoom),
            round(x0 + b[2] / zoom), round(y0 + b[3] / zoom),
        )  # fmt: skip

    def _keep(self, sample: Sample, face: Face, pose: geometry.Pose) -> None:
        turn = abs(pose.yaw) + abs(pose.pitch)
        slot = int(sample.t // BIN_S)
        frontal, turned = self._frontal.get(slot), self._turned.get(slot)
        rgb: npt.NDArray[np.uint8] | None = None
        if frontal is None or turn < frontal.score:
            rgb = sample.rgb()
            self._frontal[slot] = _Kept(_crop(rgb, sample.t, face, pose), turn)
        if turned is None or turn > turned.score:
            rgb = sample.rgb() if rgb is None else rgb
            self._turned[slot] = _Kept(_crop(rgb, sample.t, face, pose), turn)

    # (2): noise between two consecutive full-size frames, the face left out.
    def pair(self, t: float, a: Luma, b: Luma, scale: float) -> None:
        exclude = None
        if self._box is not None:
            left, top, right, bottom = (v / scale for v in self._box)
            pad = (right - left) * 0.6
            exclude = (left - pad, top - pad, right + pad, bottom + 2 * pad)
        level = pair_noise(a, b, exclude)
        if level is not None:
            self.noise.append(level)
        # (2b): the first of every pair, thinned as needed, for the watermark reader.
        if self._pairs % self._luma_every == 0 and (
            not self._lumas or self._lumas[0].shape == a.shape
        ):
            self._lumas.append(a)
            if len(self._lumas) >= 2 * WATERMARK_FRAMES:
                self._lumas, self._luma_every = self._lumas[::2], self._luma_every * 2
        self._pairs += 1

    def kept_lumas(self) -> tuple[Luma, ...]:
        picks = np.linspace(0, len(self._lumas) - 1, num=min(WATERMARK_FRAMES, len(self._lumas)))
        return tuple(self._lumas[i] for i in sorted({round(p) for p in picks}))

    # (3): the columns.
    def track(self) -> Track:
        n = len(self.rows)
        width, height = self.working_size
        marks = np.full((n, 68, 2), np.nan)
        measures = np.full((n, 6), np.nan)
        for i, (_, _, _, _, landmarks, pose, size) in enumerate(self.rows):
            if landmarks is None:
                continue
            marks[i] = landmarks
            if pose is None or size != self.working_size:
                # Measured against the capture's last frame size (a stream that changed size
                # midway); otherwise the pose taken while sampling.
                pose = geometry.head_pose(landmarks, width, height)
            measures[i] = (
                pose.yaw, pose.pitch, pose.roll,
                geometry.eye_aspect_ratio(landmarks), geometry.mouth_opening(landmarks),
                geometry.interocular(landmarks),
            )  # fmt: skip
        return Track(
            times=np.array([r[0] for r in self.rows], dtype=np.float64),
            found=np.array([r[1] for r in self.rows], dtype=np.bool_),
            tracked=np.array([r[2] for r in self.rows], dtype=np.bool_),
            faces=np.array([r[3] for r in self.rows], dtype=np.int64),
            landmarks=marks,
            yaw=measures[:, 0],
            pitch=measures[:, 1],
            roll=measures[:, 2],
            ear=measures[:, 3],
            mouth=measures[:, 4],
            interocular=measures[:, 5],
        )

    # (4): descriptors on a few crops: frontal ones spread over the capture, the most turned.
    def describe(self, track: Track) -> tuple[tuple[Still, ...], tuple[Described, ...]]:
        frontal = [self._frontal[k].still for k in sorted(self._frontal)]
        picks = np.linspace(0, len(frontal) - 1, num=min(FRONTAL_DESCRIPTORS, len(frontal)))
        stills = tuple(frontal[i] for i in sorted({round(p) for p in picks}))
        yaw0 = float(np.nanmedian(track.yaw)) if np.isfinite(track.yaw).any() else 0.0
        pitch0 = float(np.nanmedian(track.pitch)) if np.isfinite(track.pitch).any() else 0.0

        def turn(still: Still) -> float:
            return max(abs(still.yaw - yaw0), abs(still.pitch - pitch0))

        turned = sorted(
            (kept.still for kept in self._turned.values() if turn(kept.still) >= TURNED_MIN),
            key=turn,
            reverse=True,
        )[:TURNED_DESCRIPTORS]
        described = tuple(
            Described(
                s.t,
                np.asarray(dlib_faces.descriptor(s.image, s.face)),
                s.yaw,
                s.pitch,
                frontal=s in stills,
            )
            for s in sorted([*stills, *turned], key=lambda s: s.t)
        )
        return stills, described


def _crop(rgb: npt.NDArray[np.uint8], t: float, face: Face, pose: geometry.Pose) -> Still:
    left, top, right, bottom = face.box
    margin = (right - left) // 2 + 1
    x0, y0 = max(0, left - margin), max(0, top - margin)
    x1, y1 = min(rgb.shape[1], right + margin), min(rgb.shape[0], bottom + margin)
    image = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    shifted = Face((left - x0, top - y0, right - x0, bottom - y0), face.landmarks - [x0, y0])
    return Still(t, image, shifted, pose.yaw, pose.pitch)
