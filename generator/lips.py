"""The inner lips of 68-point landmarks: how far apart they are, and their outline."""

from __future__ import annotations

import numpy as np

_UPPER_INNER, _LOWER_INNER = [61, 62, 63], [67, 66, 65]


def mouth_down(points: np.ndarray) -> np.ndarray:
    """The face's own vertical (unit vector from the eyes towards the chin) in 68-point
    landmarks."""
    across = points[42:48].mean(0) - points[36:42].mean(0)
    across = across / max(float(np.linalg.norm(across)), 1e-9)
    return np.array([-across[1], across[0]])


def lip_gaps(points: np.ndarray) -> np.ndarray:
    """The opening between the inner lips at 61/67, 62/66 and 63/65, in pixels, measured along
    the mouth's vertical and never below 0: dlib's inner-lip points of a closed mouth often
    cross (the lower one above the upper), and a crossing is a closed mouth, not a gap."""
    apart = (points[_LOWER_INNER] - points[_UPPER_INNER]) @ mouth_down(points)
    return np.maximum(apart, 0.0)


def lip_gap(points: np.ndarray) -> float:
    """The mean opening between the inner lips, in pixels (see :func:`lip_gaps`)."""
    return float(np.mean(lip_gaps(points)))


def inner_outline(points: np.ndarray) -> np.ndarray:
    """The inner-lip polygon (60..67) with every lower point that crossed above its upper
    point moved down onto it: an outline that never folds over itself."""
    inner = points[60:68].copy()
    down = mouth_down(points)
    apart = (points[_LOWER_INNER] - points[_UPPER_INNER]) @ down
    inner[[7, 6, 5]] += np.maximum(-apart, 0.0)[:, None] * down
    return inner


def smooth_closed(points: np.ndarray, steps: int = 4) -> np.ndarray:
    """A closed Catmull-Rom curve through ``points``, ``steps`` points per segment: the lips'
    inner outline is a curve, not a polygon of eight corners."""
    p0 = np.roll(points, 1, axis=0)
    p1 = points
    p2 = np.roll(points, -1, axis=0)
    p3 = np.roll(points, -2, axis=0)
    t = (np.arange(steps) / steps)[:, None, None]
    curve = 0.5 * (
        2 * p1
        + (p2 - p0) * t
        + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
        + (3 * p1 - p0 - 3 * p2 + p3) * t**3
    )
    return np.asarray(curve.transpose(1, 0, 2).reshape(-1, 2))
