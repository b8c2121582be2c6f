"""Benchmark of the portrait performer (``lpm_guard.generator``): rendering, live latency and a
long session.

    .venv/bin/python bench/generator.py                 # a 45-minute session: ~15 min on 2 cores
    .venv/bin/python bench/generator.py --quick         # a 3-minute session, fewer runs: ~3 min
    .venv/bin/python bench/generator.py --minutes 10    # a shorter session
    .venv/bin/python bench/generator.py --only render,live --json out.json

The targets are per core: the process is pinned to one CPU (``--cpu``) and OpenCV to one thread,
as a ``Performance`` sets it. Five parts, each skippable with ``--only``:

- render: ms/frame of ``Renderer.render`` alone over varied controls at every output size; H.264
  encoding (PyAV libx264, preset veryfast, crf 20, as ``generator/offline.py`` does) of the same
  frames; and a whole ``Performance`` step (audio analysis of both voices, behaviour, render).
  Every figure is the median of several runs.
- background: how far the pixels outside the person mask move (mean, px) at yaw -0.3 and +0.3
  and on the most turned frame of "look to the left", at 512² and 1280×720; beside it, in the
  notes, the same with the whole canvas warped as one sheet (as before the person was
  separated).
- eyes: a full glance (gaze x ±1) at 512²: how far the iris moves (eye widths; the middle of
  the iris at rest found again along the eye, its catchlight clipped) and how much the eye
  round it and its white change (mean abs grey difference outside the opening, and over the
  opening's pixels that are iris in neither frame); on the drawn face
  (a plain disc for an iris) whether it moves whole (its mask shifted back over the one at
  rest, IoU); dlib's eye opening at blink 1 against open.
- live: ``Performance.live()`` in a thread on the real clock while this thread feeds flite speech
  in 20 ms chunks in real time; for each chunk, the wall time from its ``feed_audio`` to the
  yield of the first frame whose time covers the chunk's start.
- session: a long session (45 minutes of timeline by default) driven as fast as possible with
  speaking, listening and idle stretches and an instruction every few minutes. Every simulated
  minute: the dlib face-descriptor distance of one frame to the source photo, resident memory and
  ms/frame; on every frame of a few sampled minutes: dlib landmarks, for the blink rate (eye
  aspect ratio), head motion (nose tip, solvePnP yaw) and pops (frame-to-frame landmark motion).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import av
import cv2
import numpy as np
from lpm_guard.generator import (
    SAMPLE_RATE,
    Character,
    FaceControls,
    Performance,
    Role,
    State,
    faces,
    load_audio,
)
from lpm_guard.generator.audio import analyse
from lpm_guard.generator.errors import NoFaceError
from lpm_guard.generator.images import load_image
from lpm_guard.generator.performance import Frame
from lpm_guard.generator.pose import fit_head
from report import cpu_model, progress, table  # bench/report.py
from skimage import data

FPS = 25
# Real recordings (CMU ARCTIC speakers), beside the project as in bench/lipsync.py --real.
REAL_SPEECH = Path(__file__).resolve().parents[2] / "shared" / "speech"
SIZES: tuple[tuple[int, int], ...] = ((512, 512), (1280, 720), (720, 1280))
RENDER_TARGET_MS = {(512, 512): 10.0, (1280, 720): 25.0, (720, 1280): 25.0}
LIVE_P95_TARGET_MS = 100.0
DISTANCE_MEDIAN_TARGET = 0.25
DISTANCE_MAX_TARGET = 0.4
RSS_GROWTH_TARGET = 2.0  # %
BLINKS_PER_MINUTE = (10.0, 30.0)
FLAT_RATIO_TARGET = 1.10  # last minute's ms/frame against the first's
NOSE_STD_MIN_PX = 0.5  # "not frozen"
INSTRUCTIONS = ("smile warmly", "calm", "excited", "look thoughtful", "neutral")
CHUNK_S = 0.020  # live feeding

AGENT_LINES = (
    "Hello, and welcome back. It is good to see you again.",
    "Today I would like to talk about the weather, the mountains, and a long walk by the sea.",
    "Did you know that the oldest trees on earth are more than four thousand years old?",
    "Let me think about that for a moment. Yes, I believe you are right.",
    "Photographs remember what we forget, and voices carry what pictures cannot.",
    "Oh, absolutely! Open the window, and you can hear the whole valley waking up.",
)
USER_LINES = (
    "That sounds lovely. Tell me more about the walk.",
    "Hmm, I am not sure I agree with you on that point.",
    "Really? I had no idea they could live for so long.",
    "Okay. Go on, I am listening.",
    "Well, last summer we went hiking in the north, and it rained every single day.",
)


# --- results ------------------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    key: str
    label: str
    unit: str  # "ms", "", "%", "/min", "px", "deg", "x", "MiB", "s", "n"
    value: float
    samples: list[float]  # what ``value`` summarises (runs, minutes, chunks)
    low: float | None = None  # target: value >= low
    high: float | None = None  # target: value <= high
    footnote: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        if self.low is None and self.high is None:
            return ""
        ok = (self.low is None or self.value >= self.low) and (
            self.high is None or self.value <= self.high
        )
        return "PASS" if ok else "MISS"

    def target_text(self) -> str:
        if self.low is not None and self.high is not None:
            text = f"{number(self.low, self.unit)}..{fmt(self.high, self.unit)}"
        elif self.high is not None:
            text = f"<= {fmt(self.high, self.unit)}"
        elif self.low is not None:
            text = f">= {fmt(self.low, self.unit)}"
        else:
            return "-"
        return text + self.footnote

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "unit": self.unit,
            "value": _finite(self.value),
            "samples": [_finite(s) for s in self.samples],
            "target_low": self.low,
            "target_high": self.high,
            "status": self.status or None,
            **self.extra,
        }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def number(value: float, unit: str) -> str:
    if not math.isfinite(value):
        return "n/a"
    if unit == "":
        return f"{value:.3f}"
    if unit in ("n",):
        return f"{value:.0f}"
    if unit in ("/min", "MiB"):
        return f"{value:.1f}"
    if unit == "x":
        return f"{value:.3f}"
    return f"{value:.2f}"


def fmt(value: float, unit: str) -> str:
    text = number(value, unit)
    return text if unit in ("", "n") else f"{text} {unit}"


def render_table(results: Sequence[Result]) -> str:
    header = ("measurement", "value", "samples (min..max)", "n", "target", "status")
    rows = [header]
    for r in results:
        finite = [s for s in r.samples if math.isfinite(s)]
        spread = f"{number(min(finite), r.unit)}..{number(max(finite), r.unit)}" if finite else "-"
        rows.append(
            (r.label, fmt(r.value, r.unit), spread, str(len(r.samples)), r.target_text(), r.status)
        )
    return table(rows, right={1, 2, 3, 4})


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, np.float64), q)) if len(values) else math.nan


def size_name(size: tuple[int, int]) -> str:
    return "512²" if size == (512, 512) else f"{size[0]}×{size[1]}"


# --- machine ------------------------------------------------------------------------------


def rss_mib() -> float:
    """Resident memory of this process (VmRSS), MiB."""
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return math.nan


def pin(cpu: int | None) -> str:
    cv2.setNumThreads(1)
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {cpu})
        except OSError as exc:
            return f"not pinned ({exc})"
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return f"affinity {cores}, cv2 threads {cv2.getNumThreads()}"


def machine_info(pinned: str) -> dict[str, str]:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    flite = subprocess.run(["flite", "--version"], capture_output=True, text=True, check=False)
    flite_version = next(
        (line.strip() for line in flite.stdout.splitlines() if "version" in line), "?"
    )
    import dlib

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": f"{platform.node()} ({platform.system()} {platform.release()})",
        "cpu": f"{cpu_model()}; cpu_count={os.cpu_count()}, load average {load}",
        "pinned": pinned,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "libraries": f"numpy {np.__version__}, opencv {cv2.__version__}, PyAV {av.__version__} "
        f"(libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}), "
        f"dlib {dlib.__version__}",
        "speech": f"flite ({flite_version})",
    }


# --- inputs -------------------------------------------------------------------------------


def astronaut() -> np.ndarray:
    """scikit-image's astronaut (Eileen Collins, public domain): the default portrait."""
    image: np.ndarray = data.astronaut()  # type: ignore[no-untyped-call]
    return image


