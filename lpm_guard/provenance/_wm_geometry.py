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
