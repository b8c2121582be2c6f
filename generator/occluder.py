"""What lies in front of the person below the chin (cards held up, a hand, a glass): the
jaw's warp must not drag it. Found once per character.

Below the jaw line, as far as the dropping chin and the skin it stretches reach, a pixel is in
front when it is neither skin (its chroma far from the face's own, in CIELAB) nor darker than
the face (a collar, a dark top or the neck's shadow lie behind the chin, which drops in front of
them). A grey photo has no chroma to tell skin by and finds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

_SKIN_SIGMAS = 3.0  # chroma further than this from the face's skin (Mahalanobis) is not skin
_CHROMA_FLOOR = 2.0  # CIELAB units: the least spread of the skin's chroma a model assumes
_LIT = 0.8  # of the face's median lightness: what is darker lies behind the chin
_LEAST = 0.15  # eye distances: the side of the smallest object (as a square) that counts


@dataclass(frozen=True, slots=True)
class Occluder:
    """Where it lies on the canvas (x0, y0, x1, y1) and how much each pixel there is it
    (H×W float32, 0..1, soft at its edge)."""

    window: tuple[int, int, int, int]
    mask: np.ndarray


def find_occluder(
    canvas: np.ndarray,
    landmarks: np.ndarray,
    reach: Sequence[np.ndarray],
    interocular: float,
    person: np.ndarray | None = None,
) -> Occluder | None:
    """The occluder below the chin, or None. ``reach``: convex polygons (K×2, canvas pixels) that
    the jaw's motion moves pixels in (the triangles hung from the jaw line, the chin's sweep);
    ``person``: the person mask, when the background is separated (only the person can be in
    front of the person)."""
    h, w = canvas.shape[:2]
    area = np.zeros((h, w), np.uint8)
    for polygon in reach:
        cv2.fillConvexPoly(area, np.round(polygon * 16).astype(np.int32), 1, cv2.LINE_8, shift=4)
    # The face itself moves with the jaw whatever it shows.
    face = np.round(landmarks[[*range(17), *range(26, 16, -1)]]).astype(np.int32)
    cv2.fillPoly(area, [face], 0)
    if not area.any():
        return None
    ys, xs = np.nonzero(area)
    x0, x1, y0, y1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
    # The skin's colour: the lower face inside the jaw line, the lips left out.
    skin = np.zeros((h, w), np.uint8)
    cv2.fillPoly(skin, [np.round(landmarks[[*range(3, 14), 35, 33, 31]]).astype(np.int32)], 1)
    cv2.fillPoly(skin, [np.round(landmarks[48:60]).astype(np.int32)], 0)
    lab = cv2.cvtColor(canvas, cv2.COLOR_RGB2LAB).astype(np.float32)
    samples = lab[skin.astype(bool)]
    if len(samples) < 10:
        return None
    mean = samples.mean(0)
    spread = np.cov(samples[:, 1:].T) + np.eye(2) * _CHROMA_FLOOR**2
    part = lab[y0:y1, x0:x1]
    chroma = part[..., 1:] - mean[1:]
    far = np.einsum("...i,ij,...j->...", chroma, np.linalg.inv(spread), chroma)
    lit = part[..., 0] >= _LIT * float(np.median(samples[:, 0]))
    found = (far > _SKIN_SIGMAS**2) & lit & (area[y0:y1, x0:x1] > 0)
    if person is not None:
        found &= person[y0:y1, x0:x1] > 0.95  # not the background at the person's soft edge
    # Specks and slivers (a highlight, noise, a fleck of the background) are not objects.
    k = max(3, int(0.03 * interocular) | 1)
    found = cv2.morphologyEx(found.astype(np.uint8), cv2.MORPH_OPEN, np.ones((k, k), np.uint8))
    _, labels, stats, _ = cv2.connectedComponentsWithStats(found)
    large = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= (_LEAST * interocular) ** 2)
    found = np.isin(labels, large[large > 0]).astype(np.uint8)
    if not found.any():
        return None
    # Grown over its own soft edge in the photo (half skin, half object: cut through, the
    # chin showed through it in bumps), then softened.
    grow = 2 * max(1, round(0.015 * interocular)) + 1
    found = cv2.dilate(found, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
    mask = cv2.GaussianBlur(found.astype(np.float32), (0, 0), max(0.7, 0.008 * interocular))
    # Only where it is: each frame warps this window again.
    ys, xs = np.nonzero(mask > 1.0 / 255.0)
    bx0, by0 = int(xs.min()), int(ys.min())
    window = (x0 + bx0, y0 + by0, x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1)
    return Occluder(window, np.ascontiguousarray(mask[by0 : ys.max() + 1, bx0 : xs.max() + 1]))
