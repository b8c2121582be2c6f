"""The eyeballs as layers over the warped face: the eyeball with the iris painted out, the iris
on its own (it slides with the gaze, unstretched) and the catchlight (it stays towards the
light).

The warp moves the lids: a blink draws the upper lid's skin and lashes down over the eye. The
eyeball under them is never warped by a blink or a glance: it is sampled through the map of
the eye held open, so the head's pose carries it along, and shown only where the lids leave it
open. Each layer is cut from the framed photo once per character, in canvas pixels.
Written by hand: no library separates the iris, sclera and lids of a single photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .lips import smooth_closed

# Landmarks round each eye, in outline order: outer corner, upper lid, inner corner, lower lid
# (the subject's right eye, then the left; for the left eye the first corner is the inner one).
EYES = ((36, 37, 38, 39, 40, 41), (42, 43, 44, 45, 46, 47))
UPPER_LIDS = ((37, 41), (38, 40), (43, 47), (44, 46))  # (upper, lower) pairs
MEET = 0.25  # the lids meet a quarter of the way up from the lower lid, the way a blink closes
GAZE = (0.2, 0.1)  # how far the iris moves at full gaze, across and down, in eye widths
_IRIS_RATIO = (0.14, 0.27)  # iris radius in eye widths (an 11.7 mm iris in a ~28 mm opening)


@dataclass(frozen=True, slots=True)
class EyeLayers:
    """One eye's layers, cut from the canvas once; patches sit at ``origin`` (canvas x, y)."""

    points: tuple[int, ...]
    origin: tuple[int, int]
    bare: np.ndarray  # H×W×3 uint8: the eye with its iris painted over with sclera
    iris: np.ndarray  # H×W×4 uint8: the iris (catchlight taken out, hidden parts filled), alpha
    shine: np.ndarray  # H×W×3 uint8: the catchlight, added on top
    photo: np.ndarray  # H×W×3 uint8: the eye as the photo shows it
    centre: np.ndarray  # the iris centre, canvas pixels
    radius: float  # the iris radius, pixels (0: no iris found; the gaze then moves nothing)


def cut_eyes(canvas: np.ndarray, landmarks: np.ndarray, interocular: float) -> list[EyeLayers]:
    """Both eyes' layers. Where either eye shows no iris (closed, downcast, too small), neither
    gets one: a gaze that moves one iris only would read as a squint."""
    eyes = [_cut(canvas, landmarks, idx, interocular) for idx in EYES]
    if any(e.radius == 0.0 for e in eyes):
        eyes = [
            EyeLayers(e.points, e.origin, e.bare, e.iris, e.shine, e.photo, e.centre, 0.0)
            for e in eyes
        ]
    return eyes


def outline(points: np.ndarray) -> np.ndarray:
    """The eye opening as a smooth closed curve through its six landmarks."""
    return smooth_closed(points, steps=4)


def _cut(canvas: np.ndarray, landmarks: np.ndarray, idx: tuple[int, ...], io: float) -> EyeLayers:
    pts = landmarks[list(idx)]
    width = float(np.linalg.norm(pts[3] - pts[0]))
    h, w = canvas.shape[:2]
    margin = 0.2 * io
    x0, y0 = np.floor(pts.min(0) - margin).astype(int)
    x1, y1 = np.ceil(pts.max(0) + margin).astype(int)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    patch = canvas[y0:y1, x0:x1].copy()
    origin = np.array([x0, y0], np.float64)
    opening = np.zeros(patch.shape[:2], np.uint8)
    curve = np.round((outline(pts) - origin) * 16).astype(np.int32)
    cv2.fillPoly(opening, [curve], 1, cv2.LINE_8, shift=4)

    grey = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY).astype(np.float32)
    if _shows_whites(patch, grey, opening, io):
        bare, iris, shine, centre, radius = _iris_layers(patch, grey, opening, width)
    else:  # a closed or downcast eye: no iris to move
        bare, iris, shine, centre, radius = patch, patch, patch, np.zeros(2), 0.0
    return EyeLayers(
        idx,
        (x0, y0),
        bare,
        iris,
        shine,
        patch,
        centre + origin,
        radius,
    )


