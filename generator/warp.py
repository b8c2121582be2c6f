"""Piecewise-affine warping of the canvas by a moving mesh, computed backwards per frame.

For every output pixel we need the canvas pixel it comes from. The triangles are rasterised in
their *moved* positions into a label image, and each pixel maps back through its triangle's
affine transform. A coarse grid covers the whole frame; small full-resolution windows cover the
places where the motion has sharp edges (lips, lids). Written by hand with OpenCV primitives:
no maintained library does triangle-wise inverse mapping at this speed.
"""

from __future__ import annotations

import cv2
import numpy as np

_SHIFT = 4  # fixed-point bits for fillConvexPoly
_ONE = 1 << _SHIFT
_NEIGHBOURS = np.ones((3, 3), np.uint8)
BLOCK = 32  # px: the side of the output blocks whose map's bounds ``backward_map`` reports


def triangle_affines(src: np.ndarray, dst: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """(T, 2, 3) affine maps taking each moved triangle back to its place on the canvas."""
    d = dst[triangles]  # (T, 3, 2)
    s = src[triangles]
    # In closed form from each triangle's edges out of its first corner (np.linalg's batched
    # det and solve of the 3x3 systems cost ten times as much on ~300 triangles):
    # L @ [e1 e2] = [f1 f2], the translation taking the first corner to its place.
    e1, e2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]
    f1, f2 = s[:, 1] - s[:, 0], s[:, 2] - s[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    # A collapsed triangle (a closed lid, closed lips) keeps its neighbours' job: map it
    # to its own centroid rather than divide by zero.
    flat = np.abs(det) < 1e-6
    inv = 1.0 / np.where(flat, 1.0, det)
    affine = np.empty((len(triangles), 2, 3))
    for k in range(2):
        affine[:, k, 0] = (f1[:, k] * e2[:, 1] - f2[:, k] * e1[:, 1]) * inv
        affine[:, k, 1] = (f2[:, k] * e1[:, 0] - f1[:, k] * e2[:, 0]) * inv
        affine[:, k, 2] = s[:, 0, k] - affine[:, k, 0] * d[:, 0, 0] - affine[:, k, 1] * d[:, 0, 1]
    if flat.any():
        affine[flat] = 0.0
        affine[flat, :, 2] = s[flat].mean(axis=1)
    return affine


def label_triangles(
    dst: np.ndarray,
    triangles: np.ndarray,
    order: np.ndarray,
    shape: tuple[int, int],
    origin: tuple[float, float],
    step: float,
) -> np.ndarray:
    """Which triangle covers each sample of a grid (-1: none). Later triangles in ``order``
    win, so passing them back to front draws the nearer surface on top."""
    labels = np.full(shape, -1, dtype=np.int32)
    # Grid sample (i, j) sits at origin + (j + 0.5, i + 0.5) * step - 0.5 in canvas pixels.
    scaled = (dst - np.array(origin) + 0.5) / step - 0.5
    polygons = np.round(scaled[triangles[order]] * _ONE).astype(np.int32)
    # Only the triangles that reach into the grid are drawn.
    a, b, c = polygons[:, 0], polygons[:, 1], polygons[:, 2]
    low, high = np.minimum(np.minimum(a, b), c), np.maximum(np.maximum(a, b), c)
    inside = (high[:, 0] >= 0) & (high[:, 1] >= 0)
    inside &= (low[:, 0] < shape[1] * _ONE) & (low[:, 1] < shape[0] * _ONE)
    # (Positional arguments: keywords cost OpenCV's binding as much again as the fill of a
    # small triangle.)
    fill = cv2.fillConvexPoly
    for t, polygon in zip(order[inside].tolist(), list(polygons[inside]), strict=True):
        fill(labels, polygon, t, cv2.LINE_8, _SHIFT)
    return labels


def sample_map(
    affines: np.ndarray, labels: np.ndarray, origin: tuple[float, float], step: float
) -> tuple[np.ndarray, np.ndarray]:
    """Canvas coordinates for every grid sample (identity where no triangle covers it)."""
    h, w = labels.shape
    xs = origin[0] + (np.arange(w, dtype=np.float32) + 0.5) * step - 0.5
    ys = origin[1] + (np.arange(h, dtype=np.float32) + 0.5) * step - 0.5
    # Each of the six coefficients gathered on its own (quicker than whole 2×3 matrices);
    # label -1 (no triangle) picks the identity appended last.
    coef = np.empty((6, len(affines) + 1), affines.dtype)
    coef[:, :-1] = affines.reshape(-1, 6).T
    coef[:, -1] = (1, 0, 0, 0, 1, 0)
    # (One gather for all six; 'wrap' takes -1 to the last column as 'raise' does, without
    # the bounds check. In place: the same sums, fewer temporaries.)
    a = coef.take(labels, axis=1, mode="wrap")
    row, column = xs[None, :], ys[:, None]
    map_x = a[0] * row
    map_x += a[1] * column
    map_x += a[2]
    map_y = a[3] * row
    map_y += a[4] * column
    map_y += a[5]
    return map_x, map_y


def signed_area(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    p = points[triangles]
    u, v = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    return u[:, 0] * v[:, 1] - u[:, 1] * v[:, 0]


class Warper:
    """Builds the backward map for one frame size; reuse it for every frame."""

    def __init__(self, width: int, height: int, step: int) -> None:
        self.width, self.height, self.step = width, height, step
        # One spare sample round the edge, so the upscaled map interpolates to the very border
        # instead of clamping there.
        self.coarse = (-(-height // step) + 2, -(-width // step) + 2)
        # For each block of BLOCK output pixels (rows, then columns), the first grid sample
        # that the upscaled map interpolates from there, and how many samples a block spans.
        self._rows, rows = _block_samples(height, step)
        self._cols, cols = _block_samples(width, step)
        self._kernel = np.ones((rows, cols), np.uint8)

    def backward_map(
        self,
        src: np.ndarray,
        dst: np.ndarray,
        triangles: np.ndarray,
        order: np.ndarray,
        windows: list[tuple[int, int, int, int]],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The x and y maps, and for every BLOCK×BLOCK block of the output the bounds of the
        canvas coordinates its maps hold: (4, block rows, block columns), x min, x max, y min,
        y max (a block may read only inside them)."""
        affines = triangle_affines(src, dst, triangles).astype(np.float32)
        # A triangle squashed flat, or folded over (turned inside out by the motion), covers
        # pixels that its neighbours should own.
        moved, rest = signed_area(dst, triangles), signed_area(src, triangles)
        keep = (np.abs(moved) > 1.0) & (np.abs(rest) > 0.5) & (np.sign(moved) == np.sign(rest))
        order = order[keep[order]]
        s = self.step
        origin = (-float(s), -float(s))
        labels = _fill_slivers(label_triangles(dst, triangles, order, self.coarse, origin, s))
        cx, cy = sample_map(affines, labels, origin, s)
        # Upscale by bilinear interpolation between grid samples (one spare sample each side).
        offset = 0.5 / s - 0.5 + 1.0
        upscale = np.array([[1 / s, 0, offset], [0, 1 / s, offset]])
        size = (self.width, self.height)
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        map_x = cv2.warpAffine(cx, upscale, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        map_y = cv2.warpAffine(cy, upscale, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        # Bilinear interpolation stays inside its samples' range: the least and the most of
        # the samples from each block's first on (erode and dilate anchored at the corner).
        rows, cols = self._rows[:, None], self._cols[None, :]
        bounds = np.empty((4, len(self._rows), len(self._cols)), np.float32)
        for k, grid in enumerate((cx, cy)):
            bounds[2 * k] = cv2.erode(grid, self._kernel, anchor=(0, 0))[rows, cols]
            bounds[2 * k + 1] = cv2.dilate(grid, self._kernel, anchor=(0, 0))[rows, cols]
        # Each window draws only the triangles that come within a pixel of it (the ones
        # label_triangles would draw, and a few more): most of the mesh lies far from them.
        corners = dst[triangles[order]]
        low, high = corners.min(axis=1), corners.max(axis=1)
        for x0, y0, x1, y1 in windows:
            near = (high[:, 0] >= x0 - 1) & (low[:, 0] <= x1 + 1)
            near &= (high[:, 1] >= y0 - 1) & (low[:, 1] <= y1 + 1)
            fine = label_triangles(
                dst, triangles, order[near], (y1 - y0, x1 - x0), (float(x0), float(y0)), 1.0
            )
            fine = _fill_slivers(fine)
            fx, fy = sample_map(affines, fine, (float(x0), float(y0)), 1.0)
            # Where no triangle covers a pixel (a squashed sliver), keep the coarse map.
            covered = fine >= 0
            np.copyto(map_x[y0:y1, x0:x1], fx, where=covered)
            np.copyto(map_y[y0:y1, x0:x1], fy, where=covered)
        # The blocks a window touches: their bounds from the finished maps themselves.
        for x0, y0, x1, y1 in windows:
            if x1 > x0 and y1 > y0:
                _exact_bounds(bounds, (map_x, map_y), (x0, y0, x1, y1))
        return map_x, map_y, bounds


def _exact_bounds(
    bounds: np.ndarray, maps: tuple[np.ndarray, np.ndarray], window: tuple[int, int, int, int]
) -> None:
    """Set ``bounds`` of the blocks that ``window`` touches from the maps' values there."""
    x0, y0, x1, y1 = window
    bx0, by0 = x0 // BLOCK, y0 // BLOCK
    bx1, by1 = (x1 - 1) // BLOCK + 1, (y1 - 1) // BLOCK + 1
    rows, cols = (by1 - by0) * BLOCK, (bx1 - bx0) * BLOCK
    for k, grid in enumerate(maps):
        region = grid[by0 * BLOCK : by1 * BLOCK, bx0 * BLOCK : bx1 * BLOCK]
        # The frame's last blocks may be short: repeating their edge changes no bound.
        if region.shape != (rows, cols):
            region = np.pad(
                region, ((0, rows - region.shape[0]), (0, cols - region.shape[1])), "edge"
            )
        # Over each block's rows, then its columns (one axis at a time is quicker).
        strips = region.reshape(by1 - by0, BLOCK, cols)
        shape = (by1 - by0, bx1 - bx0, BLOCK)
        bounds[2 * k, by0:by1, bx0:bx1] = strips.min(axis=1).reshape(shape).min(axis=2)
        bounds[2 * k + 1, by0:by1, bx0:bx1] = strips.max(axis=1).reshape(shape).max(axis=2)


def _block_samples(pixels: int, step: int) -> tuple[np.ndarray, int]:
    """The first grid sample whose value reaches each block of BLOCK pixels when the grid is
    upscaled as ``backward_map`` does (one spare for fixed-point rounding), and the most
    samples a block reaches (with one spare past its last)."""
    starts = np.arange(0, pixels, BLOCK)
    ends = np.minimum(starts + BLOCK, pixels) - 1
    # Output pixel x interpolates between samples floor(u) and floor(u) + 1, u = (x+0.5)/s + 0.5.
    low = np.floor((starts + 0.5) / step + 0.5).astype(int) - 1
    high = np.floor((ends + 0.5) / step + 0.5).astype(int) + 2
    return np.maximum(low, 0), int((high - np.maximum(low, 0)).max()) + 1


def _fill_slivers(labels: np.ndarray) -> np.ndarray:
    """Pixels no triangle covers, next to ones that are covered, take a neighbour's triangle:
    slivers left where triangles were squashed shut (lids, lips) or dropped as folded (a mouth
    corner passing the cheek beside it). Left as holes they showed the photo unmoved there: the
    open eye under a closing lid, a torn step beside the corner of an opening mouth."""
    if not (labels < 0).any():
        return labels
    grown = labels.astype(np.float32)
    for _ in range(2):
        grown = np.where(grown >= 0, grown, cv2.dilate(grown, _NEIGHBOURS))
    filled: np.ndarray = grown.astype(np.int32)
    return filled
