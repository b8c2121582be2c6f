"""What one frame's 68 landmarks say: head pose, how open the eyes are, how open the mouth is.

Angles are degrees in the camera's (unmirrored) image, with the generator's signs: positive
yaw turns the face towards the viewer's right (the subject's own left), positive pitch lowers
the chin (looking up is negative), positive roll tilts towards the viewer's right shoulder.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
import numpy.typing as npt

from ..landmarks import INNER_LIPS, LEFT_EYE, RIGHT_EYE, camera, mean_shape

Points = npt.NDArray[np.float64]

# The landmarks that belong to the skull: jaw line, brows, nose, eyes (not the mouth, which
# moves with speech).
RIGID = np.r_[0:48]


@dataclass(frozen=True, slots=True)
class Pose:
    yaw: float
    pitch: float
    roll: float


@cache
def _model() -> Points:
    # The mean shape's z points at the camera; the camera's z points away from it. Read on
    # first use, not at import.
    return np.asarray(mean_shape() * np.array([1.0, 1.0, -1.0]), dtype=np.float64)


def head_pose(landmarks: Points, width: int, height: int) -> Pose:
    """The head's rotation, from the generic 3-D face fitted to the landmarks (solvePnP)."""
    lens = camera(width, height)
    ok, rvec, _ = cv2.solvePnP(
        _model(), landmarks.astype(np.float64), lens, None, flags=cv2.SOLVEPNP_ITERATIVE
    )
    if not ok:  # pragma: no cover - solvePnP with 68 points does not fail in practice
        return Pose(float("nan"), float("nan"), float("nan"))
    rotation, _ = cv2.Rodrigues(rvec)
    forward = rotation @ np.array([0.0, 0.0, -1.0])  # where the face looks, camera axes
    yaw = np.degrees(np.arctan2(forward[0], -forward[2]))
    pitch = np.degrees(np.arctan2(forward[1], -forward[2]))
    eyes = landmarks[LEFT_EYE].mean(0) - landmarks[RIGHT_EYE].mean(0)
    roll = np.degrees(np.arctan2(eyes[1], eyes[0]))
    return Pose(float(yaw), float(pitch), float(roll))


def interocular(landmarks: Points) -> float:
    return float(np.linalg.norm(landmarks[LEFT_EYE].mean(0) - landmarks[RIGHT_EYE].mean(0)))


def eye_aspect_ratio(landmarks: Points) -> float:
    """Soukupová and Čech's EAR, both eyes averaged: about 0.3 open, under 0.15 closed."""
    ratios: list[float] = []
    for eye in (RIGHT_EYE, LEFT_EYE):
        p = landmarks[eye]
        height = float(np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4]))
        width = float(np.linalg.norm(p[0] - p[3]))
        ratios.append(height / (2.0 * width) if width > 0 else float("nan"))
    return sum(ratios) / len(ratios)


def mouth_opening(landmarks: Points) -> float:
    """The gap between the inner lips (three point pairs), in interocular distances."""
    inner = landmarks[INNER_LIPS]  # 60..67: 61-67, 62-66, 63-65 face each other
    gap = sum(float(np.linalg.norm(inner[a] - inner[b])) for a, b in ((1, 7), (2, 6), (3, 5))) / 3
    scale = interocular(landmarks)
    return float(gap / scale) if scale > 0 else float("nan")


def homography_residual(reference: Points, moved: Points) -> float:
    """How far the rigid landmarks are from following one plane's motion: fit a homography
    from ``reference`` to ``moved`` (least squares) and return the RMS residual in the
    reference's interocular distances. A photo moved, tilted or zoomed gives landmark jitter
    only; a head turning moves its nose against its cheeks."""
    src, dst = reference[RIGID], moved[RIGID]
    matrix, _ = cv2.findHomography(src, dst, 0)
    if matrix is None:
        return float("nan")
    ones = np.ones((len(src), 1))
    homogeneous = np.hstack([src, ones]) @ matrix.T
    projected = homogeneous[:, :2] / homogeneous[:, 2:3]
    rms = float(np.sqrt(np.mean(np.sum((projected - dst) ** 2, axis=1))))
    return rms / interocular(moved)
