"""Geometry the detector undoes before folding: rotation, mirroring and a large upscale.

The tile repeats on a square lattice, so a rotated copy's whitened autocorrelation has its
peaks on the same lattice turned by the rotation (``_wm_detect._autocorrelation``). The 2-D
harmonic comb of ``_wm_detect.estimate_periods`` is evaluated here on rotated lattices too,
over periods and over angles within ±MAX_ANGLE (a square lattice is the same turned by 90°,
so angles are read modulo 90°; ±MAX_ANGLE also keeps the lattice's own sub-lattices, √2 and
√5 times the period at 45° and 26.6°, out of the search). Every angle whose comb stands out
(a local maximum of the profile over angles, above the unrotated comb and ANGLE_FLOOR) is a
*view*: the frames turned back by it, folded and read as an unrotated clip is. A mirrored
copy needs no view of its own: folding commutes with the mirror (a mirrored frame folds to
the mirrored fold, cyclically shifted), so each fold is read both ways
(``_wm_detect.mirrored``).

A screen filmed by a phone (or any perspective) keeps its picture's outline: when the
frames show a convex quadrilateral on a uniform surround that is not an axis-aligned
rectangle (a letterbox or a pillarbox is), ``outline`` finds its corners (each side a line
fitted to the outline's points, so to a fraction of a pixel) and ``Perspective`` maps it back
to a rectangle: one more view, read and traced as a rotated one is. The mark's own lattice is
no help there: after the lens's blur and the phone's re-encode the autocorrelation of a
quarter of the picture does not show it (its comb reads 3-15 at random periods).

Large frames are brought to at most WORK_SIDE pixels on their longer side by an integer
area reduction before anything else (``reduce``): an upscaled copy's mark is then read at
close to its own size (a 512² clip upscaled into 3840×2160 is read at 720×720, 1.41× its
size; the keyed scale search reaches 2.5×), and a 4K frame costs the detector no more than a
720p one.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy import ndimage

from lpm_guard.provenance._wm_pattern import TILE

WORK_SIDE = 1280
MAX_ANGLE = 10.0  # degrees, either way
ANGLE_STEP = 0.5
# Rotated views kept at most (best comb first); each is one more geometry the reading and
# tracing search, counted in their false-alarm bounds.
ANGLES = 2
# A rotated comb must reach this (the comb is in units of the autocorrelation's median
# absolute value; unmarked clips' best rotated local maxima read 3-6, and 13 on a photo with
# a periodic texture of its own; a clean rotated mark 10-70, our output replayed as a 320 px
# WebM and turned 1-3 degrees 4.9-6.1, where the turned view then decodes blind at 18-28).
# The floor only decides which views are read, at most ANGLES of them, which the false-alarm
# bounds count whatever picked them: lower, an unmarked clip gets a view (CPU) more often.
ANGLE_FLOOR = 4.5
# Below this a rotation is read as it is: the fold drifts by under a third of a chip at the
# edge of a 640-pixel frame.
MIN_ANGLE = 0.25
# The smallest scale read (the keyed scale search's too): a rotated lattice finer than its tile
# is a texture's, not the mark's (a 112-pixel photo enlarged to 1280x720 reads 13 at 26 px).
SMALLEST_SCALE = 0.35
MIN_PERIOD = SMALLEST_SCALE * TILE
MIN_LATTICE = 3
# Perspective views kept at most (``outline``), each one more view in the bounds.
PERSPECTIVES = 1
# The picture must cover this much of the frame, its surround be this uniform (grey levels,
# 90th percentile of the frame's edge rows and columns about their median), differ from it
# by this much, and a corner be this far (of the picture's side) off the axis-aligned
# rectangle through the others, for its outline to make a view.
MIN_PICTURE = 0.2
SURROUND_SPREAD = 6.0
SURROUND_STEP = 8.0
MIN_KEYSTONE = 0.004
MIN_SIDE_OUT = 64  # the rectified picture's smallest side (the detector's MIN_SIDE)
# The sizes the gate marks (the generator's, ``generator.character.SIZES``): a rectified
# picture whose shape is one of theirs to within PICTURE_ASPECT is read at that size's scale
# too (``Perspective.periods``), as the picture a screen shows is the whole frame.
PICTURES = ((512, 512), (1280, 720), (720, 1280))
PICTURE_ASPECT = 0.03


def reduce(luma: np.ndarray) -> np.ndarray:
    """``luma`` area-reduced by the smallest integer factor that brings its longer side to
    at most WORK_SIDE (unchanged when it already is)."""
    height, width = luma.shape
    factor = math.ceil(max(height, width) / WORK_SIDE)
    if factor <= 1:
        return luma
    size = (max(1, width // factor), max(1, height // factor))
    return np.asarray(cv2.resize(luma, size, interpolation=cv2.INTER_AREA))


def rotated_combs(
    corr: np.ndarray, periods: np.ndarray, angles: np.ndarray, reach: int = 4
) -> np.ndarray:
    """The comb (mean autocorrelation over the lattice of multiples up to ``reach``, as
    ``_wm_detect._combs``) of each period (rows) turned by each angle in radians (columns)."""
    cy, cx = corr.shape[0] // 2, corr.shape[1] // 2
    ks = np.arange(-reach, reach + 1)
    ky, kx = np.meshgrid(ks, ks, indexing="ij")
    keep = (ky != 0) | (kx != 0)
    ky, kx = ky[keep].astype(np.float64), kx[keep].astype(np.float64)
    period, angle = np.meshgrid(periods, angles, indexing="ij")
    cos, sin = np.cos(angle)[..., None], np.sin(angle)[..., None]
    ys = cy + period[..., None] * (cos * ky + sin * kx)
    xs = cx + period[..., None] * (cos * kx - sin * ky)
    inside = (np.abs(ys - cy) <= 0.6 * cy) & (np.abs(xs - cx) <= 0.6 * cx)
    values = ndimage.map_coordinates(
        corr, [np.where(inside, ys, cy).ravel(), np.where(inside, xs, cx).ravel()], order=1
    ).reshape(ys.shape)
    count = inside.sum(axis=-1)
    sums = np.where(inside, values, 0).sum(axis=-1)
    return np.where(count >= MIN_LATTICE, sums / np.maximum(count, 1), -np.inf)


def estimate_angles(corr: np.ndarray) -> list[tuple[float, float]]:
    """The rotations (degrees, as ``cv2.getRotationMatrix2D`` turns a frame back) whose comb
    stands out, best first, each with its period: at most ANGLES."""
    top = 0.6 * min(corr.shape) / 2
    periods = np.arange(MIN_PERIOD, max(top, MIN_PERIOD + 1), 0.5)
    degrees = np.arange(-MAX_ANGLE, MAX_ANGLE + ANGLE_STEP / 2, ANGLE_STEP)
    # Coarse (multiples up to 2, a quarter of the lookups), then each peak on the full comb.
    scores = rotated_combs(corr, periods, np.radians(degrees), reach=2)
    profile = scores.max(axis=0)
    level = max(ANGLE_FLOOR, float(profile[np.argmin(np.abs(degrees))]))
    peaks = [
        j
        for j in range(len(degrees))
        if profile[j] >= profile[max(0, j - 1) : j + 2].max() and profile[j] > level
    ]
    peaks.sort(key=lambda j: -profile[j])
    found: list[tuple[float, float]] = []
    for j in peaks[:ANGLES]:
        column = scores[:, j]
        # The smallest period scoring near the best: its multiples score as well.
        period = periods[int(np.argmax(column >= 0.7 * column.max()))]
        fine_periods = period + np.linspace(-1, 1, 21)
        fine_degrees = degrees[j] + np.linspace(-ANGLE_STEP, ANGLE_STEP, 21)
        fine = rotated_combs(corr, fine_periods, np.radians(fine_degrees))
        a, b = np.unravel_index(int(np.argmax(fine)), fine.shape)
        if abs(fine_degrees[b]) >= MIN_ANGLE:
            found.append((float(fine_degrees[b]), float(fine_periods[a])))
    return found


class Rotation:
    """Turns frames of one size back by ``angle`` degrees about their centre, and marks
    where the turned frame has no picture (its corners), which the whitened frame loses."""

    def __init__(self, angle: float, shape: tuple[int, int]) -> None:
        height, width = shape
        self.angle = angle
        self._size = (width, height)
        self._matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        inside = cv2.warpAffine(np.ones(shape, np.uint8), self._matrix, self._size)
        # The whitening's 3-pixel box and its envelope reach past the edge: two pixels off.
        self.valid = cv2.erode(inside, np.ones((5, 5), np.uint8)).astype(np.float32)

    def luma(self, luma: np.ndarray) -> np.ndarray:
        return np.asarray(
            cv2.warpAffine(
                luma,
                self._matrix,
                self._size,
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
        )


def _line_meet(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Where two lines (cv2.fitLine's vx, vy, x0, y0) cross."""
    (a, b, x, y), (c, d, u, v) = first, second
    # x + t·a = u + s·c and y + t·b = v + s·d
    t = np.linalg.solve(np.array([[a, -c], [b, -d]]), np.array([u - x, v - y]))[0]
    return np.array([x + t * a, y + t * b])


