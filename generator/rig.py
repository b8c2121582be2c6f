"""The character rig: a photo framed for output, its landmarks lifted into 3D, and a mesh of
face, hair, neck and surroundings that every frame is warped from.

Written by hand: no maintained library builds a landmark-driven 2.5D face rig.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.spatial import Delaunay

from . import faces, lips
from .eyes import EYES, MEET
from .person import layers, person_mask, shows_background
from .pose import HeadModel, facing_yaw, fit_head

# Vertex roles, each with how much of the head's rotation it follows.
HEAD, HAIR, NECK, SHOULDERS, BORDER = range(5)
FOLLOW = np.array([1.0, 0.85, 0.25, 0.0, 0.0])
# Cheek vertices (70, 71, ...), each halfway between a landmark near the mouth or nose and one
# on the jaw: the mouth corners, then the nose wings.
CHEEKS = ((48, 4), (54, 12), (31, 2), (35, 14))
# The first of the mesh's points just outside the jaw line, one per jaw landmark in order
# (after the landmarks, the irises, the cheeks and the forehead's two rings of nine).
JAW_RING = 70 + len(CHEEKS) + 18
CHEEK_DROP = 0.08  # inter-ocular distances below the middle of each cheek's line (see below)


@dataclass(frozen=True, slots=True)
class Frame:
    """How the output is framed: a similarity transform from the photo to the canvas."""

    width: int
    height: int
    matrix: np.ndarray  # 2×3, photo → canvas

    def apply(self, points: np.ndarray) -> np.ndarray:
        return points @ self.matrix[:, :2].T + self.matrix[:, 2]


def frame_face(landmarks: np.ndarray, width: int, height: int) -> Frame:
    """Head and shoulders: eyes a little above the middle, the face about 40% of the short side,
    and the eye line level."""
    right_eye = landmarks[faces.RIGHT_EYE].mean(0)
    left_eye = landmarks[faces.LEFT_EYE].mean(0)
    eye_mid = (right_eye + left_eye) / 2
    mouth = landmarks[faces.OUTER_LIPS].mean(0)
    interocular = float(np.linalg.norm(left_eye - right_eye))
    scale = 0.17 * min(width, height) / interocular
    angle = float(np.degrees(np.arctan2(*(left_eye - right_eye)[::-1])))
    centre = eye_mid * 0.6 + mouth * 0.4
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
    matrix[:, 2] += np.array([width / 2, height * 0.45]) - centre
    return Frame(width, height, matrix)


@dataclass(slots=True)
class Rig:
    """Vertices (canvas pixels), their 3D lift and roles, and a fixed triangulation."""

    canvas: np.ndarray  # H×W×3 uint8, the framed photo
    landmarks: np.ndarray  # (68, 2) canvas pixels
    head: HeadModel
    vertices: np.ndarray  # (V, 2); the first 68 are the landmarks, then 2 iris centres
    points3d: np.ndarray  # (V, 3)
    roles: np.ndarray  # (V,) int
    triangles: np.ndarray  # (T, 3)
    interocular: float
    down: np.ndarray  # unit vector from the eyes towards the chin
    across: np.ndarray  # unit vector from the subject's right eye to the left
    lip_gap: float  # the photo's mean inner-lip opening, pixels
    zoom: float = 1.0  # canvas pixels per photo pixel
    # The mesh's own points on and over the eyelids (vertex indices), and where a blink takes
    # each one (canvas pixels, from rest to the eye shut).
    lids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.intp))
    lid_travel: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    person: np.ndarray | None = None  # H×W float32: 1 on the person, 0 on the background
    plate: np.ndarray | None = None  # H×W×3 uint8: the background, the person painted out
    front: np.ndarray | None = None  # H×W×3 uint8: the canvas unmixed from the background
    # How much each vertex is the head's outline rather than a point of its skin (0..1):
    # the jaw line, as far back as it lies (see ``_outline``).
    outline: np.ndarray = field(default_factory=lambda: np.zeros(0))

    IRIS = (68, 69)  # subject's right, left


@dataclass(frozen=True, slots=True)
class Reference:
    """A photo of the same person, rigged on the same canvas as the primary, that can lend
    the texture of its open mouth (teeth, tongue), its smile or its turned face."""

    rig: Rig
    jaw_open: float  # how open its mouth is, in the controls' units
    smile: float
    facing: float  # which way the face looks, radians (the sign of FaceControls.yaw)

    @classmethod
    def of(cls, rig: Rig) -> Reference:
        jaw = rig.lip_gap / (0.55 * rig.interocular)
        corners = rig.landmarks[[48, 54]].mean(0) - rig.landmarks[[51, 57]].mean(0)
        smile = float(np.clip(-(corners @ rig.down) / (0.1 * rig.interocular), 0.0, 1.0))
        return cls(rig, float(np.clip(jaw, 0.0, 1.0)), smile, facing_yaw(rig.head))


def build_rig(
    photo: np.ndarray, landmarks: np.ndarray, width: int, height: int, separate: bool = True
) -> Rig:
    """Frame and rig ``photo``; ``separate`` also tells the person from the background (the
    primary photo; references lend their faces only)."""
    frame = frame_face(landmarks, width, height)
    canvas = _framed(photo, frame)
    marks = frame.apply(landmarks)
    head = fit_head(marks, width, height)

    right_eye, left_eye = marks[faces.RIGHT_EYE].mean(0), marks[faces.LEFT_EYE].mean(0)
    across = (left_eye - right_eye) / np.linalg.norm(left_eye - right_eye)
    down = np.array([-across[1], across[0]])
    interocular = float(np.linalg.norm(left_eye - right_eye))
    centre = marks.mean(0)

    extra: list[np.ndarray] = [right_eye, left_eye]  # iris centres
    # Cheeks between the mouth corners, the nose wings and the jaw: without them long thin
    # triangles run from a mouth corner to the jaw, and a turned head smears along them.
    # Each sits a little below the line's midpoint: on the line, the triangle it made with the
    # line's ends had no area in the photo and opened into a hole as the mouth moved; above
    # it, a dropping mouth corner folded the triangles over it.
    for corner, jaw_point in CHEEKS:
        extra.append(0.5 * (marks[corner] + marks[jaw_point]) + CHEEK_DROP * interocular * down)
    roles = [HEAD] * (70 + len(CHEEKS))
    # Forehead and hair: the jaw line mirrored above the brows, then a wider ring.
    brow_top = marks[faces.BROWS].min(0)[1]
    for k, stretch in ((1.0, 0.55), (1.35, 0.95)):
        for t in np.linspace(-1, 1, 9):
            x = centre[0] + t * interocular * 1.45 * k
            y = brow_top - interocular * stretch * np.sqrt(max(0.0, 1 - 0.6 * t * t))
            extra.append(np.array([x, y]))
            roles.append(HEAD if k == 1.0 else HAIR)
    # Cheeks and hair at the sides; the neck below the jaw; shoulders lower still.
    jaw = marks[faces.JAW]
    assert 68 + len(extra) == JAW_RING
    for i, p in enumerate(jaw):
        outward = p - centre
        outward /= np.linalg.norm(outward)
        extra.append(p + outward * interocular * 0.45)
        roles.append(HAIR if i < 5 or i > 11 else NECK)
    chin = marks[8]
    for t in (-0.9, -0.45, 0.0, 0.45, 0.9):
        extra.append(chin + down * interocular * 0.9 + across * t * interocular)
        roles.append(NECK)
    for t in (-2.2, -1.5, 1.5, 2.2):
        extra.append(chin + down * interocular * 1.6 + across * t * interocular)
        roles.append(SHOULDERS)
    # The canvas border never moves.
    for x in np.linspace(0, width - 1, 6):
        extra += [np.array([x, 0.0]), np.array([x, height - 1.0])]
        roles += [BORDER, BORDER]
    for y in np.linspace(0, height - 1, 6)[1:-1]:
        extra += [np.array([0.0, y]), np.array([width - 1.0, y])]
        roles += [BORDER, BORDER]

    first_lid = 68 + len(extra)
    lid_points, lid_travel, lid_open = _lid_points(marks, down, interocular)
    extra += list(lid_points)
    roles += [HEAD] * len(lid_points)
    vertices = np.vstack([marks, np.array(extra)])
    vertices[:, 0] = vertices[:, 0].clip(0, width - 1)
    vertices[:, 1] = vertices[:, 1].clip(0, height - 1)
    role_array = np.array(roles)
    points3d = np.vstack([head.points, head.depth_at(vertices[68:])])

    lip_gap = lips.lip_gap(marks)
    lid_index = np.arange(first_lid, first_lid + len(lid_points))
    triangles = _triangulate(vertices, marks, down, interocular, (lid_index, lid_open))
    rig = Rig(
        canvas,
        marks,
        head,
        vertices,
        points3d,
        role_array,
        triangles,
        interocular,
        down,
        across,
        lip_gap,
        float(np.sqrt(abs(np.linalg.det(frame.matrix[:, :2])))),
        lids=lid_index,
        lid_travel=lid_travel,
        outline=_outline(points3d, role_array),
    )
    if separate and shows_background(_photo_area(photo, frame), marks, interocular):
        person = person_mask(canvas, marks, interocular)
        rig.front, rig.plate, rig.person = layers(canvas, person, interocular)
    return rig


def _outline(points3d: np.ndarray, roles: np.ndarray) -> np.ndarray:
    """How much each vertex is the head's outline rather than a point of its skin (0..1): the
    jaw line, the more the further back it lies (the eyes' outer corners' depth 0, the jaw
    line's deepest 1, to the fourth power: the temples, level with the eyes, are outline; the
    jaw by the mouth turns as skin). An outline stays about where it is as the head turns
    away, the skin sliding round behind it (a ball turned about its centre keeps its outline).
    Turned as a point of the skin, the far temple's edge met the eye's outer corner, and the
    hair behind it showed in a V. The hair's outer points are the head's outline too: turned as
    points of the skin, the far side's came in by 0.4 of the hair's width beside the temple
    (held still, its jaw line did not), and the hair there was pressed into a dark band."""
    z = points3d[:, 2]
    front = float(z[[36, 45]].mean())
    back = float(z[:17].max())
    weight = np.zeros(len(z))
    weight[:17] = np.clip((z[:17] - front) / max(back - front, 1e-6), 0.0, 1.0) ** 4
    weight[roles == HAIR] = 1.0
    return weight


def _photo_area(photo: np.ndarray, frame: Frame) -> np.ndarray:
    """Where the canvas shows the photo's own pixels (bool H×W)."""
    ones = np.ones(photo.shape[:2], np.float32)
    reach = cv2.warpAffine(ones, frame.matrix, (frame.width, frame.height), flags=cv2.INTER_LINEAR)
    inside: np.ndarray = reach > 0.999
    return inside