def speech(lines: Sequence[str], voice: str, folder: Path) -> list[np.ndarray]:
    """Each line spoken by flite, as 16 kHz float samples."""
    if shutil.which("flite") is None:
        raise SystemExit("flite is not installed (apt-get install flite)")
    clips = []
    for n, text in enumerate(lines):
        path = folder / f"{voice}-{n}.wav"
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True)
        clips.append(load_audio(path))
    return clips


def join_clips(
    clips: Sequence[np.ndarray], seconds: float, rng: np.random.Generator, gap: tuple[float, float]
) -> np.ndarray:
    """Clips in random order with silent gaps between them, cut to ``seconds``."""
    total = round(seconds * SAMPLE_RATE)
    parts: list[np.ndarray] = []
    length = 0
    while length < total:
        clip = clips[int(rng.integers(len(clips)))]
        silence = np.zeros(round(rng.uniform(*gap) * SAMPLE_RATE), np.float32)
        parts += [clip, silence]
        length += len(clip) + len(silence)
    return np.concatenate(parts)[:total]


def varied_controls(count: int, seed: int) -> list[FaceControls]:
    """Controls that change every frame: speech shapes, blinks, expressions, a moving head."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        t = i / FPS
        speaking = rng.random() < 0.7
        out.append(
            FaceControls(
                jaw_open=float(rng.uniform(0.05, 1.0)) if speaking else 0.0,
                lip_width=float(rng.uniform(0.0, 1.0)) if speaking else 0.0,
                lip_round=float(rng.uniform(0.0, 0.8)) if speaking else 0.0,
                lip_close=float(rng.random() < 0.15) if speaking else 0.0,
                smile=float(rng.uniform(-0.3, 0.8)),
                brow_raise=float(rng.uniform(-0.5, 0.8)),
                blink=float(rng.choice([0.0, 0.0, 0.0, 0.0, 0.5, 1.0])),
                yaw=0.25 * math.sin(1.3 * t),
                pitch=0.12 * math.sin(0.9 * t + 1.0),
                roll=0.08 * math.sin(0.7 * t + 2.0),
                gaze_x=float(rng.uniform(-0.6, 0.6)),
                gaze_y=float(rng.uniform(-0.4, 0.4)),
                breath=math.sin(1.5 * t),
            )
        )
    return out


# --- render -------------------------------------------------------------------------------


@dataclass(slots=True)
class Stopwatch:
    """Wall time and this process's CPU time (all threads) since ``start``, per item in ms. The
    two differ when something else runs on the pinned core."""

    wall: float = 0.0
    cpu: float = 0.0

    def start(self) -> Stopwatch:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def per(self, count: int) -> tuple[float, float]:
        return (
            (time.perf_counter() - self.wall) * 1e3 / count,
            (time.process_time() - self.cpu) * 1e3 / count,
        )


def time_render(
    character: Character, controls: Sequence[FaceControls]
) -> tuple[tuple[float, float], list[np.ndarray]]:
    """(wall, CPU) ms/frame of rendering ``controls``, and the frames."""
    renderer = character.renderer
    frames: list[np.ndarray] = []
    watch = Stopwatch().start()
    for c in controls:
        frames.append(renderer.render(c))
    return watch.per(len(controls)), frames


def time_encode(
    frames: Sequence[np.ndarray], size: tuple[int, int], crf: int = 20
) -> tuple[float, float]:
    """(wall, CPU) ms/frame of H.264 encoding (conversion to yuv420p included, flush included), as
    ``generator/offline.py`` sets libx264 up; muxed into an in-memory MP4."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        video.options = {"crf": str(crf), "preset": "veryfast"}
        watch = Stopwatch().start()
        for n, rgb in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            picture.pts = n
            picture.time_base = Fraction(1, FPS)
            container.mux(video.encode(picture))
        container.mux(video.encode())
        return watch.per(len(frames))


class SpeechFeed:
    """One voice's audio for frame after frame, looping a signal."""

    def __init__(self, signal: np.ndarray) -> None:
        self.signal = signal
        self.at = 0
        self.step = SAMPLE_RATE // FPS

    def next(self) -> np.ndarray:
        if self.at + self.step > len(self.signal):
            self.at = 0
        chunk = self.signal[self.at : self.at + self.step]
        self.at += self.step
        return chunk