def outline(lumas: list[np.ndarray]) -> np.ndarray | None:
    """The corners (top-left, top-right, bottom-right, bottom-left; x, y in pixels) of the
    picture the frames show in perspective on a uniform surround, or None (no surround, no
    quadrilateral, or one that is an axis-aligned rectangle)."""
    mean = np.asarray(np.mean(np.stack(lumas), axis=0, dtype=np.float32))
    height, width = mean.shape
    edge = np.concatenate([mean[:2].ravel(), mean[-2:].ravel(), mean[:, :2].ravel()])
    edge = np.concatenate([edge, mean[:, -2:].ravel()])
    level = float(np.median(edge))
    if float(np.percentile(np.abs(edge - level), 90)) > SURROUND_SPREAD:
        return None
    mask = np.asarray(
        cv2.morphologyEx(
            (np.abs(mean - level) > SURROUND_STEP).astype(np.uint8),
            cv2.MORPH_CLOSE,
            np.ones((9, 9), np.uint8),
        )
    )
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return None
    contour = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(contour)
    if area < MIN_PICTURE * height * width:
        return None
    hull = cv2.convexHull(contour)
    quad = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True).reshape(-1, 2)
    if len(quad) != 4:
        return None
    sums, diffs = quad.sum(axis=1), quad[:, 0] - quad[:, 1]
    rough = np.array(
        [
            quad[np.argmin(sums)],
            quad[np.argmax(diffs)],
            quad[np.argmax(sums)],
            quad[np.argmin(diffs)],
        ],
        np.float64,
    )
    # Each side: a line through the outline's points near it, between its corners (their
    # middle 80 %); twice, the second time from the corners the first fit gives (a corner
    # the picture's own dark content hides is found where its sides meet).
    points = contour.reshape(-1, 2).astype(np.float64)
    corners = rough
    for band in (8.0, 3.0):
        lines = []
        for k in range(4):
            a, b = corners[k], corners[(k + 1) % 4]
            length = max(float(np.linalg.norm(b - a)), 1e-9)
            direction = (b - a) / length
            along = (points - a) @ direction
            across = np.abs((points - a) @ np.array([-direction[1], direction[0]]))
            near = (across <= band) & (along >= 0.1 * length) & (along <= 0.9 * length)
            if near.sum() < 10:
                return None
            fitted = cv2.fitLine(points[near].astype(np.float32), cv2.DIST_HUBER, 0, 0.01, 0.01)
            lines.append(fitted.ravel().astype(np.float64))
        try:
            corners = np.array([_line_meet(lines[k - 1], lines[k]) for k in range(4)])
        except np.linalg.LinAlgError:  # two sides parallel: not a quadrilateral
            return None
        # Sides that meet outside the frame (nearly parallel, or not a picture's edges) would
        # make a rectified view of any size: no view.
        inside = (corners >= -2) & (corners <= np.array([width + 2, height + 2]))
        if not inside.all() or cv2.contourArea(corners.astype(np.float32)) < 0.5 * area:
            return None
    # An axis-aligned rectangle (letterbox, pillarbox, a picture on a plain page) is no view.
    side = max(float(np.ptp(corners[:, 0])), float(np.ptp(corners[:, 1])))
    off = max(
        abs(corners[0, 0] - corners[3, 0]),
        abs(corners[1, 0] - corners[2, 0]),
        abs(corners[0, 1] - corners[1, 1]),
        abs(corners[3, 1] - corners[2, 1]),
    )
    if off < MIN_KEYSTONE * side:
        return None
    return corners