def _framed(photo: np.ndarray, frame: Frame) -> np.ndarray:
    """The photo on the output canvas. Where it does not reach (a portrait photo in a 16:9
    frame), the canvas shows the photo mirrored at its edge and blurred far out of focus,
    faded in over a soft seam: no streaks of repeated edge pixels."""
    size = (frame.width, frame.height)
    canvas = cv2.warpAffine(
        photo, frame.matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    ones = np.ones(photo.shape[:2], np.float32)
    reach = cv2.warpAffine(ones, frame.matrix, size, flags=cv2.INTER_LINEAR)
    if reach.min() > 0.999:
        return canvas
    mirrored = cv2.warpAffine(
        photo, frame.matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )
    # Blurred far enough that no feature of the photo (a face) reads in it: on a copy an
    # eighth the size, which is also quicker.
    small = cv2.resize(
        mirrored, (max(1, size[0] // 8), max(1, size[1] // 8)), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (0, 0), 0.08 * max(size) / 8)
    far = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)
    seam = 0.025 * max(size)
    inside = cv2.erode((reach > 0.999).astype(np.uint8), np.ones((3, 3), np.uint8))
    keep = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), seam)[..., None]
    keep = np.clip(keep * 2.0 - 1.0, 0.0, 1.0) * inside[..., None]  # the photo stays itself
    # Towards its edges the photo itself goes out of focus, as a lens's depth of field would:
    # the sharp rectangle set in a blur read as a photo laid on a table.
    quarter = cv2.resize(canvas, (max(1, size[0] // 4), max(1, size[1] // 4)))
    quarter = cv2.GaussianBlur(quarter, (0, 0), 0.006 * max(size))
    soft = cv2.resize(quarter, size, interpolation=cv2.INTER_LINEAR)
    focus = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 4.0 * seam)[..., None]
    focus = np.clip(focus * 2.0 - 1.0, 0.0, 1.0) ** 0.5
    photo_part = canvas * focus + soft * (1.0 - focus)
    out: np.ndarray = (photo_part * keep + far * (1.0 - keep)).astype(np.uint8)
    return out


def _lid_points(
    marks: np.ndarray, down: np.ndarray, interocular: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points of the mesh's own on the eyelids, where dlib has only two on each lid: shut
    with those alone, a lid was a polyline with a dark wedge of lashes at each corner. Per eye,
    on the lids' curve: halfway from each corner to the first landmark and halfway between the
    two, above and below. Returns the points (per eye: upper, lower from the first corner
    to the second), where a blink takes each (canvas pixels: the pair meets where the
    landmarks' pairs meet), and how far each moves in the open pose the triangulation is made
    on (as far as the landmarks either side of it)."""
    points, travel, opened = [], [], []
    lift = 0.12 * interocular * down
    for eye in EYES:
        # Segments run corner, upper, upper, corner, lower, lower, 4 curve points each.
        curve = lips.smooth_closed(marks[list(eye)], steps=4)
        for upper, lower, share in ((2, 22, 0.5), (6, 18, 1.0), (10, 14, 0.5)):
            gap = curve[lower] - curve[upper]
            points += [curve[upper], curve[lower]]
            travel += [gap * (1.0 - MEET), -gap * MEET]
            opened += [-share * lift, share * lift]
    return np.array(points), np.array(travel), np.array(opened)


def eye_ring(rig: Rig, eye: int) -> np.ndarray:
    """Vertex indices round eye ``eye`` (0: the subject's right) in order: its landmarks and
    the lid points between them."""
    e = EYES[eye]
    u0, l0, u1, l1, u2, l2 = rig.lids[6 * eye : 6 * eye + 6]
    return np.array([e[0], u0, e[1], u1, e[2], u2, e[3], l2, e[4], l1, e[5], l0])


def _triangulate(
    vertices: np.ndarray,
    marks: np.ndarray,
    down: np.ndarray,
    interocular: float,
    lids: tuple[np.ndarray, np.ndarray],
) -> np.ndarray:
    """Delaunay over the vertices as they would sit with the mouth and eyes wide open, so that
    lips and lids get their own triangles and an opening never drags the other lip along."""
    opened = vertices.copy()
    # The lower lip drops whole; elsewhere the drop ramps in with the distance below the mouth,
    # so no sliver of triangles runs across the cheeks at the mouth's height.
    mouth_line = float(marks[[61, 62, 63]].mean(0) @ down)
    ramp = np.clip(((vertices @ down) - mouth_line) / (0.4 * interocular), 0.0, 1.0)
    ramp[[55, 56, 57, 58, 59, 65, 66, 67]] = 1.0
    ramp[[48, 54, 60, 64]] = 0.5
    opened += down * interocular * 0.5 * ramp[:, None]
    for upper, lower_lid in (((37, 38), (41, 40)), ((43, 44), (47, 46))):
        opened[list(upper)] -= down * interocular * 0.12
        opened[list(lower_lid)] += down * interocular * 0.12
    index, lid_open = lids
    opened[index] += lid_open
    return np.asarray(Delaunay(opened).simplices, dtype=np.int32)