def time_steps(performance: Performance, agent: SpeechFeed, frames: int) -> tuple[float, float]:
    """(wall, CPU) ms/frame of a whole step: 40 ms of audio into each voice (the agent speaks,
    the user's microphone is quiet), behaviour and render. Audio runs one frame ahead (the
    lookahead)."""
    quiet = np.zeros(SAMPLE_RATE // FPS, np.float32)
    watch = Stopwatch().start()
    for _ in range(frames):
        performance.feed_audio(agent.next(), Role.AGENT)
        performance.feed_audio(quiet, Role.USER)
        performance.next_frame()
    return watch.per(frames)


def bench_render(
    args: argparse.Namespace, photo: np.ndarray, agent_speech: np.ndarray, notes: list[str]
) -> list[Result]:
    results: list[Result] = []
    cpu_notes: list[str] = []
    controls = varied_controls(args.frames, args.seed)

    def add(key: str, label: str, pairs: list[tuple[float, float]], **kw: Any) -> None:
        wall = [w for w, _ in pairs]
        cpu = [c for _, c in pairs]
        value = statistics.median(wall)
        progress(f"{label}: {value:.2f} ms/frame (CPU {statistics.median(cpu):.2f})")
        cpu_notes.append(f"{statistics.median(cpu):.2f}")
        results.append(
            Result(
                key, label, "ms", value, wall, extra={"cpu_ms": cpu, **kw.pop("extra", {})}, **kw
            )
        )

    # The voice's analysis alone (once per stream, whatever the size): what each live frame
    # costs before behaviour and render. Was a timed unit test (< 5 ms a frame). On flite's
    # voice, and on the real recordings in ../shared/speech where they are.
    voices = {"flite slt": agent_speech}
    real = sorted(REAL_SPEECH.glob("*.wav"))
    if real:
        voices["real speech"] = np.concatenate([load_audio(path) for path in real])
    analyse(agent_speech[:SAMPLE_RATE])  # warm up
    for voice, signal in voices.items():
        analysis: list[tuple[float, float]] = []
        for _ in range(args.repeat):
            watch = Stopwatch().start()
            analysed = analyse(signal)
            analysis.append(watch.per(len(analysed)))
        key = "audio_analysis" + ("_real" if voice == "real speech" else "")
        add(key, f"audio analysis, {voice} (generator.audio.analyse)", analysis, high=5.0)
    for size in SIZES:
        name, tag = size_name(size), f"{size[0]}x{size[1]}"
        start = time.perf_counter()
        character = Character.from_photo(photo, size=size)
        build_s = time.perf_counter() - start
        time_render(character, controls[:10])  # warm up: first-call allocations
        pairs: list[tuple[float, float]] = []
        frames: list[np.ndarray] = []
        for _ in range(args.repeat):
            timing, frames = time_render(character, controls)
            pairs.append(timing)
        add(
            f"render_{tag}",
            f"render {name} (varied controls, {args.frames}/run)",
            pairs,
            high=RENDER_TARGET_MS[size],
            footnote="†" if size == (720, 1280) else "",
            extra={"rig_build_s": build_s},
        )
        encode = [time_encode(frames, size) for _ in range(args.repeat)]
        add(f"encode_{tag}", f"H.264 encode {name} (libx264 veryfast crf 20)", encode)
        performance = Performance(character, fps=FPS, seed=args.seed)
        feed = SpeechFeed(agent_speech)
        performance.feed_audio(feed.next(), Role.AGENT)  # the lookahead
        performance.feed_audio(np.zeros(SAMPLE_RATE // FPS, np.float32), Role.USER)
        time_steps(performance, feed, 25)
        steps = [time_steps(performance, feed, args.frames) for _ in range(args.repeat)]
        add(f"step_{tag}", f"Performance step {name} (audio+behaviour+render)", steps)
        notes.append(f"rig build {name}: {build_s:.2f} s (from_photo, dlib detection included)")
    notes.append(
        "render/encode/step CPU ms/frame (process time; wall time above is higher when "
        "something else shares the core): " + ", ".join(cpu_notes)
    )
    notes.append("† no target was set for 720×1280; the 1280×720 one is used (same pixel count)")
    return results


# --- background ---------------------------------------------------------------------------

BACKGROUND_TARGET_PX = 0.5


def background_shift(character: Character, controls: FaceControls) -> tuple[float, float]:
    """Mean displacement (px) of the pixels outside the person mask: as drawn (the person
    warped over the still background), and with the whole canvas warped as one sheet (how
    frames were drawn before the person was separated)."""
    rig, renderer = character.rig, character.renderer
    if rig.person is None:
        raise SystemExit("this character has no person mask")
    map_x, map_y, alpha = renderer.maps(controls)
    h, w = map_x.shape
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    moved = np.hypot(map_x - xs, map_y - ys)
    outside = rig.person < 0.05
    shown = moved * (alpha if alpha is not None else 1.0)
    return float(shown[outside].mean()), float(moved[outside].mean())


def look_left(character: Character, seed: int) -> FaceControls:
    """The most turned frame of 4 s of an idle performance told "look to the left"."""
    performance = Performance(character, fps=FPS, seed=seed)
    performance.instruct("look to the left")
    frames = list(performance.frames(4 * FPS))
    return max(frames, key=lambda f: abs(f.controls.yaw)).controls


def bench_background(args: argparse.Namespace, photo: np.ndarray, notes: list[str]) -> list[Result]:
    results: list[Result] = []
    for size in SIZES[:2]:
        name, tag = size_name(size), f"{size[0]}x{size[1]}"
        character = Character.from_photo(photo, size=size)
        poses = {
            "yaw -0.3": FaceControls(yaw=-0.3),
            "yaw +0.3": FaceControls(yaw=0.3),
            '"look to the left"': look_left(character, args.seed),
        }
        for label, controls in poses.items():
            shown, sheet = background_shift(character, controls)
            key = "background_" + tag + "_" + label.strip('"').replace(" ", "_")
            progress(f"background {name} {label}: {shown:.3f} px (one sheet: {sheet:.2f} px)")
            results.append(
                Result(
                    key,
                    f"background shift outside the person, {name}, {label}",
                    "px",
                    shown,
                    [shown],
                    high=BACKGROUND_TARGET_PX,
                    extra={"one_sheet_px": sheet, "yaw": controls.yaw},
                )
            )
            notes.append(
                f"background {name} {label} (yaw {controls.yaw:+.2f}): {shown:.3f} px; "
                f"warped as one sheet (before the person was separated) {sheet:.2f} px"
            )
    return results


# --- eyes ---------------------------------------------------------------------------------

EYES = (slice(36, 42), slice(42, 48))


def iris_mask(
    frame: np.ndarray, opening: np.ndarray, window: tuple[int, int, int, int]
) -> np.ndarray:
    """The iris (and pupil) as the frame shows it inside the photo's eye opening, 2 px from
    the lids: the pixels darker than halfway between the opening's darkest and brightest."""
    x0, y0, x1, y1 = window
    grey = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32)
    # Away from the lids: their lashes are as dark as the iris and do not move with it.
    inside = cv2.erode(opening, np.ones((5, 5), np.uint8)) > 0
    light, dark = np.percentile(grey[inside], 92), np.percentile(grey[inside], 8)
    mask: np.ndarray = inside & (grey < 0.5 * (light + dark))
    return mask


def find_iris(rest: np.ndarray, frame: np.ndarray, points: np.ndarray) -> float:
    """How far (px, across) the iris of ``rest`` went in ``frame``: the middle of the iris
    (its catchlight clipped to the iris's own brightness: a reflection, it need not follow)
    searched for along the eye, best normalised correlation."""
    width = float(np.linalg.norm(points[3] - points[0]))
    x0, y0 = np.floor(points.min(0)).astype(int)
    x1, y1 = np.ceil(points.max(0)).astype(int)
    opening = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(opening, [np.round(points - (x0, y0)).astype(np.int32)], 1)
    cy, cx = np.argwhere(iris_mask(rest, opening, (x0, y0, x1, y1))).mean(0)
    cx, cy = cx + x0, cy + y0
    half_w, half_h = round(0.17 * width), max(2, round(0.08 * width))
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in (rest, frame)]
    tx, ty, reach = round(cx), round(cy), round(0.4 * width)
    template = grey[0][ty - half_h : ty + half_h + 1, tx - half_w : tx + half_w + 1]
    area = grey[1][ty - half_h : ty + half_h + 1, tx - half_w - reach : tx + half_w + reach + 1]
    ceiling = float(np.percentile(template, 75))
    scores = cv2.matchTemplate(
        np.minimum(area, ceiling), np.minimum(template, ceiling), cv2.TM_CCOEFF_NORMED
    )
    return float(cv2.minMaxLoc(scores)[3][0] - reach)


def diff_of(a: np.ndarray, b: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    """Mean abs difference over the channels, inside ``window``."""
    x0, y0, x1, y1 = window
    diff: np.ndarray = np.abs(a[y0:y1, x0:x1].astype(float) - b[y0:y1, x0:x1].astype(float))
    return diff.mean(axis=2)


def disc_moved_whole(rest: np.ndarray, frame: np.ndarray, points: np.ndarray) -> float:
    """The drawn face's iris (a dark disc) in ``frame`` shifted back over the one in ``rest``:
    intersection over union (1: the same disc, moved; a warp shears it)."""
    x0, y0 = np.floor(points.min(0) - 6).astype(int)
    x1, y1 = np.ceil(points.max(0) + 6).astype(int)
    before, after = (cv2.cvtColor(f[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY) < 90 for f in (rest, frame))
    shift = np.argwhere(after)[:, 1].mean() - np.argwhere(before)[:, 1].mean()
    back = np.roll(after, -round(shift), axis=1)
    return float((back & before).sum() / max(1, (back | before).sum()))


def bench_eyes(args: argparse.Namespace, photo: np.ndarray, notes: list[str]) -> list[Result]:
    """A full glance (gaze x ±1), on the photo: how far the iris moves (eye widths) and how
    much the eye round it changes (mean abs grey difference outside the opening); on the drawn
    face (its iris a plain disc, no catchlight): whether the iris moves whole. A blink: dlib's
    eye opening shut against open, on the photo."""
    image, marks = drawn_face()
    drawn = Character.from_photo(image, landmarks=json.dumps(marks.tolist()))
    shifts, wholes, around_eye, sclera = [], [], [], []
    for character in (Character.from_photo(photo), drawn):
        rig, renderer = character.rig, character.renderer
        rest = renderer.render(FaceControls())
        for eye in EYES:
            points = rig.landmarks[eye]
            width = float(np.linalg.norm(points[3] - points[0]))
            x0, y0 = np.floor(points.min(0) - 0.15 * rig.interocular).astype(int)
            x1, y1 = np.ceil(points.max(0) + 0.15 * rig.interocular).astype(int)
            opening = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.fillPoly(opening, [np.round(points - (x0, y0)).astype(np.int32)], 1)
            around = cv2.dilate(opening, np.ones((5, 5), np.uint8)) == 0
            for gaze in (-1.0, 1.0):
                frame = renderer.render(FaceControls(gaze_x=gaze))
                if character is drawn:
                    wholes.append(disc_moved_whole(rest, frame, points))
                    continue
                shifts.append(abs(find_iris(rest, frame, points)) / width)
                # The white of the eye, iris in neither frame (nor next to it): a glance that
                # warps the eye stretches it; one that slides the iris leaves it be.
                irises = iris_mask(rest, opening, (x0, y0, x1, y1)) | iris_mask(
                    frame, opening, (x0, y0, x1, y1)
                )
                white = (cv2.erode(opening, np.ones((5, 5), np.uint8)) > 0) & (
                    cv2.dilate(irises.astype(np.uint8), np.ones((5, 5), np.uint8)) == 0
                )
                sclera.append(float(diff_of(rest, frame, (x0, y0, x1, y1))[white].mean()))
                around_eye.append(float(diff_of(rest, frame, (x0, y0, x1, y1))[around].mean()))

    def openness(frame: np.ndarray) -> float:
        m = faces.find_face(frame).landmarks
        return float(np.linalg.norm(m[[37, 38, 43, 44]] - m[[41, 40, 47, 46]], axis=1).mean())

    renderer = Character.from_photo(photo).renderer
    shut = openness(renderer.render(FaceControls(blink=1.0))) / openness(
        renderer.render(FaceControls())
    )
    rows = [
        (
            "eyes_glance_shift",
            "eyes: iris moved by a full glance (eye widths)",
            "x",
            shifts,
            0.15,
            None,
        ),
        (
            "eyes_glance_whole",
            "eyes: drawn iris moved whole (IoU shifted back)",
            "",
            wholes,
            0.7,
            None,
        ),
        (
            "eyes_glance_around",
            "eyes: change round the eye on a glance (grey levels)",
            "",
            around_eye,
            None,
            1.0,
        ),
        (
            "eyes_glance_sclera",
            "eyes: change of the eye's white on a glance (grey levels)",
            "",
            sclera,
            None,
            3.0,
        ),
        ("eyes_blink_shut", "eyes: dlib eye opening, blink 1 / open", "x", [shut], None, 0.5),
    ]
    results = []
    for key, label, unit, values, low, high in rows:
        value = float(statistics.median(values))
        progress(f"{label}: {value:.3f}")
        results.append(Result(key, label, unit, value, values, low=low, high=high))
    notes.append(
        f"eyes 512²: glance shift {statistics.median(shifts):.3f} eye widths, drawn iris IoU "
        f"{statistics.median(wholes):.2f}, change round the eye "
        f"{statistics.median(around_eye):.2f} grey levels, of its white "
        f"{statistics.median(sclera):.2f}; blink 1 / open (dlib) {shut:.2f}"
    )
    return results


def drawn_face(size: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """The contact sheet's cartoon face: a picture and its exact 68 landmarks."""
    from contact_sheet import drawn_face as drawn  # bench/contact_sheet.py

    return drawn(size)


# --- live ---------------------------------------------------------------------------------


class ProbedPerformance(Performance):
    """A Performance that notes the frames rendered before their audio was analysed (the live
    loop ran out of patience): those frames did not show the chunk they cover. Only the public
    ``ready()``, ``index`` and ``next_frame()`` are used; a feed racing the check counts the
    frame as missed."""

    def __init__(self, character: Character, **kwargs: Any) -> None:
        super().__init__(character, **kwargs)
        self.without_audio: set[int] = set()

    def next_frame(self) -> Frame:
        if not self.ready():
            self.without_audio.add(self.index)
        frame: Frame = super().next_frame()
        return frame


@dataclass(slots=True)
class Feed:
    wall: float  # time.monotonic() just before feed_audio
    start: int  # the chunk's first sample on the performance's timeline
    rms: float
    took: float  # seconds inside feed_audio


def live_run(character: Character, signal: np.ndarray, seed: int) -> dict[str, Any]:
    """Feed ``signal`` in real time in 20 ms chunks while ``live()`` runs in a thread, then
    300 ms of silence (the stream goes on: the last words' frames get their lookahead). Only the
    chunks of ``signal`` are measured."""
    performance = ProbedPerformance(character, fps=FPS, seed=seed)
    shown: dict[int, float] = {}
    stop = threading.Event()

    def consume() -> None:
        for frame in performance.live(clock=time.monotonic, sleep=time.sleep, stop=stop):
            shown[frame.index] = time.monotonic()

    thread = threading.Thread(target=consume, name="live", daemon=True)
    thread.start()
    time.sleep(0.5)  # idle frames first, as a session would start
    chunk = round(CHUNK_S * SAMPLE_RATE)
    feeds: list[Feed] = []
    track = performance.tracks[Role.AGENT]
    measured = len(signal) // chunk
    signal = np.concatenate([signal[: measured * chunk], np.zeros(round(0.3 * SAMPLE_RATE))])
    signal = signal.astype(np.float32)
    begin = time.monotonic()
    for k in range(len(signal) // chunk):
        due = begin + (k + 1) * CHUNK_S  # the chunk is complete, as a microphone delivers it
        wait = due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        piece = signal[k * chunk : (k + 1) * chunk]
        wall = time.monotonic()
        performance.feed_audio(piece, Role.AGENT)
        took = time.monotonic() - wall
        # Only this thread feeds the agent track, so its sample count is ours to read.
        feeds.append(
            Feed(wall, track.samples - len(piece), float(np.sqrt(np.mean(piece**2))), took)
        )
    feeds = feeds[:measured]
    last = feeds[-1].start // (SAMPLE_RATE // FPS)
    deadline = time.monotonic() + 2.0
    while max(shown, default=-1) < last + 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(timeout=2.0)

    per_frame = SAMPLE_RATE // FPS
    latencies, onsets, missed = [], [], 0
    quiet_run = 0
    for feed in feeds:
        onset = feed.rms > 0.02 and quiet_run >= 10  # voice after >= 200 ms of quiet
        quiet_run = quiet_run + 1 if feed.rms < 0.01 else 0
        j = feed.start // per_frame
        if j in performance.without_audio or j not in shown:
            missed += 1
            continue
        latency = (shown[j] - feed.wall) * 1e3
        latencies.append(latency)
        if onset:
            onsets.append(latency)
    intervals = np.diff([shown[i] for i in sorted(shown)]) * 1e3
    return {
        "latencies": latencies,
        "onsets": onsets,
        "missed": missed,
        "chunks": len(feeds),
        "frames_without_audio": len(performance.without_audio),
        "feed_ms": [f.took * 1e3 for f in feeds],
        "frame_interval_p95_ms": percentile(list(intervals), 95),
        "frame_interval_max_ms": float(intervals.max()) if len(intervals) else math.nan,
    }


def bench_live(
    args: argparse.Namespace,
    photo: np.ndarray,
    agent_clips: Sequence[np.ndarray],
    notes: list[str],
) -> list[Result]:
    results: list[Result] = []
    rng = np.random.default_rng(args.seed + 7)
    signal = join_clips(agent_clips, args.live_seconds, rng, (0.3, 0.9))
    for size in ((512, 512), (1280, 720)):
        name = size_name(size)
        character = Character.from_photo(photo, size=size)
        character.renderer.render(FaceControls())
        progress(f"live {name}: feeding {args.live_seconds:.0f} s of speech in real time")
        run = live_run(character, signal, args.seed)
        lat, onsets = run["latencies"], run["onsets"]
        key = f"live_{size[0]}x{size[1]}"
        progress(
            f"live {name}: p50 {percentile(lat, 50):.1f} ms, p95 {percentile(lat, 95):.1f} ms, "
            f"max {max(lat, default=math.nan):.1f} ms, {run['missed']} chunks missed"
        )
        results += [
            Result(
                f"{key}_p50",
                f"live feed->frame {name}, p50 (every chunk)",
                "ms",
                percentile(lat, 50),
                lat,
                extra={
                    "feed_ms_p50": percentile(run["feed_ms"], 50),
                    "frame_interval_p95_ms": run["frame_interval_p95_ms"],
                },
            ),
            Result(
                f"{key}_p95",
                f"live feed->frame {name}, p95 (every chunk)",
                "ms",
                percentile(lat, 95),
                lat,
                high=LIVE_P95_TARGET_MS,
            ),
            Result(
                f"{key}_max",
                f"live feed->frame {name}, max (every chunk)",
                "ms",
                max(lat, default=math.nan),
                lat,
            ),
            Result(
                f"{key}_onset_p95",
                f"live feed->frame {name}, p95 (voice onsets)",
                "ms",
                percentile(onsets, 95),
                onsets,
                high=LIVE_P95_TARGET_MS,
            ),
            Result(
                f"{key}_missed",
                f"live chunks whose frame showed no audio {name}",
                "n",
                float(run["missed"]),
                [float(run["missed"])],
                high=0.0,
                extra={"chunks": run["chunks"]},
            ),
        ]
        notes.append(
            f"live {name}: {run['chunks']} chunks of 20 ms ({len(onsets)} voice onsets); "
            f"feed_audio itself p50 {percentile(run['feed_ms'], 50):.2f} ms, "
            f"p95 {percentile(run['feed_ms'], 95):.2f} ms; frame interval p95 "
            f"{run['frame_interval_p95_ms']:.1f} ms, max {run['frame_interval_max_ms']:.1f} ms; "
            f"{run['frames_without_audio']} frames rendered without their agent audio"
        )
    return results


# --- session ------------------------------------------------------------------------------


class Script:
    """Who speaks when: stretches of speaking, listening and idle from a seeded generator,
    served 40 ms at a time for each voice (both 'microphones' always stream)."""

    KINDS = ("speaking", "listening", "idle")
    WEIGHTS = (0.4, 0.35, 0.25)
    SECONDS: ClassVar[dict[str, tuple[float, float]]] = {
        "speaking": (6.0, 25.0),
        "listening": (5.0, 20.0),
        "idle": (3.0, 15.0),
    }

    def __init__(self, agent: Sequence[np.ndarray], user: Sequence[np.ndarray], seed: int) -> None:
        self.agent_clips, self.user_clips = agent, user
        self.rng = np.random.default_rng(seed)
        self.step = SAMPLE_RATE // FPS
        self.kind = "idle"
        self.agent = self.user = np.zeros(0, np.float32)
        self.at = 0

    def _next_segment(self) -> None:
        rng = self.rng
        self.kind = self.KINDS[int(rng.choice(3, p=self.WEIGHTS))]
        seconds = float(rng.uniform(*self.SECONDS[self.kind]))
        quiet = np.zeros(round(seconds * SAMPLE_RATE), np.float32)
        self.agent = self.user = quiet
        if self.kind == "speaking":
            self.agent = join_clips(self.agent_clips, seconds, rng, (0.3, 1.5))
        elif self.kind == "listening":
            self.user = join_clips(self.user_clips, seconds, rng, (0.3, 1.5))
        self.at = 0

    def chunk(self) -> tuple[np.ndarray, np.ndarray]:
        if self.at + self.step > len(self.agent):
            self._next_segment()
        a = self.agent[self.at : self.at + self.step]
        u = self.user[self.at : self.at + self.step]
        self.at += self.step
        return a, u


def eye_aspect_ratio(marks: np.ndarray) -> float:
    def one(p: np.ndarray) -> float:
        vertical = np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])
        return float(vertical / (2.0 * np.linalg.norm(p[0] - p[3])))

    return (one(marks[36:42]) + one(marks[42:48])) / 2


def count_blinks(ear: np.ndarray) -> int:
    """Closures: the eye aspect ratio falls below 60% of the minute's median after having been
    above 80% of it."""
    base = float(np.median(ear))
    armed, count = True, 0
    for value in ear:
        if armed and value < 0.6 * base:
            count += 1
            armed = False
        elif value > 0.8 * base:
            armed = True
    return count


def yaw_degrees(marks: np.ndarray, width: int, height: int) -> float:
    rotation, _ = cv2.Rodrigues(fit_head(marks, width, height).rotation)
    return float(np.degrees(math.atan2(rotation[0, 2], rotation[2, 2])))


RIGID = np.array([27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45])  # nose and eye corners


class MinuteProbe:
    """Every frame of one sampled minute: dlib landmarks in a box found on its first frame."""

    def __init__(self, character: Character) -> None:
        self.character = character
        self.box: tuple[int, int, int, int] | None = None
        self.ear: list[float] = []
        self.nose: list[np.ndarray] = []
        self.yaw: list[float] = []
        self.control_yaw: list[float] = []
        self.rigid: list[float] = []
        self.everything: list[float] = []
        self.geometric: list[float] = []
        self.geometric_rigid: list[float] = []
        self.worst: tuple[float, int] = (0.0, -1)
        self._last: np.ndarray | None = None
        self._last_geometry: np.ndarray | None = None
        self.failed = False

    def add(self, frame: Frame) -> None:
        if self.failed:
            return
        if self.box is None:
            try:
                self.box = faces.find_face(frame.rgb).box
            except NoFaceError:
                self.failed = True
                return
        marks = faces.landmarks_in(frame.rgb, self.box)
        h, w = frame.rgb.shape[:2]
        self.ear.append(eye_aspect_ratio(marks))
        self.nose.append(marks[30])
        self.yaw.append(yaw_degrees(marks, w, h))
        self.control_yaw.append(math.degrees(frame.controls.yaw))
        geometry = self.character.renderer.deform(frame.controls)[:68]
        if self._last is not None and self._last_geometry is not None:
            motion = np.linalg.norm(marks - self._last, axis=1)
            self.rigid.append(float(motion[RIGID].max()))
            self.everything.append(float(motion.max()))
            moved = np.linalg.norm(geometry - self._last_geometry, axis=1)
            self.geometric.append(float(moved.max()))
            self.geometric_rigid.append(float(moved[RIGID].max()))
            if self.rigid[-1] > self.worst[0]:
                self.worst = (self.rigid[-1], frame.index)
        self._last, self._last_geometry = marks, geometry

    def summary(self) -> dict[str, Any]:
        if self.failed or not self.ear:
            return {"failed": True}
        nose = np.array(self.nose)
        return {
            "blinks": count_blinks(np.array(self.ear)),
            "ear_median": float(np.median(self.ear)),
            "nose_std_px": float(np.sqrt(nose.var(axis=0).sum())),
            "yaw_std_deg": float(np.std(self.yaw)),
            "control_yaw_std_deg": float(np.std(self.control_yaw)),
            "rigid": self.rigid,
            "all": self.everything,
            "geometric": self.geometric,
            "geometric_rigid": self.geometric_rigid,
            "worst_rigid": self.worst,
        }


def _window_ratio(values: Sequence[float], k: int) -> float:
    """The median of the last ``k`` values over the median of the first ``k``."""
    return statistics.median(values[-k:]) / statistics.median(values[:k])


def sampled_minutes(minutes: int) -> set[int]:
    """Minutes (1-based) analysed on every frame: the first, the last and every tenth."""
    return {1, minutes} | set(range(10, minutes + 1, 10))


def bench_session(
    args: argparse.Namespace,
    photo: np.ndarray,
    agent_clips: Sequence[np.ndarray],
    user_clips: Sequence[np.ndarray],
    notes: list[str],
    series: dict[str, Any],
) -> list[Result]:
    minutes = args.minutes
    size = (512, 512)
    character = Character.from_photo(photo, size=size)
    source = faces.descriptor(photo, faces.find_face(photo))  # loads every dlib model now
    rig = character.rig
    photo_jaw = rig.lip_gap / (0.55 * rig.interocular)
    anchors = {
        "framed photo (no warp)": rig.canvas,
        "render, controls all 0": character.renderer.render(FaceControls()),
        f"render, the photo's own jaw {photo_jaw:.2f}": character.renderer.render(
            FaceControls(jaw_open=photo_jaw)
        ),
    }
    anchor_text = ", ".join(
        f"{name} {np.linalg.norm(faces.descriptor(img, faces.find_face(img)) - source):.3f}"
        for name, img in anchors.items()
    )
    performance = Performance(character, fps=FPS, seed=args.seed)
    script = Script(agent_clips, user_clips, args.seed + 11)
    per_minute = 60 * FPS
    total = minutes * per_minute
    every = min(3.0, minutes / 6)  # minutes between instructions
    cues = [
        (round((0.5 + k * every) * per_minute), INSTRUCTIONS[k % len(INSTRUCTIONS)])
        for k in range(int((minutes - 0.5) / every) + 1)
        if (0.5 + k * every) < minutes
    ]
    chosen = sampled_minutes(minutes)
    progress(
        f"session: {minutes} min of timeline ({total:,} frames) at {size_name(size)}, "
        f"{len(cues)} instructions, landmarks on every frame of minutes {sorted(chosen)}"
    )

    a, u = script.chunk()
    performance.feed_audio(a, Role.AGENT)  # one frame ahead: the analyser's lookahead
    performance.feed_audio(u, Role.USER)
    step_ms: list[float] = []
    step_cpu = 0.0
    minute_cpu: list[float] = []
    minute_median: list[float] = []
    minute_mean: list[float] = []
    rss: list[float] = []
    distances: list[float | None] = []
    blinks_true: list[int] = []
    states: list[dict[str, int]] = []
    probes: dict[int, dict[str, Any]] = {}
    not_ready = 0
    count = {s.value: 0 for s in State}
    blinks_before = 0
    probe: MinuteProbe | None = None
    started = time.perf_counter()
    for i in range(total):
        minute = i // per_minute + 1
        if i % per_minute == 0:
            probe = MinuteProbe(character) if minute in chosen else None
        while cues and cues[0][0] <= i:
            performance.instruct(cues.pop(0)[1])
        a, u = script.chunk()
        t0, c0 = time.perf_counter(), time.process_time()
        performance.feed_audio(a, Role.AGENT)
        performance.feed_audio(u, Role.USER)
        not_ready += not performance.ready()
        frame = performance.next_frame()
        step_ms.append((time.perf_counter() - t0) * 1e3)
        step_cpu += time.process_time() - c0
        count[frame.state.value] += 1
        if probe is not None:
            probe.add(frame)
        if i % per_minute == per_minute // 2:
            try:
                found = faces.find_face(frame.rgb)
                distances.append(float(np.linalg.norm(faces.descriptor(frame.rgb, found) - source)))
            except NoFaceError:
                distances.append(None)
        if (i + 1) % per_minute == 0:
            minute_median.append(statistics.median(step_ms))
            minute_mean.append(statistics.fmean(step_ms))
            minute_cpu.append(step_cpu * 1e3 / per_minute)
            step_ms, step_cpu = [], 0.0
            rss.append(rss_mib())
            blinks = performance.behaviour.blinks_started
            blinks_true.append(blinks - blinks_before)
            blinks_before = blinks
            states.append(count)
            count = {s.value: 0 for s in State}
            if probe is not None:
                probes[minute] = probe.summary()
            elapsed = time.perf_counter() - started
            if minute in chosen or minute % 5 == 0:
                d = distances[-1]
                progress(
                    f"  minute {minute}/{minutes}: {minute_median[-1]:.2f} ms/frame, "
                    f"RSS {rss[-1]:.1f} MiB, distance "
                    f"{'no face' if d is None else f'{d:.3f}'}, "
                    f"{elapsed / minute * (minutes - minute) / 60:.1f} min left"
                )
    found_d = [d for d in distances if d is not None]
    no_face = sum(d is None for d in distances)
    growth = (rss[-1] - rss[0]) / rss[0] * 100
    hours = np.arange(1, minutes + 1) / 60
    slope = float(np.polyfit(hours, minute_median, 1)[0]) if minutes > 1 else 0.0
    ratio = minute_median[-1] / minute_median[0]
    cpu_slope = float(np.polyfit(hours, minute_cpu, 1)[0]) if minutes > 1 else 0.0
    window = min(5, max(1, minutes // 3))  # minutes at each end, for a steadier ratio

    analysed = {m: s for m, s in probes.items() if not s.get("failed")}
    measured = [float(s["blinks"]) for s in analysed.values()]
    true_in_analysed = [float(blinks_true[m - 1]) for m in analysed]
    rigid = [x for s in analysed.values() for x in s["rigid"]]
    everything = [x for s in analysed.values() for x in s["all"]]
    geometric = [x for s in analysed.values() for x in s["geometric"]]
    geometric_rigid = [x for s in analysed.values() for x in s["geometric_rigid"]]
    nose = [float(s["nose_std_px"]) for s in analysed.values()]
    yaw = [float(s["yaw_std_deg"]) for s in analysed.values()]
    worst = max((s["worst_rigid"] for s in analysed.values()), default=(math.nan, -1))
    rate = sum(measured) / len(measured) if measured else math.nan
    label = f"{minutes}-min session"
    results = [
        Result(
            "session_distance_median",
            f"{label}: descriptor distance to photo, median",
            "",
            statistics.median(found_d) if found_d else math.nan,
            found_d,
            high=DISTANCE_MEDIAN_TARGET,
        ),
        Result(
            "session_distance_max",
            f"{label}: descriptor distance to photo, max",
            "",
            max(found_d) if found_d else math.nan,
            found_d,
            high=DISTANCE_MAX_TARGET,
        ),
        Result(
            "session_no_face",
            f"{label}: sampled frames with no face found",
            "n",
            float(no_face),
            [float(no_face)],
            high=0.0,
        ),
        Result(
            "session_rss_growth",
            f"{label}: RSS growth, minute 1 -> {minutes}",
            "%",
            growth,
            [growth],
            high=RSS_GROWTH_TARGET,
            extra={"rss_first_mib": rss[0], "rss_last_mib": rss[-1]},
        ),
        Result(
            "session_ms_first",
            f"{label}: step ms/frame, minute 1 (median)",
            "ms",
            minute_median[0],
            [minute_median[0]],
        ),
        Result(
            "session_ms_last",
            f"{label}: step ms/frame, minute {minutes} (median)",
            "ms",
            minute_median[-1],
            [minute_median[-1]],
        ),
        Result(
            "session_ms_ratio",
            f"{label}: ms/frame last/first minute",
            "x",
            ratio,
            [m / minute_median[0] for m in minute_median],
            high=FLAT_RATIO_TARGET,
            footnote="‡",
            extra={"slope_ms_per_hour": slope},
        ),
        Result(
            "session_cpu_ratio",
            f"{label}: CPU ms/frame last/first minute",
            "x",
            minute_cpu[-1] / minute_cpu[0],
            [m / minute_cpu[0] for m in minute_cpu],
            high=FLAT_RATIO_TARGET,
            footnote="‡",
            extra={"slope_ms_per_hour": cpu_slope},
        ),
        Result(
            "session_blinks",
            f"{label}: blinks/min by eye aspect ratio",
            "/min",
            rate,
            measured,
            low=BLINKS_PER_MINUTE[0],
            high=BLINKS_PER_MINUTE[1],
            extra={"behaviour_blinks": true_in_analysed},
        ),
        Result(
            "session_nose_std",
            f"{label}: nose-tip std over a minute (median)",
            "px",
            statistics.median(nose) if nose else math.nan,
            nose,
            low=NOSE_STD_MIN_PX,
            footnote="‡",
        ),
        Result(
            "session_yaw_std",
            f"{label}: solvePnP yaw std over a minute (median)",
            "deg",
            statistics.median(yaw) if yaw else math.nan,
            yaw,
        ),
        Result(
            "session_pop_rigid_p99",
            f"{label}: head landmark motion/frame, p99",
            "px",
            percentile(rigid, 99),
            [max(rigid, default=math.nan)],
        ),
        Result(
            "session_pop_rigid_max",
            f"{label}: head landmark motion/frame, max",
            "px",
            max(rigid, default=math.nan),
            [max(rigid, default=math.nan)],
            extra={"frame": worst[1]},
        ),
        Result(
            "session_pop_all_p99",
            f"{label}: any landmark motion/frame, p99",
            "px",
            percentile(everything, 99),
            [max(everything, default=math.nan)],
        ),
        Result(
            "session_pop_all_max",
            f"{label}: any landmark motion/frame, max",
            "px",
            max(everything, default=math.nan),
            [max(everything, default=math.nan)],
        ),
    ]
    notes += [
        f"session: {minutes} min of timeline, {total:,} frames at 512², as fast as possible; "
        f"took {(time.perf_counter() - started) / 60:.1f} min with the analysis",
        f"session ms/frame: slope {slope:+.3f} ms per hour of timeline (per-minute medians); "
        f"mean of the minute means {statistics.fmean(minute_mean):.2f} ms; CPU (process "
        f"time, mean per minute) {minute_cpu[0]:.2f} ms in minute 1, {minute_cpu[-1]:.2f} ms "
        f"in minute {minutes}, slope {cpu_slope:+.3f} ms per hour; last/first {window} "
        f"minutes (medians of the minutes): wall {_window_ratio(minute_median, window):.3f}, "
        f"CPU {_window_ratio(minute_cpu, window):.3f}",
        f"session RSS: {rss[0]:.1f} MiB after minute 1, {rss[-1]:.1f} MiB after minute "
        f"{minutes}, max {max(rss):.1f} MiB",
        f"session blinks: EAR-measured {sum(measured):.0f} vs behaviour's own "
        f"{sum(true_in_analysed):.0f} in {len(measured)} analysed minutes; "
        f"per minute {', '.join(f'{b:.0f}' for b in measured)}",
        f"session pops: rig geometry (all 68 points, no dlib noise) p99 "
        f"{percentile(geometric, 99):.2f} px, max {max(geometric, default=math.nan):.2f} px; "
        f"head points (rig) p99 {percentile(geometric_rigid, 99):.2f} px, "
        f"max {max(geometric_rigid, default=math.nan):.2f} px; "
        f"worst head jump {worst[0]:.2f} px at frame {worst[1]}",
        f"session descriptor distance of fixed frames to the photo: {anchor_text}",
        f"session instructions every {every:g} min from minute 0.5: " + ", ".join(INSTRUCTIONS),
        f"session frames whose audio was not analysed yet: {not_ready}",
        "‡ targets chosen here: 'flat' as last/first <= 1.10, 'not frozen' as nose std >= 0.5 px",
    ]
    totals = {s.value: sum(st[s.value] for st in states) for s in State}
    notes.append(
        "session states: " + ", ".join(f"{k} {v / total * 100:.0f}%" for k, v in totals.items())
    )
    series.update(
        {
            "minute_ms_median": minute_median,
            "minute_ms_mean": minute_mean,
            "minute_cpu_ms_mean": minute_cpu,
            "rss_mib": rss,
            "distance": distances,
            "behaviour_blinks": blinks_true,
            "states": states,
            "analysed_minutes": {
                str(m): {
                    k: v
                    for k, v in s.items()
                    if k not in ("rigid", "all", "geometric", "geometric_rigid")
                }
                for m, s in probes.items()
            },
        }
    )
    return results


# --- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark the portrait performer: rendering, live latency, a long session."
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3-minute session, 3 runs of 50 frames, 8 s of live speech",
    )
    parser.add_argument("--minutes", type=int, help="session length (default 45; --quick: 3)")
    parser.add_argument("--repeat", type=int, help="runs of each render figure (default 5)")
    parser.add_argument("--frames", type=int, help="frames per render run (default 100)")
    parser.add_argument(
        "--live-seconds",
        type=float,
        help="seconds of speech fed live at each size (default 20; --quick: 8)",
    )
    parser.add_argument(
        "--only",
        default="render,background,eyes,live,session",
        help="comma-separated parts to run (render, background, eyes, live, session)",
    )
    parser.add_argument(
        "--photo", type=Path, help="portrait to animate (default: scikit-image's astronaut)"
    )
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin to (default 0; -1: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a target is missed")
    args = parser.parse_args(argv)
    args.parts = {p.strip() for p in args.only.split(",") if p.strip()}
    if unknown := args.parts - {"render", "background", "eyes", "live", "session"}:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    if args.minutes is None:
        args.minutes = 3 if args.quick else 45
    if args.repeat is None:
        args.repeat = 3 if args.quick else 5
    if args.frames is None:
        args.frames = 50 if args.quick else 100
    if args.live_seconds is None:
        args.live_seconds = 8.0 if args.quick else 20.0
    for name in ("minutes", "repeat", "frames"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if args.frames < 10:
        parser.error("--frames must be at least 10")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    pinned = pin(None if args.cpu < 0 else args.cpu)
    info = machine_info(pinned)
    photo = load_image(args.photo) if args.photo else astronaut()
    info["photo"] = f"{args.photo or 'skimage astronaut'} ({photo.shape[1]}×{photo.shape[0]})"
    width = max(map(len, info))
    print("lpm-guard generator benchmark")
    for key, value in info.items():
        print(f"  {key.ljust(width)}  {value}")
    print(
        f"  {'runs'.ljust(width)}  repeat={args.repeat} x {args.frames} frames, "
        f"live {args.live_seconds:g} s, session {args.minutes} min, parts {args.only}"
    )
    print(flush=True)

    with tempfile.TemporaryDirectory(prefix="lpm-bench-speech-") as folder:
        agent_clips = speech(AGENT_LINES, "slt", Path(folder))
        user_clips = speech(USER_LINES, "kal", Path(folder))
    agent_speech = np.concatenate(
        [np.concatenate([c, np.zeros(SAMPLE_RATE // 2, np.float32)]) for c in agent_clips]
    )
    notes: list[str] = []
    series: dict[str, Any] = {}
    results: list[Result] = []
    steps: list[tuple[str, Callable[[], list[Result]]]] = [
        ("render", lambda: bench_render(args, photo, agent_speech, notes)),
        ("background", lambda: bench_background(args, photo, notes)),
        ("eyes", lambda: bench_eyes(args, photo, notes)),
        ("live", lambda: bench_live(args, photo, agent_clips, notes)),
        ("session", lambda: bench_session(args, photo, agent_clips, user_clips, notes, series)),
    ]
    for name, run in steps:
        if name in args.parts:
            results += run()
    total = time.perf_counter() - started

    print(render_table(results))
    print()
    for note in notes:
        print(note)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average at the end {load} (this process counts for about 1)")
    print(f"total time {total:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "config": {
                        k: (str(v) if isinstance(v, Path) else v)
                        for k, v in vars(args).items()
                        if k != "parts"
                    },
                    "results": {r.key: r.to_json() for r in results},
                    "notes": notes,
                    "series": series,
                    "seconds": total,
                },
                indent=2,
                default=lambda o: o if not isinstance(o, np.generic) else o.item(),
            )
            + "\n",
            encoding="utf-8",
        )
    missed = [r.label for r in results if r.status == "MISS"]
    return 1 if missed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