class Perspective:
    """Maps the picture ``outline`` found back to a rectangle of its sides' mean lengths,
    and marks where the rectangle has no picture (its edge)."""

    def __init__(self, corners: np.ndarray) -> None:
        self.corners = corners
        width = (
            float(np.linalg.norm(corners[1] - corners[0]) + np.linalg.norm(corners[2] - corners[3]))
            / 2
        )
        height = (
            float(np.linalg.norm(corners[3] - corners[0]) + np.linalg.norm(corners[2] - corners[1]))
            / 2
        )
        self._size = (max(MIN_SIDE_OUT, round(width)), max(MIN_SIDE_OUT, round(height)))
        self._sides = (width, height)
        target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
        self._matrix = cv2.getPerspectiveTransform(corners.astype(np.float32), target)
        shape = (self._size[1], self._size[0])
        inside = cv2.erode(np.ones(shape, np.uint8), np.ones((5, 5), np.uint8), borderValue=0)
        self.valid = np.asarray(inside, np.float32)

    def periods(self) -> list[float]:
        """The mark's period in the rectified picture if it is one of PICTURES (whose shape
        it has), at most one: the picture's side over that size's, times TILE."""
        width, height = self._sides
        found = []
        for size in PICTURES:
            if abs((width / height) / (size[0] / size[1]) - 1) <= PICTURE_ASPECT:
                found.append(TILE * (width / size[0] + height / size[1]) / 2)
        return found[:1]

    def luma(self, luma: np.ndarray) -> np.ndarray:
        return np.asarray(
            cv2.warpPerspective(
                luma,
                self._matrix,
                self._size,
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
        )