def _shows_whites(patch: np.ndarray, grey: np.ndarray, opening: np.ndarray, io: float) -> bool:
    """Whether the eye shows its whites: the brightest of the opening clearly brighter than
    the skin round the eye, or clearly less coloured than it. A downcast eye shows lid and
    lashes only, as bright and as coloured as the skin."""
    inside = cv2.erode(opening, np.ones((3, 3), np.uint8)) > 0
    k = max(3, int(0.12 * io) | 1)
    ring = (cv2.dilate(opening, np.ones((k, k), np.uint8)) > 0) & (opening == 0)
    if inside.sum() < 12 or not ring.any():
        return False
    values = grey[inside]
    top = inside & (grey >= np.percentile(values, 75))
    if float(np.percentile(values, 92)) - float(np.median(grey[ring])) >= 30.0:
        return True
    saturation = cv2.cvtColor(patch, cv2.COLOR_RGB2HSV)[..., 1].astype(np.float32)
    skin = float(np.median(saturation[ring]))
    return skin >= 30.0 and float(np.median(saturation[top])) <= 0.6 * skin


def _iris_layers(
    patch: np.ndarray, grey: np.ndarray, opening: np.ndarray, width: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """Split the eye into eyeball (sclera), iris and catchlight; radius 0 when no iris shows."""
    empty = np.zeros((*patch.shape[:2], 4), np.uint8)
    none = (patch, empty, np.zeros_like(patch), np.zeros(2), 0.0)
    inside = cv2.erode(opening, np.ones((3, 3), np.uint8)) > 0
    if inside.sum() < 12:
        return none
    values = grey[inside]
    light, dark = float(np.percentile(values, 92)), float(np.percentile(values, 8))
    if light - dark < 30.0:
        return none  # no iris against a sclera: a closed or downcast eye, or too small
    darkish = (inside & (grey < 0.5 * (light + dark))).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(darkish, connectivity=8)
    if count < 2:
        return none
    weight = np.clip((light - grey) / (light - dark), 0.0, 1.0) ** 2
    scores = [float(weight[labels == n].sum()) for n in range(1, count)]
    blob = int(np.argmax(scores)) + 1
    bx, by, bw, bh = (int(v) for v in stats[blob, :4])
    radius = float(np.clip(0.5 * bw, _IRIS_RATIO[0] * width, _IRIS_RATIO[1] * width))
    cx = bx + 0.5 * bw - 0.5
    # The upper lid usually hides the top of the iris: its bottom edge shows where it is.
    cy = by + 0.5 * bh - 0.5 if bh >= 1.6 * radius else by + bh - 0.5 - radius
    ys, xs = np.mgrid[0 : patch.shape[0], 0 : patch.shape[1]].astype(np.float32)
    distance = np.hypot(xs - cx, ys - cy)
    disk = distance <= radius + 0.5
    iris_pixels = (labels == blob) | (disk & (grey < 0.5 * (light + dark)))
    # The catchlight: what is bright inside the iris's own inner part, all round by iris. A
    # bright patch that runs on out of it is the white of the eye, where the fitted disc is
    # a little larger than the iris: taken for a catchlight (which moves half as far as the
    # iris) or for iris, it showed as light specks at the iris's edge in a glance.
    iris_level = float(np.median(grey[inside & disk & iris_pixels]))
    light_enough = (inside & (grey > iris_level + 0.45 * (light - iris_level))).astype(np.uint8)
    _, spots = cv2.connectedComponents(light_enough, connectivity=8)
    outer = np.unique(spots[light_enough.astype(bool) & (distance > 0.8 * radius)])
    bright = (spots > 0) & ~np.isin(spots, outer)
    bright = cv2.dilate(bright.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0

    rgb = patch.astype(np.float32)
    # The iris: its visible pixels; what the lids hide and the catchlight are filled in from
    # them (normalised convolution), so the iris can slide out from under a lid.
    known = inside & disk & iris_pixels & ~bright
    sigma = max(1.0, 0.5 * radius)
    iris_rgb = _fill(rgb, known, sigma)
    # The eyeball: the iris painted over with the sclera round it (the darker shadow under the
    # upper lid comes along, as the fill takes the nearest sclera most).
    grown = cv2.dilate((iris_pixels | disk).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    around = inside & ~grown
    if around.sum() < 4:
        return none
    # The sclera: the brighter two thirds of what lies round the iris (dlib's outline also
    # takes in a little of the lids and lashes).
    sclera = around & (grey >= np.percentile(grey[around], 35))
    if float(np.median(grey[sclera])) - iris_level < 30.0:
        return none  # an iris that does not stand out from the white of the eye
    eyeball = _rows(rgb, sclera, grown, _fill(rgb, sclera, max(1.0, 0.6 * radius)))
    hole = cv2.GaussianBlur((grown & (opening > 0)).astype(np.float32), (0, 0), 0.8)[..., None]
    bare = rgb + (eyeball - rgb) * hole
    shine = np.where(bright[..., None], np.maximum(rgb - iris_rgb, 0.0), 0.0)
    alpha = np.clip(radius + 0.5 - distance, 0.0, 1.0) * 255.0
    iris = np.dstack([iris_rgb, alpha])
    return _u8(bare), _u8(iris), _u8(shine), np.array([cx, cy]), radius


def _u8(a: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.clip(a + 0.5, 0, 255).astype(np.uint8)
    return out


def _rows(rgb: np.ndarray, known: np.ndarray, hole: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Fill ``hole`` row by row between the nearest ``known`` pixels either side of it: the
    sclera keeps the shading of its own row (the shadow under the upper lid, the darker
    corners); a row with no known pixel takes ``fallback``."""
    out = fallback.copy()
    xs = np.arange(rgb.shape[1])
    for y in np.flatnonzero(hole.any(axis=1)):
        have = np.flatnonzero(known[y])
        if len(have) == 0:
            continue
        gaps = np.flatnonzero(hole[y])
        for c in range(3):
            out[y, gaps, c] = np.interp(xs[gaps], have, rgb[y, have, c])
    smooth: np.ndarray = cv2.GaussianBlur(out, (0, 0), 0.8)
    return smooth


def _fill(rgb: np.ndarray, known: np.ndarray, sigma: float) -> np.ndarray:
    """``rgb`` where ``known``; elsewhere a smooth fill from the known pixels nearby."""
    mask = known.astype(np.float32)
    weight = cv2.GaussianBlur(mask, (0, 0), sigma)
    total = cv2.GaussianBlur(rgb * mask[..., None], (0, 0), sigma)
    # Far from every known pixel the blur fades to nothing: widen it there.
    wide_weight = cv2.GaussianBlur(mask, (0, 0), 4 * sigma)
    wide_total = cv2.GaussianBlur(rgb * mask[..., None], (0, 0), 4 * sigma)
    near = weight > 1e-3
    fill = np.where(
        near[..., None],
        total / np.maximum(weight, 1e-6)[..., None],
        wide_total / np.maximum(wide_weight, 1e-6)[..., None],
    )
    if not mask.any():
        fill = np.broadcast_to(rgb.reshape(-1, 3).mean(0), rgb.shape)
    out: np.ndarray = np.where(known[..., None], rgb, fill)
    return out


def paint_eye(
    frame: np.ndarray,
    window: tuple[int, int, int, int],
    source: tuple[np.ndarray, np.ndarray],
    eye: EyeLayers,
    shown: np.ndarray,
    gaze: np.ndarray,
    sharpness: float,
) -> None:
    """Paint one eyeball into ``window`` (x0, y0, x1, y1) of ``frame``, inside the opening the
    lids leave (``shown``: the points round the eye in order, frame pixels). ``source``: where
    each of the window's pixels lies on the canvas with the eye open (x and y); ``gaze``: how
    far the iris has moved, canvas pixels. The lids themselves are the warped photo's."""
    x0, y0, x1, y1 = window
    if x1 <= x0 or y1 <= y0:
        return
    ox, oy = eye.origin
    qx, qy = source[0] - np.float32(ox), source[1] - np.float32(oy)

    def sample(layer: np.ndarray, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
        out: np.ndarray = cv2.remap(
            layer,
            qx - np.float32(dx),
            qy - np.float32(dy),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return out.astype(np.float32)

    mask = np.zeros((y1 - y0, x1 - x0), np.float32)
    curve = np.round((outline(shown) - np.array([x0, y0])) * 16).astype(np.int32)
    # An opening under a pixel high on average fades out: shut, the lids' points lie on one
    # line, and the polygon's antialiased outline alone would paint a thread of white there.
    width = float(np.ptp(curve[:, 0])) / 16.0
    height = abs(cv2.contourArea(curve.astype(np.float32))) / 256.0 / max(width, 1.0)
    if height < 0.05:
        return
    cv2.fillPoly(mask, [curve], 1.0, cv2.LINE_AA, shift=4)
    soft = cv2.GaussianBlur(mask, (0, 0), max(0.5, 0.5 * sharpness))[..., None] * min(1.0, height)
    if eye.radius > 0.0:
        # The eyeball, the iris slid by the gaze over it, and the catchlight: a reflection on
        # the cornea, it moves about half as far as the iris (the cornea's curve is centred
        # between the eye's centre and its front), so it stays towards the light.
        iris = sample(eye.iris, float(gaze[0]), float(gaze[1]))
        a = iris[..., 3:] / 255.0
        shine = sample(eye.shine, 0.5 * float(gaze[0]), 0.5 * float(gaze[1]))
        ball = sample(eye.bare) * (1.0 - a) + iris[..., :3] * a + shine
    else:
        ball = sample(eye.photo)
    roi = frame[y0:y1, x0:x1]
    roi[:] = np.clip(roi + (ball - roi) * soft + 0.5, 0, 255).astype(np.uint8)
