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
    # (Each point's neighbours by index: np.roll costs more than the curve on 6 to 8 points.)
    n = len(points)
    at = np.arange(n)
    p0 = points[(at - 1) % n]
    p1 = points
    p2 = points[(at + 1) % n]
    p3 = points[(at + 2) % n]
    t = (np.arange(steps) / steps)[:, None, None]
    curve = 0.5 * (
        2 * p1
        + (p2 - p0) * t
        + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
        + (3 * p1 - p0 - 3 * p2 + p3) * t**3
    )
    return np.asarray(curve.transpose(1, 0, 2).reshape(-1, 2))


# The opening of a mouth opened wide, corner to corner: its distance from the line between the
# corners, of its distance in the middle, at ``u`` (-1 at one corner, 0 in the middle, 1 at the
# other) is (1 - |u| ** P) ** Q: rounded where the eight inner-lip points made a hexagon with
# straight sides, and narrowing to each corner a little more than a circle's arc would.
ROUND_POWER = (2.6, 2.2)  # P for the upper lip (flatter), the lower (a U)
ROUND_TAPER = 0.85  # Q


def rounded(u: np.ndarray, power: float) -> np.ndarray:
    """The profile above at ``u`` (clipped to -1..1)."""
    out: np.ndarray = (1.0 - np.abs(np.clip(u, -1.0, 1.0)) ** power) ** ROUND_TAPER
    return out


def _mouth_frame(
    inner: np.ndarray, across: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Each inner-lip point's place across the mouth (-1..1 between the corners 60 and 64) and
    its distance out from the line between the corners (up for 61..63, down for 65..67)."""
    down = np.array([-across[1], across[0]])
    a, d = inner @ across, inner @ down
    mid, half = 0.5 * (float(a[0]) + float(a[4])), max(0.5 * (float(a[4]) - float(a[0])), 1.0)
    u = (a - mid) / half
    chord = float(d[0]) + (float(d[4]) - float(d[0])) * (u + 1.0) / 2.0
    out = (d - chord) * np.array([0, -1, -1, -1, 0, 1, 1, 1])
    return u, out, mid, half


def _profile(u: float, power: float) -> float:
    """:func:`rounded` for one place (plain floats: this runs on every frame)."""
    return float((1.0 - min(abs(u), 1.0) ** power) ** ROUND_TAPER)


def rounded_sides(inner: np.ndarray, across: np.ndarray) -> np.ndarray:
    """How far (along the mouth's vertical, pixels, positive: into the opening) each of the
    side points 61, 63, 65, 67 would move to lie on the rounded profile through its lip's
    middle point (62 or 66); 0 where it already lies inside it."""
    u, out, _, _ = _mouth_frame(inner, across)
    us, outs = u.tolist(), out.tolist()
    move = np.zeros(4)
    for k, (point, middle, power) in enumerate(
        (
            (1, 2, ROUND_POWER[0]),
            (3, 2, ROUND_POWER[0]),
            (5, 6, ROUND_POWER[1]),
            (7, 6, ROUND_POWER[1]),
        )
    ):
        shape = _profile(us[point], power) / max(_profile(us[middle], power), 0.2)
        move[k] = max(outs[point] - outs[middle] * shape, 0.0)
    return move


def open_outline(
    inner: np.ndarray, across: np.ndarray, steps: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """The opening between the inner lips (``inner``: 60..67, as :func:`inner_outline` gives
    them) as two smooth curves from corner to corner, upper then lower (``2 * steps + 1``
    points each, denser towards the corners): the rounded profile above, scaled to pass
    through each of its lip's three inner points (linearly in between)."""
    down = np.array([-across[1], across[0]])
    u, out, mid, half = _mouth_frame(inner, across)
    d = inner @ down
    t = _SPACING.get(steps)
    if t is None:
        t = _SPACING[steps] = -np.cos(np.linspace(0.0, np.pi, 2 * steps + 1))  # dense at corners
    chord = float(d[0]) + (float(d[4]) - float(d[0])) * (t + 1.0) / 2.0
    place = (mid + half * t)[:, None] * across
    curves = []
    for idx, sign, power in (([1, 2, 3], -1.0, ROUND_POWER[0]), ([7, 6, 5], 1.0, ROUND_POWER[1])):
        us = np.maximum.accumulate(np.clip(u[idx], -0.95, 0.95) + _NUDGE)
        scale = out[idx] / np.maximum(rounded(us, power), 0.2)
        h = np.interp(t, us, scale) * rounded(t, power)
        curves.append(place + (chord + sign * h)[:, None] * down)
    return curves[0], curves[1]


_SPACING: dict[int, np.ndarray] = {}
_NUDGE = np.arange(3) * 1e-3  # keeps the three places across strictly increasing
