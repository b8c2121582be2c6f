"""The head moves as the script asks, when it asks, and as a three-dimensional head does.

Poses are measured against the capture's own baseline: the median pose over the ``look``
windows (a camera above or below the face shifts every pitch alike).

- ``head-turns``: in each turn window (allowing ``LAG_S`` of reaction time after it) the head
  reaches the asked direction — 10° of yaw for left and right, 8° of pitch for up — and in
  the window's core it does not go strongly another way (another direction's peak under its own
  threshold or under half the asked peak). A recording made for another script turns the wrong
  way in some window; one that turns every way in every window fails the second rule.
- ``blinks``: in the blink window the eye aspect ratio of a frontal frame drops by at least a
  quarter of the capture's median, and by at least five times its frame-to-frame noise (robust
  deviation over the frontal frames elsewhere).
- ``three-d``: for the most turned frames of each turn window, a homography is fitted from the
  most frontal ``look`` frame's rigid landmarks (jaw, brows, nose, eyes) to theirs. A photo or a
  screen, however it is rotated, zoomed or tilted, follows one homography up to landmark
  jitter; a turning head does not (its nose moves against its cheeks). The score is the
  median over the turn windows of the RMS residual in interocular distances; at least two
  windows must turn enough (the head-turn thresholds) to be measured.

Measured on ``tests/consent/captures.py`` (640×480, 15 fps, VP8; bona fide proxy: 5 faces × 4
scripts, its head turning 25° and looking up 20°):

- head-turns (score: the weakest window's peak over its threshold, pass ≥ 1): bona fide
  1.25–2.17 (dlib's landmarks flatten turns: 25° reads as 13–22°, hence 10°, not 15°);
  static photo, printed photo tilted ±30° (solvePnP reads a foreshortened flat face as
  frontal), another script's recording, the generator on a fixed script: 0.02–0.10; the
  generator driven live: 0.48–0.63 (it barely pitches).
- blinks (drop of the eye aspect ratio): bona fide 0.18–0.62, one capture in 17 under the
  0.25 needed (a small face in a 15 fps video: the closed frame is short); static photo
  0.06–0.14, printed photo 0.09–0.28 (!), replay 0.05–0.15. Weak: spontaneous blinks and
  landmark jitter on small eyes overlap the asked blink; the other checks carry more weight.
- three-d (residual, pass ≥ 0.03): bona fide 0.107–0.155; a static or printed photo, a
  replay and the generator's fixed output 0.011–0.047 per window (median 0.012–0.021) — and
  they turn too little to be measured at all. The generator's own warp moves the landmarks
  as a 3-D mesh would: 0.07–0.08; it is stopped by head-turns, and flagged by ``rendered``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import geometry
from .results import CheckResult, result
from .script import Prompt, Script, Step
from .track import Bools, Floats, Track

LAG_S = 0.75
YAW_MIN = 10.0  # degrees
PITCH_MIN = 8.0
WRONG_SHARE = 0.5
BLINK_DROP = 0.25  # of the median eye aspect ratio
BLINK_NOISE = 3.0  # robust deviations
FRONTAL_YAW, FRONTAL_PITCH = 10.0, 8.0
RESIDUAL_MIN = 0.03  # interocular distances
MEASURED_FRAMES = 3
MEASURED_WINDOWS = 2

_THRESHOLDS = {Prompt.TURN_LEFT: YAW_MIN, Prompt.TURN_RIGHT: YAW_MIN, Prompt.LOOK_UP: PITCH_MIN}
_TURNS = tuple(_THRESHOLDS)


@dataclass(frozen=True, slots=True)
class Baseline:
    yaw: float
    pitch: float

    @classmethod
    def of(cls, track: Track, script: Script) -> Baseline | None:
        looking = np.zeros(len(track), dtype=np.bool_)
        for step in script.of(Prompt.LOOK):
            looking |= track.between(step.start_s + 0.3, step.end_s)
        looking &= np.isfinite(track.yaw)
        if looking.sum() < 3:
            looking = np.isfinite(track.yaw)
        if looking.sum() < 3:
            return None
        return cls(float(np.median(track.yaw[looking])), float(np.median(track.pitch[looking])))

    def toward(self, track: Track, prompt: Prompt) -> Floats:
        """How far each frame is turned in the prompt's direction (degrees, NaN without a face):
        the subject's left is the viewer's right (positive yaw); up is negative pitch."""
        if prompt == Prompt.TURN_LEFT:
            return np.asarray(track.yaw - self.yaw)
        if prompt == Prompt.TURN_RIGHT:
            return np.asarray(self.yaw - track.yaw)
        return np.asarray(self.pitch - track.pitch)


def _peak(values: Floats) -> tuple[float, int]:
    """The highest value a 3-frame running median reaches (one frame's glitch is not a turn),
    and where."""
    finite = np.flatnonzero(np.isfinite(values))
    if finite.size < 3:
        return float("nan"), -1
    v = values[finite]
    smooth = np.array([np.median(v[max(0, i - 1) : i + 2]) for i in range(len(v))])
    best = int(np.argmax(smooth))
    return float(smooth[best]), int(finite[best])


def check_head_turns(track: Track, script: Script) -> CheckResult:
    baseline = Baseline.of(track, script)
    turns = [step for step in script.steps if step.prompt in _THRESHOLDS]
    if baseline is None or not turns:
        return result("head-turns", False, 0.0, 1.0, "no head pose to measure")
    ratios, notes, problems = [], [], []
    for step in turns:
        wanted = _THRESHOLDS[step.prompt]
        window = track.between(step.start_s, step.end_s + LAG_S)
        core = track.between(step.start_s + LAG_S, step.end_s)
        peak, _ = _peak(np.where(window, baseline.toward(track, step.prompt), np.nan))
        peak = peak if np.isfinite(peak) else 0.0
        ratios.append(peak / wanted)
        note = f"{step.prompt} at {step.start_s:.1f}-{step.end_s:.1f} s: {peak:.0f}°"
        if peak < wanted:
            problems.append(f"{step.prompt} reached {peak:.0f}° of {wanted:.0f}°")
        for other in _TURNS:
            if other == step.prompt:
                continue
            away, _ = _peak(np.where(core, baseline.toward(track, other), np.nan))
            if np.isfinite(away) and away >= _THRESHOLDS[other] and away >= WRONG_SHARE * peak:
                problems.append(f"during {step.prompt} the head went {other} by {away:.0f}°")
                note += f" ({other} {away:.0f}°)"
        notes.append(note)
    score = float(min(ratios))
    detail = "; ".join(notes) + f" (baseline yaw {baseline.yaw:.0f}°, pitch {baseline.pitch:.0f}°)"
    if problems:
        detail = "; ".join(problems) + " — " + detail
    return result("head-turns", not problems, score, 1.0, detail)


def _frontal(track: Track, baseline: Baseline) -> Bools:
    return np.asarray(
        (np.abs(track.yaw - baseline.yaw) < FRONTAL_YAW)
        & (np.abs(track.pitch - baseline.pitch) < FRONTAL_PITCH)
        & track.found
    )


def check_blinks(track: Track, script: Script) -> CheckResult:
    baseline = Baseline.of(track, script)
    steps = script.of(Prompt.BLINK)
    if baseline is None or not steps:
        return result("blinks", False, 0.0, BLINK_DROP, "no eyes to measure")
    frontal = _frontal(track, baseline)
    asked = np.zeros(len(track), dtype=np.bool_)
    for step in steps:
        asked |= track.between(step.start_s, step.end_s + LAG_S)
    rest = frontal & ~asked
    if rest.sum() < 5 or not (frontal & asked).any():
        return result("blinks", False, 0.0, BLINK_DROP, "too few frontal frames to see the eyes")
    level = float(np.median(track.ear[rest]))
    noise = 1.4826 * float(np.median(np.abs(track.ear[rest] - level)))
    lowest = float(np.min(track.ear[frontal & asked]))
    drop = (level - lowest) / level if level > 0 else 0.0
    needed = max(BLINK_DROP, BLINK_NOISE * noise / level if level > 0 else 1.0)
    detail = (
        f"eye aspect ratio {level:.3f} at rest (noise {noise:.3f}); lowest {lowest:.3f} in the "
        f"blink window: a drop of {drop:.0%}, {needed:.0%} needed"
    )
    return result("blinks", drop >= needed, drop, needed, detail)


def _window_residual(
    track: Track, step: Step, baseline: Baseline, reference: int
) -> tuple[float, float]:
    """The window's residual (median over its most turned frames) and their smallest turn."""
    window = track.between(step.start_s, step.end_s + LAG_S) & track.found
    toward = np.where(window, baseline.toward(track, step.prompt), np.nan)
    order = [i for i in np.argsort(-np.nan_to_num(toward, nan=-1e9)) if window[i]]
    chosen = order[:MEASURED_FRAMES]
    if not chosen:
        return float("nan"), 0.0
    residuals = [
        geometry.homography_residual(track.landmarks[reference], track.landmarks[i]) for i in chosen
    ]
    return float(np.median(residuals)), float(min(toward[i] for i in chosen))


def check_three_d(track: Track, script: Script) -> CheckResult:
    baseline = Baseline.of(track, script)
    turns = [step for step in script.steps if step.prompt in _THRESHOLDS]
    if baseline is None or not turns:
        return result("three-d", False, 0.0, RESIDUAL_MIN, "no head pose to measure")
    # (1): the reference: the look frame nearest the baseline pose.
    looking = np.zeros(len(track), dtype=np.bool_)
    for step in script.of(Prompt.LOOK):
        looking |= track.between(step.start_s, step.end_s)
    candidates = np.flatnonzero(looking & track.found)
    if candidates.size == 0:
        return result("three-d", False, 0.0, RESIDUAL_MIN, "no frontal frame to compare with")
    distance = np.abs(track.yaw[candidates] - baseline.yaw) + np.abs(
        track.pitch[candidates] - baseline.pitch
    )
    reference = int(candidates[int(np.argmin(distance))])
    # (2): each turn window's residual at its largest turns, where the turn is measurable.
    measured, notes = [], []
    for step in turns:
        residual, turned = _window_residual(track, step, baseline, reference)
        big = turned >= _THRESHOLDS[step.prompt]
        notes.append(
            f"{step.prompt}: {residual:.3f} at {turned:.0f}°" + ("" if big else " (too small)")
        )
        if big and np.isfinite(residual):
            measured.append(residual)
    detail = "; ".join(notes)
    if len(measured) < MEASURED_WINDOWS:
        return result(
            "three-d", False, None, RESIDUAL_MIN,
            f"the head turned too little in {len(turns) - len(measured)} window(s) to measure "
            f"its depth — {detail}",
        )  # fmt: skip
    score = float(np.median(measured))
    detail = (
        f"residual from one plane's motion {score:.3f} interocular distances "
        f"(a flat picture stays near landmark jitter) — {detail}"
    )
    return result("three-d", score >= RESIDUAL_MIN, score, RESIDUAL_MIN, detail)
