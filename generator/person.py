"""The person apart from the background: a soft mask of the person in the framed photo, and
a clean plate (the background with the person painted out) that fills what a moving head
uncovers. Computed once per character.

The mask is OpenCV's GrabCut seeded by the landmarks: the face, the neck and the middle of the
shoulders are the person for sure; an ellipse round the head (hair) and a trapezoid under the
chin (the body) probably are; a strip along the top and the sides is background for sure. The
plate is OpenCV's inpainting (Telea) of the person's place.
"""

from __future__ import annotations

import contextlib

import cv2
import numpy as np

_WORK = 256  # px: GrabCut and the inpainting run on the canvas scaled to about this size


def shows_background(within: np.ndarray, landmarks: np.ndarray, interocular: float) -> bool:
    """Whether the photo shows enough of what is round the head to tell the person from it:
    nearly all of a generous ellipse round the head lies on the photo's own pixels
    (``within``: H×W bool). A tight crop of a face does not (the canvas round it is the
    photo's edge mirrored and blurred, which no segmentation can tell from hair), and is
    warped whole instead: a cut through the hair tears the head as it turns."""
    area = np.zeros(within.shape, np.uint8)
    centre = landmarks.mean(0)
    axes = (int(2.2 * interocular), int(2.8 * interocular))
    cv2.ellipse(area, (int(centre[0]), int(centre[1] - 0.4 * interocular)), axes, 0, 0, 360, 1, -1)
    head = area.astype(bool)
    return bool(within[head].mean() >= 0.95) if head.any() else False


def person_mask(canvas: np.ndarray, landmarks: np.ndarray, interocular: float) -> np.ndarray:
    """Float32 H×W, 1 on the person, 0 on the background, soft at the edge."""
    h, w = canvas.shape[:2]
    s = min(1.0, _WORK / max(h, w))
    small = cv2.resize(canvas, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    marks = landmarks * s
    io = interocular * s
    seeds = np.full((sh, sw), cv2.GC_PR_BGD, np.uint8)
    centre = marks.mean(0)
    head = (int(centre[0]), int(centre[1] - 0.4 * io))
    cv2.ellipse(seeds, head, (int(1.9 * io), int(2.5 * io)), 0, 0, 360, cv2.GC_PR_FGD, -1)
    chin = marks[8]
    body = np.array(
        [
            [chin[0] - 1.2 * io, chin[1]],
            [chin[0] + 1.2 * io, chin[1]],
            [chin[0] + 3.5 * io, sh],
            [chin[0] - 3.5 * io, sh],
        ],
        np.int32,
    )
    cv2.fillPoly(seeds, [body], cv2.GC_PR_FGD)
    # The face and the forehead over it (the brows lifted half an eye distance) are the person
    # for sure: the landmarks stop at the brows, and a cut through the forehead tears it.
    across = marks[45] - marks[36]
    up = np.array([across[1], -across[0]]) / max(float(np.linalg.norm(across)), 1e-6)
    forehead = marks[17:27] + 0.5 * io * up
    sure = np.vstack([marks, forehead])
    cv2.fillConvexPoly(seeds, cv2.convexHull(np.round(sure).astype(np.int32)), cv2.GC_FGD)
    neck = (int(chin[0] - 0.5 * io), int(chin[1])), (int(chin[0] + 0.5 * io), int(chin[1] + io))
    cv2.rectangle(seeds, neck[0], neck[1], cv2.GC_FGD, -1)
    edge = max(2, round(0.01 * max(sh, sw)))
    seeds[:edge, :] = cv2.GC_BGD
    # The sides are background unless the body reaches them (a close crop).
    for side in (slice(0, edge), slice(sw - edge, sw)):
        column = seeds[:, side]
        column[column != cv2.GC_PR_FGD] = cv2.GC_BGD
    cv2.setRNGSeed(0)  # GrabCut's GMM initialisation: the same mask for the same photo
    background, foreground = np.zeros((1, 65)), np.zeros((1, 65))
    # A photo GrabCut cannot separate (one flat colour) keeps the seeds alone.
    with contextlib.suppress(cv2.error):
        cv2.grabCut(small, seeds, (0, 0, 0, 0), background, foreground, 4, cv2.GC_INIT_WITH_MASK)
    person = np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8)
    # Keep the piece that holds the face.
    count, labels = cv2.connectedComponents(person)
    if count > 2:
        face = labels[int(np.clip(centre[1], 0, sh - 1)), int(np.clip(centre[0], 0, sw - 1))]
        person = (labels == face).astype(np.uint8) if face else person
    full = cv2.resize(person.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    soft = max(1.0, 0.015 * interocular)
    mask: np.ndarray = cv2.GaussianBlur(full, (0, 0), soft)
    return mask


def layers(
    canvas: np.ndarray, person: np.ndarray, interocular: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The person and the background as two layers, and the mask whose blend of them is the
    canvas again: the background painted in wherever the person covers any of it (for the head
    to uncover), the person's colours unmixed from that background at its soft edge (so the
    hair's edge moves with the head instead of staying behind as a ghost). The mask is
    ``person``, raised on the person's side of its edge where the canvas is more person than
    it says (GrabCut's edge, scaled and blurred, falls a pixel or two inside the outline)."""
    h, w = canvas.shape[:2]
    s = min(1.0, _WORK / max(h, w))
    small = cv2.resize(canvas, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    hole = (cv2.resize(person, (small.shape[1], small.shape[0])) > 0.05).astype(np.uint8)
    grow = max(3, int(0.08 * interocular * s) | 1)
    grown = cv2.dilate(hole, np.ones((grow, grow), np.uint8))
    filled = cv2.inpaint(small, grown, max(3.0, 0.1 * interocular * s), cv2.INPAINT_TELEA)
    painted = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    image = canvas.astype(np.float32)
    # The least coverage that explains each pixel as some colour over the painted background:
    # where the mask says less, on its person side, the plate had to keep part of the person
    # to give back the canvas, and a turned head left it behind as a ring round the head.
    over = np.where(
        image >= painted,
        (image - painted) / np.maximum(255.0 - painted, 1.0),
        (painted - image) / np.maximum(painted, 1.0),
    ).max(axis=2)
    # (Raised fully from 0.2 of the mask up, less and less under it, not at all under 0.05.)
    side = np.clip((person - 0.05) / 0.15, 0.0, 1.0)
    side = side * side * (3.0 - 2.0 * side)
    person = (person + side * np.maximum(np.minimum(over, 1.0) - person, 0.0)).astype(np.float32)
    a = person[..., None]
    plate = np.where(a > 0.05, painted, image)
    # canvas = front * a + plate * (1 - a)  =>  front = (canvas - plate * (1 - a)) / a; the
    # plate is kept where that front stays a colour (0..255), so the blend gives the canvas.
    rest = np.maximum(1.0 - a, 1e-3)
    plate = np.clip(plate, (image - 255.0 * a) / rest, image / rest)
    front = np.where(a > 0.05, (image - plate * (1.0 - a)) / np.maximum(a, 0.05), image)
    return (
        np.clip(front, 0, 255).astype(np.uint8),
        np.clip(plate, 0, 255).astype(np.uint8),
        person,
    )
