"""The capture covers the script, shows one face, and the same person from start to end.

- ``too-short``: picture and sound both reach the end of the statement's window.
- ``one-face``: a face in at least 85 % of the sampled frames over the script, and never two
  in the once-a-second whole-frame scan.
- ``same-person``: dlib descriptors of five frontal frames all within 0.6 of one another, and
  each of up to three turned frames within 0.6 of its nearest frontal one (dlib's
  same-person distance; two people sit 0.6–0.95 apart). On the bona fide proxy (20 captures)
  the worst pair was 0.60 when turned frames were compared with each other (left against
  right), and is 0.31–0.49 so; two people spliced half and half fail (the test); and no cut:
  between consecutive sampled frames (≤ 0.25 s
  apart) the face's centre moves less than one interocular distance and its size changes less
  than 35 %. A fast head turn moves the face ~0.3 interocular distances in 0.1 s.
"""

from __future__ import annotations

import itertools

import numpy as np

from .results import CheckResult, result
from .script import Script
from .track import Recording

SLACK_S = 0.5  # the recorder may stop a little before the tail of the script
PRESENT_MIN = 0.85
DESCRIPTOR_MAX = 0.6
JUMP_MAX = 1.0  # interocular distances between consecutive sampled frames
SCALE_JUMP_MAX = 0.35
CONSECUTIVE_S = 0.25


def check_too_short(recording: Recording, script: Script) -> CheckResult:
    needed = script.steps[-1].end_s - SLACK_S if script.steps else 0.0
    covered = recording.duration_s
    return result(
        "too-short", covered >= needed, covered, needed,
        f"the capture covers {covered:.1f} s (picture {recording.video_s:.1f} s, sound "
        f"{recording.audio_s:.1f} s); the script needs {needed:.1f} s",
    )  # fmt: skip


def check_one_face(recording: Recording, script: Script) -> CheckResult:
    track = recording.track
    span = track.between(0.0, script.steps[-1].end_s if script.steps else recording.video_s)
    if not span.any():
        return result("one-face", False, 0.0, PRESENT_MIN, "no frame inside the script's time")
    share = float(track.present[span].mean())
    most = int(track.faces.max(initial=-1))
    several = int((track.faces > 1).sum())
    detail = (
        f"a face in {share:.0%} of {int(span.sum())} sampled frames; "
        f"at most {max(most, 0)} face(s) in the whole-frame scans"
    )
    if several:
        detail += f" ({several} scan(s) saw more than one face)"
    return result("one-face", share >= PRESENT_MIN and most <= 1, share, PRESENT_MIN, detail)


def check_same_person(recording: Recording) -> CheckResult:
    # (1): every pair of frontal descriptors, and each turned one to its nearest frontal one
    # (a head turned one way and then the other differs most from itself: 0.5-0.6).
    described = recording.descriptors
    frontal = [d for d in described if d.frontal] or list(described)
    turned = [d for d in described if not d.frontal]
    worst, worst_pair = 0.0, (0.0, 0.0)
    for a, b in itertools.combinations(frontal, 2):
        distance = float(np.linalg.norm(a.descriptor - b.descriptor))
        if distance > worst:
            worst, worst_pair = distance, (a.t, b.t)
    for a in turned:
        distance, b = min(
            ((float(np.linalg.norm(a.descriptor - b.descriptor)), b) for b in frontal),
            key=lambda pair: pair[0],
        )
        if distance > worst:
            worst, worst_pair = distance, (a.t, b.t)
    # (2): jumps of the face between consecutive frames (where both were detected).
    track = recording.track
    found = np.flatnonzero(track.found)
    jump, scale_jump, jump_at = 0.0, 0.0, 0.0
    for i, j in itertools.pairwise(found):
        if track.times[j] - track.times[i] > CONSECUTIVE_S:
            continue
        size = max(track.interocular[i], 1e-6)
        move = float(
            np.linalg.norm(np.nanmean(track.landmarks[j], 0) - np.nanmean(track.landmarks[i], 0))
        )
        ratio = abs(float(track.interocular[j]) / size - 1.0)
        if move / size > jump:
            jump, jump_at = move / size, float(track.times[j])
        scale_jump = max(scale_jump, ratio)
    problems = []
    if len(described) < 2:
        problems.append(f"only {len(described)} frame(s) could be described")
    if worst > DESCRIPTOR_MAX:
        problems.append(
            f"faces at {worst_pair[0]:.1f} s and {worst_pair[1]:.1f} s are {worst:.2f} apart"
        )
    if jump > JUMP_MAX:
        problems.append(f"the face jumps {jump:.2f} interocular distances at {jump_at:.1f} s")
    if scale_jump > SCALE_JUMP_MAX:
        problems.append(f"the face's size jumps by {scale_jump:.0%} between frames")
    detail = (
        f"{len(described)} descriptors, farthest pair {worst:.2f} (limit {DESCRIPTOR_MAX}); "
        f"largest jump {jump:.2f} interocular distances (limit {JUMP_MAX}), size "
        f"{scale_jump:.0%} (limit {SCALE_JUMP_MAX:.0%})"
    )
    if problems:
        detail = "; ".join(problems) + " — " + detail
    return result("same-person", not problems, worst, DESCRIPTOR_MAX, detail)
