"""From controls to pixels: move the rig's vertices, warp the original canvas, paint the mouth.

Every frame is warped from the rig's original canvas, never from the previous frame, so nothing
accumulates and a 45-minute session looks like its first minute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from .composite import Compositor
from .controls import FaceControls
from .eyes import EYES, GAZE, MEET, UPPER_LIDS, cut_eyes, paint_eye
from .eyes import outline as eye_outline
from .interior import Interior, Palette
from .lips import inner_outline, lip_gap, open_outline, rounded_sides, smooth_closed
from .occluder import find_occluder
from .pose import facing_yaw
from .rig import (
    BORDER,
    CHEEKS,
    FOLLOW,
    HAIR,
    JAW_RING,
    NECK,
    SHOULDERS,
    Reference,
    Rig,
    eye_ring,
)
from .warp import Warper, label_triangles, sample_map, signed_area, triangle_affines

# Weights of the lower face that drop with the jaw. The jaw line beside the chin drops nearly
# as far as the chin (a jaw turns about the ears, and the chin's sides are about as far in front
# of them as its point): at 0.85 and 0.6 one and two points out, a wide-open jaw narrowed the
# chin to a point (the angle across it 137 -> 105-110 degrees at jaw .98, t1 and astronaut).
_JAW_WEIGHTS = {
    4: 0.15,
    5: 0.35,
    6: 0.78,
    7: 0.95,
    8: 1.0,
    9: 0.95,
    10: 0.78,
    11: 0.35,
    12: 0.15,
    55: 1.0,
    56: 1.0,
    57: 1.0,
    58: 1.0,
    59: 1.0,
    65: 1.0,
    66: 1.0,
    67: 1.0,
    48: 0.45,
    54: 0.45,
    60: 0.5,
    64: 0.5,
}
_JAW_LINE = list(range(4, 13))  # the jaw line's landmarks that drop with the jaw
MAX_TURN = 0.35  # radians
BREATH = 0.035  # eye distances a full breath lifts the neck and the shoulders
_OCCLUDER_STEP = 4  # px: the grid an occluder's map is computed on
_NEAR_OCCLUDER = np.ones((5, 5), np.uint8)  # 2 px round the occluder's place
_AROUND = np.ones((5, 5), np.uint8)  # 2 px round a piece torn off
# How far a wide-open jaw brings the side inner-lip points onto the rounded outline (upper,
# lower): the upper lip less, as it carries a photo's own teeth.
ROUNDING = np.array([0.5, 0.5, 1.0, 1.0])
LIP_RIM = 0.04  # eye distances over which the lips' inner sides turn into the cavity's dark
LIP_RIM_STRENGTH = 0.85  # how much of the lip's colour shows at the opening's edge
LIP_RIM_SHADE = 0.75  # how dark the lip's inner side is at the edge, of the lip's colour
SMILE_OPENING = 0.4  # a reference opened less than this (controls' units) shows no lower teeth
FOLD_TURN = 0.2  # radians: past this turn the warp's folds are softened, fully at MAX_TURN
CHEEK_RISE = 0.45  # how far the cheeks beside the nose rise with a smile, of the corners' lift
# How far a turn may widen the face across, of the photo's own spacing (the rows of landmarks
# in ``_ROWS``): a photo turned away shows its far side foreshortened, and turning it back
# stretched those few pixels over a whole cheek (Hanks' sample, facing 0.35 rad: 6.5 times).
# A frontal photo widens its near side 2.0 times at MAX_TURN, and keeps its full turn.
MAX_STRETCH = 2.2
_ROWS = ((0, 36, 39, 42, 45, 16), (2, 31, 33, 35, 14), (4, 48, 51, 54, 12))
# Of the photo's gap between a point of the far side and the outline beside it, how much a
# turn leaves at least (a cylinder turned 0.35 rad leaves 0.37 beside a mouth's corner).
FORESHORTEN = 0.35
# Per side (the subject's right, turning to the viewer's left; the subject's left): (inner,
# outline) pairs, mouth, nose, eye; and the jaw line's points on that side from the chin out
# (the chin itself included: the push eases off to it).
_FAR_ROWS = (((48, 4), (31, 2), (36, 0)), ((54, 12), (35, 14), (45, 16)))
_FAR_JAW = ((8, 7, 6, 5, 4, 3, 2, 1, 0), (8, 9, 10, 11, 12, 13, 14, 15, 16))
LID_MARGIN = 0.017  # eye distances outside the eye's outline that a shut lid's edge shows
# How far each brow point (17..26, outer right to outer left) moves as the brows rise (an arch,
# the middle most) and as they frown (the inner ends most), and which way is outwards.
_BROW_ARCH = np.array([0.6, 0.85, 1.0, 0.95, 0.8, 0.8, 0.95, 1.0, 0.85, 0.6])
_BROW_FROWN = np.array([0.3, 0.45, 0.65, 0.85, 1.0, 1.0, 0.85, 0.65, 0.45, 0.3])
_BROW_SIDE = np.array([-1.0] * 5 + [1.0] * 5)


# The part of a reference that lends its mouth: lips, chin, jaw and the bottom of the nose.
_MOUTH_PART = np.array([*range(2, 15), *range(31, 36), *range(48, 68)])
# The part a turned reference lends: the whole face inside the jaw line and the brows.
_FACE_PART = np.arange(68)
_FACE_OUTLINE = [*range(17), *range(26, 16, -1)]
_FRONTAL = 0.12  # radians: a reference turned less than this faces the camera like the photo


@dataclass(frozen=True, slots=True)
class _Lender:
    """A reference ready to lend a part of its face: the part's triangles and the reference's
    colour correction."""

    reference: Reference
    part: np.ndarray
    triangles: np.ndarray
    gain: np.ndarray
    offset: np.ndarray
    turn: float  # how far it looks away from the primary photo's direction, radians
    bite: np.ndarray  # where its upper teeth end between the inner-lip pairs (0 top, 1 bottom)
    teeth: np.ndarray | None  # the colour of its teeth (RGB, as the primary is lit), if shown

    @classmethod
    def of(cls, rig: Rig, reference: Reference, part: np.ndarray) -> _Lender:
        triangles = Delaunay(reference.rig.landmarks[part]).simplices.astype(np.int32)
        gain, offset = _colour_match(rig, reference.rig)
        turn = reference.facing - facing_yaw(rig.head)
        # A smile's opening shows its upper teeth down to the lower lip: split where they end.
        # A wider one shows its cavity and lower teeth, split in their middle as before.
        if reference.jaw_open < SMILE_OPENING:
            bite, teeth = _biting_edge(reference.rig)
        else:
            bite, teeth = np.full(3, 0.5), None
        if teeth is not None:
            teeth = np.clip(teeth * gain + offset, 0, 255).astype(np.float32)
        return cls(reference, part, triangles, gain, offset, turn, bite, teeth)


class Renderer:
    def __init__(self, rig: Rig, references: Sequence[Reference] = ()) -> None:
        self.rig = rig
        # A photo with an open mouth lends its own teeth first of all: at rest it is unchanged.
        own = [Reference.of(rig)] if rig.lip_gap > 0.03 * rig.interocular else []
        lenders = [_Lender.of(rig, ref, _MOUTH_PART) for ref in [*own, *references]]
        frontal = [m for m in lenders[len(own) :] if abs(m.turn) < _FRONTAL]
        # Open mouths lend teeth and the mouth interior; smiles lend the smiling lips; turned
        # heads lend the whole face as the head turns their way.
        self._mouths = lenders[: len(own)] + [m for m in frontal if m.reference.jaw_open >= 0.1]
        self._smiles = [m for m in frontal if m.reference.smile >= 0.5]
        self._turns = [
            _Lender.of(rig, m.reference, _FACE_PART)
            for m in lenders[len(own) :]
            if abs(m.turn) >= _FRONTAL
        ]
        h, w = rig.canvas.shape[:2]
        self.warper = Warper(w, h, step=4 if max(w, h) <= 720 else 5)
        self._jaw_index = np.array(list(_JAW_WEIGHTS))
        self._jaw_weight = np.array(list(_JAW_WEIGHTS.values()))[:, None]
        # For the fold repair: which vertices may give way, and each one's neighbours.
        n = len(rig.vertices)
        self._free = (np.arange(n) >= 70) & (rig.roles != BORDER) & ~np.isin(np.arange(n), rig.lids)
        touch = np.zeros((n, n), np.float32)
        for a, b in ((0, 1), (1, 2), (2, 0)):
            touch[rig.triangles[:, a], rig.triangles[:, b]] = 1.0
            touch[rig.triangles[:, b], rig.triangles[:, a]] = 1.0
        self._neighbours = touch / np.maximum(touch.sum(1, keepdims=True), 1.0)
        self._rest_area = np.where(
            np.abs(rest := signed_area(rig.vertices, rig.triangles)) > 0.5, rest, 0.0
        )
        depth = rig.points3d[rig.triangles, 2].mean(axis=1)
        self._order = np.argsort(-depth)  # far first: near triangles are drawn over them
        self._interior = Interior(
            Palette.of(rig.canvas, rig.landmarks, rig.zoom), rig.interocular, rig.across
        )
        # A closed-mouth photo's own small opening is the lips touching (dlib leaves a pixel or
        # two between them, or crosses them): only an opening beyond it shows the inside.
        self._seam = 0.0 if own else rig.lip_gap
        # A photo with an open mouth, its opening painted over with lip: what a closure shows
        # (pressed together, its own teeth and dark corners would read as brown "horns").
        self._sealed = _sealed_mouth(rig) if own else None
        # The eyes' layers, and which vertices the eye layers draw (the mesh leaves them open).
        self._eyes = cut_eyes(
            rig.front if rig.front is not None else rig.canvas, rig.landmarks, rig.interocular
        )
        self._eye_index = np.array([*range(36, 48), *rig.lids, *rig.IRIS])
        # The lids' edges, upper then lower, and how far outside the opening a shut lid's
        # edge takes its pixels from (canvas pixels, up for the upper lid, down for the lower).
        # The corners go out along the eye, away from its middle.
        upper = [37, 38, 43, 44, *rig.lids[0::2]]
        lower = [41, 40, 47, 46, *rig.lids[1::2]]
        self._lid_edges = np.array([*upper, *lower, 36, 39, 42, 45])
        reach = LID_MARGIN * rig.interocular
        self._lid_margin = reach * np.vstack(
            [
                np.outer(np.repeat([-1.0, 1.0], [len(upper), len(lower)]), rig.down),
                np.outer([-1.0, 1.0, -1.0, 1.0], rig.across),
            ]
        )
        # Only where an eye's outline is as light as its lid (a drawing's edge of white): a
        # photo's lids end in their lashes, which a shut eye should show.
        drawn = _bright_lid_edges(rig)
        in_right = np.isin(self._lid_edges, [*range(36, 42), *rig.lids[:6]])
        self._lid_margin *= np.where(in_right, drawn[0], drawn[1])[:, None]
        # How much each vertex (and each of the eyes' held points after them) follows the head's
        # turn, how much it is the head's outline, and which side of the face it lies on
        # (-1 .. 1, the subject's right to left, across the middle half of the eye distance).
        self._follow = FOLLOW[np.concatenate([rig.roles, rig.roles[self._eye_index]])]
        outline = rig.outline if len(rig.outline) else np.zeros(n)
        self._outline = np.concatenate([outline, np.zeros(len(self._eye_index))])
        side = (rig.vertices - rig.landmarks.mean(0)) @ rig.across / (0.5 * rig.interocular)
        self._lateral = np.clip(np.concatenate([side, side[self._eye_index]]), -1.0, 1.0)
        self._depth = np.concatenate([rig.points3d[:, 2], rig.points3d[self._eye_index, 2]])
        # What lies in front of the person below the chin, which the jaw must not drag: where
        # the jaw's motion reaches (the triangles hung from the jaw line, and the chin's sweep
        # as it drops as far as it goes).
        # The jaw line drags the mesh's own points below it as it drops past them (they give
        # way in ``_untangle``), and those drag their triangles in turn.
        hung = np.unique(rig.triangles[np.isin(rig.triangles, _JAW_LINE).any(axis=1)])
        below = hung[(hung >= 70) & np.isin(rig.roles[hung], (HAIR, NECK, SHOULDERS))]
        self._dragged = np.array([*_JAW_LINE, *below])
        moved = rig.triangles[np.isin(rig.triangles, self._dragged).any(axis=1)]
        line = rig.landmarks[_JAW_LINE]
        swept = line + (0.55 * rig.interocular + 2.0) * self._jaw_weight[: len(line)] * rig.down
        sweep = np.stack([line[:-1], line[1:], swept[1:], swept[:-1]], axis=1)
        self._occluder = find_occluder(
            rig.canvas,
            rig.landmarks,
            [*rig.vertices[moved], *sweep],
            rig.interocular,
            rig.person,
        )
        self._reach = np.unique(moved)
        # The triangles that may come over it as the head turns and breathes, far first; and
        # the points dragged by the jaw among the corners of those over it at rest (none: the
        # jaw never reaches it, and it is left as it is).
        self._kept_triangles = np.zeros((0, 3), np.int32)
        self._occluder_corners = self._dragged_over = np.zeros(0, np.intp)
        self._occluder_canvas = np.zeros((0, 0), np.float32)
        self._occluder_source = rig.canvas
        self._dragged_breathing = np.isin(rig.roles[self._dragged], (NECK, SHOULDERS))
        self._jaw_reached = False  # whether the last ``_geometry`` dragged the occluder
        self._over_jaw = False  # whether the jaw line runs over the occluder
        if self._occluder is not None:
            x0, y0, x1, y1 = self._occluder.window
            corners = rig.vertices[rig.triangles]
            low, high = corners.min(axis=1), corners.max(axis=1)

            def over(margin: float) -> np.ndarray:
                hit: np.ndarray = (high[:, 0] >= x0 - margin) & (low[:, 0] <= x1 + margin)
                return hit & (high[:, 1] >= y0 - margin) & (low[:, 1] <= y1 + margin)

            self._occluder_corners = np.unique(rig.triangles[over(0.0)])
            touching = np.intersect1d(self._dragged, self._occluder_corners)
            self._over_jaw = bool(np.isin(touching, _JAW_LINE).any())
            near = self._order[over(0.5 * rig.interocular)[self._order]]
            self._kept_triangles = rig.triangles[near]
            self._dragged_over = touching
            # The occluder's mask over the whole canvas: sampled where the maps say.
            self._occluder_canvas = np.zeros(rig.canvas.shape[:2], np.float32)
            self._occluder_canvas[y0:y1, x0:x1] = self._occluder.mask
            self._occluder_source = _occluder_colours(
                rig.front if rig.front is not None else rig.canvas, self._occluder_canvas
            )
            if not len(touching):
                self._occluder = None
        self._rings = [eye_ring(rig, k) for k in range(len(EYES))]
        self._jaw_ring = JAW_RING + np.arange(17)
        # How far the last ``_geometry`` moved the side inner-lip points 61, 63, 65, 67 along
        # the mouth's vertical to round the opening.
        self._rounded = np.zeros(4)
        self._push_pose: tuple[float, float, float] | None = None
        self._push: np.ndarray | None = None
        # Per side, the least turn (to 0.01 rad, level and upright) at which anything gives
        # way; a turn much less than it skips the reckoning.
        steps = np.arange(0.01, MAX_TURN + 0.005, 0.01)
        starts = [
            next(
                (float(y) for y in steps if self._pushed(side * y, 0.0, 0.0) is not None), MAX_TURN
            )
            for side in (-1.0, 1.0)
        ]
        self._push_from = (starts[0], starts[1])
        # How far the head may turn each way (to the viewer's left, to the right): as far as
        # the photo has pixels for; a turned reference lends its own face its way. The full
        # range first: ``_turn_limit`` renders geometry, which clips the turn to this range.
        self._yaw_range = (-MAX_TURN, MAX_TURN)
        lent = [m.turn for m in self._turns]
        self._yaw_range = (
            -MAX_TURN if any(t < 0 for t in lent) else -self._turn_limit(-1.0),
            MAX_TURN if any(t > 0 for t in lent) else self._turn_limit(1.0),
        )
        self._composite = (
            Compositor(rig.front, rig.plate, rig.person)
            if rig.person is not None and rig.plate is not None and rig.front is not None
            else None
        )

    def _geometry(self, c: FaceControls) -> np.ndarray:
        """The mesh's vertices for these controls (canvas pixels), irises still, followed by
        the eyes' landmarks held open and the iris centres as the gaze moves them (in
        ``_eye_index`` order)."""
        rig = self.rig
        io, down, across = rig.interocular, rig.down, rig.across
        p = rig.vertices.copy()

        # Mouth: the lower lip, chin and jaw drop together; corners spread, round or smile.
        # At rest the mouth keeps the photo's own shape; speech opens it from there towards
        # the widest, and a closure (p, b, m) presses the lips together whatever the photo shows.
        # A frown or a lip press (a negative smile) closes the photo's own opening at rest.
        closure, press = _closure(c), _press(c)
        widest = io * 0.55
        rest = min(rig.lip_gap, widest) * (1.0 - press)
        gap = (1.0 - closure) * (rest + (widest - rest) * c.jaw_open)
        p[self._jaw_index] += self._jaw_weight * (gap - rig.lip_gap) * down
        if (shut := max(closure, press)) > 0.0:
            # The photo's lips need not part evenly: a closure presses each pair of inner-lip
            # points together along the mouth's vertical, never past each other.
            apart = (p[[67, 66, 65]] - p[[61, 62, 63]]) @ down
            p[[67, 66, 65]] -= shut * apart[:, None] * down
        width = float(np.linalg.norm(rig.landmarks[54] - rig.landmarks[48]))
        # An opening jaw draws the corners in a little: an open mouth is an oval.
        spread = (0.10 * c.lip_width - 0.16 * c.lip_round + 0.06 * c.smile) * width
        spread -= 0.05 * width * c.jaw_open * (1.0 - closure)
        lift = 0.13 * io * c.smile
        for corner, side in ((48, -1), (60, -1), (54, 1), (64, 1)):
            p[corner] += side * spread * across - lift * down
        for point, side in ((49, -1), (59, -1), (53, 1), (55, 1)):
            p[point] += 0.5 * side * spread * across - 0.5 * lift * down
        # The inner lips stretch sideways as the jaw drops: the opening squares off and shows
        # the teeth beside the front two, not an eye-shaped slit round them.
        stretch = 0.06 * width * c.jaw_open * (1.0 - closure)
        for point, side in ((61, -1), (67, -1), (63, 1), (65, 1)):
            p[point] += side * stretch * across
        self._rounded = np.zeros(4)
        if (opening := c.jaw_open * (1.0 - closure)) > 0.0:
            # Opened wide, the eight inner-lip points made a hexagon, flat across the top and
            # the bottom with straight sides down to the corners: the side points come in onto
            # a rounded outline through the middle ones, as far as the jaw has opened. (Kept:
            # a lent mouth is warped without it, ``_reference_mouth``.)
            move = rounded_sides(inner_outline(p[:68]), across)
            self._rounded = ROUNDING * opening * move * np.array([1.0, 1.0, -1.0, -1.0])
            p[[61, 63, 65, 67]] += self._rounded[:, None] * down
        # The cheek points lie near the middle of a line from a mouth corner or nose wing to
        # the jaw (rig.py) and move as the middle of that line does.
        for k, (inner, jaw) in enumerate(CHEEKS):
            v = 70 + k
            p[v] = rig.vertices[v] + 0.5 * (
                p[inner] - rig.vertices[inner] + p[jaw] - rig.vertices[jaw]
            )
        # A smile raises the cheeks over the corners as well: the points between the nose's
        # wings and the jaw rise with it. Left behind, the raised corner met them and the
        # skin folded along a straight crease out from each corner. An opening jaw draws the
        # corners down, away from them, so the cheeks rise less (and keep the face's shape).
        rise = CHEEK_RISE * max(lift, 0.0) * (1.0 - min(max(c.jaw_open, 0.0), 1.0))
        p[[72, 73]] -= rise * down
        self._untangle(p, self._free)
        if self._occluder is not None:
            # Whether the jaw moved the points over the occluder (for ``_keep_occluder``): the
            # jaw line's own, or the mesh's points it pushed as it dropped past them.
            over = self._dragged_over
            self._jaw_reached = (self._over_jaw and abs(gap - rig.lip_gap) >= 0.05) or bool(
                (p[over] != rig.vertices[over]).any()
            )
        # Brows: raised, they lift in an arch (the middle of each brow most); lowered (a frown),
        # they come down and the inner ends draw together.
        raise_ = max(c.brow_raise, 0.0)
        lower = max(-c.brow_raise, 0.0)
        p[17:27] -= (0.13 * io * raise_ * _BROW_ARCH[:, None]) * down
        p[17:27] += (0.08 * io * lower * _BROW_FROWN[:, None]) * down
        p[17:27] -= (0.05 * io * lower * _BROW_FROWN[:, None] * _BROW_SIDE[:, None]) * across
        # Eyes: the lids close towards where they meet, drawing their skin and lashes down.
        # The eyeballs are layers (eyes.py) sampled with the eyes held open, and the irises
        # follow the gaze there: the mesh keeps them still, so no glance stretches the eye.
        # Kept beside the mesh: the eyes' landmarks held open, then the irises as shown.
        held = p[self._eye_index].copy()
        held[-2:] += self._gaze_offset(c)
        for upper, lower in UPPER_LIDS:
            travel = p[lower] - p[upper]
            p[upper] += travel * (1.0 - MEET) * c.blink
            p[lower] -= travel * MEET * c.blink
        # The mesh's iris vertex sits between the lids: it goes down with them (its triangles
        # would fold over otherwise), whatever the eyeball under them does.
        p[rig.lids] += rig.lid_travel * c.blink
        for iris, eye in zip(rig.IRIS, EYES, strict=True):
            p[iris] += (p[list(eye)].mean(0) - p[iris]) * c.blink
        # Breathing lifts the shoulders and the neck a little.
        p[rig.roles >= 2] -= (BREATH * io * c.breath) * down * (rig.roles[rig.roles >= 2, None] < 4)
        p = np.vstack([p, held])

        # Head pose: lift to 3D at each vertex's depth, turn as much as its role follows.
        # A single photo holds up to about 20 degrees of turn; beyond that the warp tears.
        if any((c.yaw, c.pitch, c.roll)):
            p = self._turn(p, np.arange(len(p)), c)
            # Turned, the far side's jaw line passes the cheek and eye points inside it and
            # folds the skin between them: the jaw line may give way too.
            self._untangle(p, self._free | (np.arange(len(self._free)) < 17))
        return p

    def stretch(self, mesh: np.ndarray) -> float:
        """How far ``mesh`` widens the face across at most: the largest ratio of a gap between
        neighbours in ``_ROWS`` to the photo's (each gap at least 0.05 eye distances)."""
        rig = self.rig
        ratios = [
            np.diff(mesh[list(row)] @ rig.across)
            / np.maximum(np.diff(rig.vertices[list(row)] @ rig.across), 0.05 * rig.interocular)
            for row in _ROWS
        ]
        return float(np.concatenate(ratios).max())

    def _turn_limit(self, side: float) -> float:
        """The largest turn towards ``side`` (-1: the viewer's left) up to MAX_TURN that
        widens the face no more than MAX_STRETCH (to 0.005 rad)."""
        n = len(self.rig.vertices)
        if self.stretch(self._geometry(FaceControls(yaw=side * MAX_TURN))[:n]) <= MAX_STRETCH:
            return MAX_TURN
        low, high = 0.0, MAX_TURN
        while high - low > 0.005:
            middle = 0.5 * (low + high)
            widened = self.stretch(self._geometry(FaceControls(yaw=side * middle))[:n])
            low, high = (middle, high) if widened <= MAX_STRETCH else (low, middle)
        return low

    def yaw(self, c: FaceControls) -> float:
        """The turn shown for ``c.yaw``: within MAX_TURN, and as far as the photo allows."""
        return float(np.clip(c.yaw, *self._yaw_range))

    def _turn(self, p: np.ndarray, rows: np.ndarray, c: FaceControls) -> np.ndarray:
        """Points ``p``, the geometry's rows ``rows`` (``_geometry``'s order: the mesh's
        vertices, then the eyes' held points), turned as the head's pose turns each: lifted
        to 3D at the vertex's depth, turned as much as its role follows."""
        yaw = self.yaw(c)
        pitch, roll = (float(np.clip(a, -MAX_TURN, MAX_TURN)) for a in (c.pitch, c.roll))
        if not (yaw or pitch or roll):
            return p
        out = self._turned(p, rows, yaw, pitch, roll)
        if yaw:
            # The far side's outline gives way outwards where the skin turning towards it
            # would come closer to it than FORESHORTEN of the photo's spacing.
            push = self._far_push(yaw, pitch, roll)
            if push is not None:
                out += np.outer(push[rows], np.sign(yaw) * self.rig.across)
        return out

    def _turned(
        self, p: np.ndarray, rows: np.ndarray, yaw: float, pitch: float, roll: float
    ) -> np.ndarray:
        head = self.rig.head
        points = head.unproject(p, self._depth[rows])
        follow = self._follow[rows]
        # The outline on the side turning away stays about where it is (rig._outline).
        far = np.clip(self._lateral[rows] * np.sign(yaw), 0.0, 1.0)
        turned = head.turn_each(
            points, yaw * follow * (1.0 - self._outline[rows] * far), pitch * follow, roll * follow
        )
        out = p.copy()
        moves = follow > 0.0
        out[moves] = head.project(turned[moves])
        return out

    def _far_push(self, yaw: float, pitch: float, roll: float) -> np.ndarray | None:
        """How far (canvas pixels, outwards) each vertex of the far side's jaw line gives way
        for this pose, the rest of the mesh 0: the outline point of each of ``_FAR_ROWS``
        (the eye's outer corner, the nose's wing, the mouth's corner, each to the jaw line)
        keeps at least FORESHORTEN of the photo's gap from the point inside it as both turn,
        and the jaw line round it gives way smoothly. Held
        still while the mouth's corner turned into it, the far cheek was squeezed to nothing
        (the astronaut at +0.35: 0.00 of its width between the corner and the jaw). None
        where nothing gives way; the last pose's answer is kept (a frame asks twice)."""
        if self._push_pose == (yaw, pitch, roll):
            return self._push
        if abs(yaw) < 0.8 * self._push_from[1 if yaw > 0 else 0]:
            return None  # far from the turn where anything gives way (most frames)
        self._push_pose = (yaw, pitch, roll)
        self._push = self._pushed(yaw, pitch, roll)
        return self._push

    def _pushed(self, yaw: float, pitch: float, roll: float) -> np.ndarray | None:
        rig, side = self.rig, 1 if yaw > 0 else 0
        rows = _FAR_ROWS[side]
        flat = np.array([v for row in rows for v in row])
        turned = self._turned(rig.vertices[flat], flat, yaw, pitch, roll)
        towards = np.sign(yaw) * rig.across
        push = np.zeros(len(rig.vertices))
        jaw = _FAR_JAW[side]
        for k, (inner, outer) in enumerate(rows):
            rest = float((rig.vertices[outer] - rig.vertices[inner]) @ towards)
            now = float((turned[2 * k + 1] - turned[2 * k]) @ towards)
            push[outer] = max(0.0, FORESHORTEN * rest - now)
        if not push.any():
            return None
        # The jaw line gives way evenly round each: a point j steps along it from a row's
        # outline point as much as that row's push for j <= 1, then (5 - j) / 4 of it, the
        # most of the rows', easing off down to the chin. (Peaked at the row's point and
        # stopping two points above the chin, the line bent inwards below the mouth's corner
        # and the far cheek bulged at mouth level: astronaut and t1 at +0.35.)
        steps = np.arange(len(jaw))
        for _, outer in rows:
            at = jaw.index(outer)
            reach = np.clip((5.0 - np.abs(steps - at)) / 4.0, 0.0, 1.0) * push[outer]
            push[list(jaw)] = np.maximum(push[list(jaw)], reach)
        # The cheek points inside (between the corner or the wing and the jaw) half as much,
        # the ring outside as much: the skin between them stretches evenly, not the few pixels
        # of the face's lit edge.
        for k, (_, outer) in enumerate(CHEEKS):
            if outer in jaw:
                push[70 + k] = 0.5 * push[outer]
        push[self._jaw_ring[list(jaw)]] = push[list(jaw)]
        return np.concatenate([push, np.zeros(len(self._eye_index))])

    def _untangle(self, p: np.ndarray, free: np.ndarray) -> None:
        """Move the vertices ``free`` allows (the mesh's own cheek, neck and hair points; after
        the head's pose the jaw line too) that a folded triangle holds to the mean motion of
        their neighbours, until nothing folds (12 rounds at most). A smiling mouth's corner
        dropping with the jaw passed the cheek point below it; the fold left a hole the warp
        filled with the photo unmoved (a tear beside the corner)."""
        rig, rest = self.rig, self._rest_area
        for _ in range(12):
            folded = signed_area(p, rig.triangles) * rest < 0.0
            held = np.zeros(len(free), bool)
            held[rig.triangles[folded]] = True
            moving = free & held
            if not moving.any():
                return
            motion = p[: len(free)] - rig.vertices
            p[: len(free)][moving] = rig.vertices[moving] + self._neighbours[moving] @ motion

    def deform(self, c: FaceControls) -> np.ndarray:
        """Where every vertex goes for these controls (canvas pixels), the iris centres moved
        by the gaze."""
        p = self._geometry(c)
        n = len(self.rig.vertices)
        p[list(self.rig.IRIS)] = p[-2:]
        return p[:n]

    def _gaze_offset(self, c: FaceControls) -> np.ndarray:
        """How far the irises move for the gaze, canvas pixels (before the head turns)."""
        rig = self.rig
        eye_width = float(np.linalg.norm(rig.landmarks[39] - rig.landmarks[36]))
        return eye_width * (rig.across * c.gaze_x * GAZE[0] + rig.down * c.gaze_y * GAZE[1])

    def maps(
        self, c: FaceControls, mesh: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Where each output pixel comes from on the canvas (x and y maps), and how much of it
        is the person (None when the background is not separated): the rest shows the still
        background. ``mesh``: the vertices as ``_geometry`` places them (eyes open)."""
        rig = self.rig
        dst = self._geometry(c)[: len(rig.vertices)] if mesh is None else mesh
        map_x, map_y, _ = self.warper.backward_map(
            self._source(c), dst, rig.triangles, self._order, self._windows(dst)
        )
        alpha = None
        if rig.person is not None:
            alpha = cv2.remap(rig.person, map_x, map_y, cv2.INTER_LINEAR)
        return map_x, map_y, alpha

    def _source(self, c: FaceControls) -> np.ndarray:
        """Where the mesh's vertices take their pixels from on the canvas: where they lie,
        but for the lids' edges as the eyes shut, which take theirs from a little outside the
        opening (the lid's own margin): the eye's outline runs along the edge of its white,
        and shut, the lids drew a thread of it where they met (a drawn eye, a bright one)."""
        if c.blink <= 0.005:
            return self.rig.vertices
        source = self.rig.vertices.copy()
        source[self._lid_edges] += self._lid_margin * c.blink
        return source

    def _windows(self, dst: np.ndarray) -> list[tuple[int, int, int, int]]:
        io, shape = self.rig.interocular, self.rig.canvas.shape
        return [
            _window(dst[list(range(48, 68))], io * 0.35, shape),
            _window(dst[36:42], io * 0.25, shape),
            _window(dst[42:48], io * 0.25, shape),
        ]

    def render(self, c: FaceControls) -> np.ndarray:
        rig = self.rig
        geometry = self._geometry(c)
        n = len(rig.vertices)
        dst = geometry[:n]
        windows = self._windows(dst)
        map_x, map_y, bounds = self.warper.backward_map(
            self._source(c), dst, rig.triangles, self._order, windows
        )
        if self._composite is not None:
            # Only the person moves: the warped person over the still background.
            frame = self._composite.over(map_x, map_y, bounds)
        else:
            frame = cv2.remap(
                rig.canvas, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
        if self._occluder is not None:
            self._keep_occluder(frame, c, dst, (map_x, map_y))
        if self._turns:
            self._lend_turn(frame, dst, self.yaw(c))
        if (turn := abs(self.yaw(c))) > FOLD_TURN:
            # The folds are on the side turning away: from the nose to the head's far edge.
            x0, y0, x1, y1 = _window(dst[rig.roles <= HAIR], 0.05 * rig.interocular, frame.shape)
            nose, margin = float(dst[30, 0]), 0.15 * rig.interocular
            if c.yaw > 0:
                x0 = max(x0, int(nose - margin))
            else:
                x1 = min(x1, int(nose + margin) + 1)
            amount = min(1.0, (turn - FOLD_TURN) / (MAX_TURN - FOLD_TURN))
            _soften_folds(frame, (map_x, map_y), (x0, y0, x1, y1), amount)
        if self._sealed is not None and (shut := max(_closure(c), _press(c))) > 0.0:
            self._seal(frame, dst, windows[0], (map_x, map_y), shut)
        if self._sealed is not None and (stretch := _stretch(c)) > 0.0:
            self._hide_corners(windows[0], frame, (map_x, map_y), stretch)
        self._paint_mouth(frame, dst, windows[0])
        if c.smile > 0.2 and self._smiles:
            self._lend_smile(frame, dst, windows[0], c.smile)
        self._paint_eyes(frame, c, geometry, (map_x, map_y))
        return frame

    def _unjawed(self, c: FaceControls) -> np.ndarray:
        """The jaw line and the points it drags as the breath and the pose alone place them."""
        rig, rows = self.rig, self._dragged
        p = rig.vertices[rows].copy()
        p[self._dragged_breathing] -= BREATH * rig.interocular * c.breath * rig.down
        return self._turn(p, rows, c)

    def _keep_occluder(
        self,
        frame: np.ndarray,
        c: FaceControls,
        dst: np.ndarray,
        maps: tuple[np.ndarray, np.ndarray],
    ) -> None:
        """What lies in front below the chin (t1's cards), drawn over the frame warped as if
        the jaw had not moved: the chin drops behind it instead of dragging it down. Where
        the frame (``maps``) shows a piece of it dragged out of its place, the skin or hair
        round it shows there as it was (a fleck of the cards' white in her hair)."""
        assert self._occluder is not None
        rig = self.rig
        if not self._jaw_reached:
            return  # nothing round the occluder was dragged
        # The jaw line and the points it drags, as the breath and the pose alone place them.
        still = dst.copy()
        still[self._dragged] = self._unjawed(c)
        (ox0, oy0, ox1, oy1), mask = self._occluder.window, self._occluder_canvas
        # The occluder moves only as the breath and the pose move the skin round it.
        near = self._occluder_corners
        pad = float(np.abs(still[near] - rig.vertices[near]).max()) + 2.0
        h, w = frame.shape[:2]
        x0, y0 = max(0, int(ox0 - pad)), max(0, int(oy0 - pad))
        x1, y1 = min(w, int(np.ceil(ox1 + pad))), min(h, int(np.ceil(oy1 + pad)))
        if x1 <= x0 or y1 <= y0:
            return
        # The map on a coarse grid, interpolated (as ``Warper`` does): the skin round the
        # occluder moves smoothly, without the lips' and lids' sharp edges.
        s = _OCCLUDER_STEP
        origin = (float(x0 - s), float(y0 - s))
        grid = (-(-(y1 - y0) // s) + 2, -(-(x1 - x0) // s) + 2)
        triangles = self._kept_triangles
        affines = triangle_affines(self._source(c), still, triangles).astype(np.float32)
        labels = label_triangles(still, triangles, np.arange(len(triangles)), grid, origin, s)
        cx, cy = sample_map(affines, labels, origin, s)
        up = np.array([[1 / s, 0, 0.5 / s + 0.5], [0, 1 / s, 0.5 / s + 0.5]])
        flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        size = (x1 - x0, y1 - y0)
        mx = cv2.warpAffine(cx, up, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        my = cv2.warpAffine(cy, up, size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.remap(mask, mx, my, cv2.INTER_LINEAR)
        dragged = cv2.remap(mask, maps[0][y0:y1, x0:x1], maps[1][y0:y1, x0:x1], cv2.INTER_LINEAR)
        # Where the frame shows a piece of it out of its place, the skin or hair as it was
        # there covers it out to where the piece's soft edge is half-way, and 2 px further
        # round a piece away from the occluder's place (a fleck torn off into the hair): the
        # frame shows the photo's own soft edge of it there, and covered as softly as the
        # mask, its rim showed through, a grey ring in her hair.
        dragged = np.minimum(dragged * np.float32(2.0), np.float32(1.0))
        placed = cv2.dilate(alpha, _NEAR_OCCLUDER) > 0.5
        cover = cv2.max(dragged, cv2.dilate(np.where(placed, np.float32(0.0), dragged), _AROUND))
        cover[alpha >= 1.0] = 0.0  # the occluder itself is drawn over those
        source = rig.front if rig.front is not None else rig.canvas
        # Only the pixels each layer covers are drawn (the window allowed for every way the
        # occluder may move): the skin round it over the pieces, then the occluder.
        for layer, a in ((source, cover), (self._occluder_source, alpha)):
            found = cv2.findNonZero((a > 0).view(np.uint8))
            if found is None:
                continue
            bx, by, bw, bh = cv2.boundingRect(found)
            box = np.s_[by : by + bh, bx : bx + bw]
            kept = cv2.remap(
                layer, mx[box], my[box], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            roi = frame[y0 + by : y0 + by + bh, x0 + bx : x0 + bx + bw]
            roi[:] = cv2.blendLinear(kept, roi, a[box], 1.0 - a[box])

    def _paint_eyes(
        self,
        frame: np.ndarray,
        c: FaceControls,
        geometry: np.ndarray,
        maps: tuple[np.ndarray, np.ndarray],
    ) -> None:
        """The eyeballs where the lids leave them open, the irises moved by the gaze."""
        gaze = self._gaze_offset(c)
        # A glance under a quarter of a pixel (a speaker's fixation jitter) is not drawn.
        glance = self._eyes[0].radius > 0.0 and float(np.abs(gaze).max()) > 0.25
        if not glance and c.blink <= 0.005:
            return  # the warp shows the photo's own eyes unchanged
        n = len(self.rig.vertices)
        dst = geometry[:n]
        held = dst.copy()
        held[self._eye_index[:-2]] = geometry[n:-2]
        if c.blink > 0.005:
            # Where the eyeball lies on the canvas with the eyes held open.
            affines = triangle_affines(self.rig.vertices, held, self.rig.triangles)
            affines = affines.astype(np.float32)
        for eye, ring in zip(self._eyes, self._rings, strict=True):
            # Only the opening the lids leave is painted.
            window = _window(dst[list(eye.points)], 2.0, frame.shape)
            x0, y0, x1, y1 = window
            if x1 <= x0 or y1 <= y0:
                continue
            if c.blink > 0.005:
                origin = (float(x0), float(y0))
                labels = label_triangles(
                    held, self.rig.triangles, self._order, (y1 - y0, x1 - x0), origin, 1.0
                )
                source = sample_map(affines, labels, origin, 1.0)
            else:
                source = (maps[0][y0:y1, x0:x1], maps[1][y0:y1, x0:x1])
            paint_eye(frame, window, source, eye, dst[ring], gaze, self._interior.sharpness)
            if c.blink > 0.5:
                _soften_seam(frame, window, eye_outline(dst[ring]), 2.0 * c.blink - 1.0)

    def _seal(
        self,
        frame: np.ndarray,
        dst: np.ndarray,
        window: tuple[int, int, int, int],
        maps: tuple[np.ndarray, np.ndarray],
        closure: float,
    ) -> None:
        """Over the lips, as far as they are shut: the photo with its opening painted over."""
        assert self._sealed is not None
        (sx, sy), sealed, _ = self._sealed
        x0, y0, x1, y1 = window
        if x1 <= x0 or y1 <= y0:
            return
        patch = cv2.remap(
            sealed,
            maps[0][y0:y1, x0:x1] - np.float32(sx),
            maps[1][y0:y1, x0:x1] - np.float32(sy),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        mask = np.zeros((y1 - y0, x1 - x0), np.float32)
        outer = np.round((dst[48:60] - np.array([x0, y0])) * 16).astype(np.int32)
        cv2.fillPoly(mask, [outer], 1.0, cv2.LINE_AA, shift=4)
        k = max(3, int(self.rig.interocular * 0.05) | 1)
        alpha = cv2.GaussianBlur(cv2.dilate(mask, np.ones((k, k), np.uint8)), (k, k), 0)
        alpha = (alpha * closure)[..., None]
        # Where the lips meet, a soft shadow line (without it dlib reads the sealed lips as
        # parted by about 3 % of the eye distance).
        drawn = np.zeros_like(mask)
        seam = np.round((dst[[60, 61, 62, 63, 64]] - np.array([x0, y0])) * 16).astype(np.int32)
        cv2.polylines(drawn, [seam], False, 1.0, 1, cv2.LINE_AA, shift=4)
        line = cv2.GaussianBlur(drawn, (0, 0), max(1.0, 1.5 * self._interior.sharpness))
        shade = (1.0 - 0.2 * closure * line / max(float(line.max()), 1e-6))[..., None]
        roi = frame[y0:y1, x0:x1]
        roi[:] = np.clip((roi * (1 - alpha) + patch * alpha) * shade, 0, 255).astype(np.uint8)

    def _hide_corners(
        self,
        window: tuple[int, int, int, int],
        frame: np.ndarray,
        maps: tuple[np.ndarray, np.ndarray],
        stretch: float,
    ) -> None:
        """As the jaw drops or a smile draws the corners out, the photo's dark mouth corners
        give way to the lips painted over them: stretched, they read as brown "horns"."""
        assert self._sealed is not None
        (sx, sy), sealed, corners = self._sealed
        x0, y0, x1, y1 = window
        if x1 <= x0 or y1 <= y0:
            return
        mx = maps[0][y0:y1, x0:x1] - np.float32(sx)
        my = maps[1][y0:y1, x0:x1] - np.float32(sy)
        alpha = cv2.remap(corners, mx, my, cv2.INTER_LINEAR, borderValue=0.0)
        found = cv2.findNonZero((alpha > 0).view(np.uint8))
        if found is None:
            return
        # Only where the corners reach (two patches at the mouth's ends): elsewhere the blend
        # leaves the frame as it is.
        bx, by, bw, bh = cv2.boundingRect(found)
        box = np.s_[by : by + bh, bx : bx + bw]
        patch = cv2.remap(
            sealed, mx[box], my[box], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        a = (alpha[box] * stretch)[..., None]
        roi = frame[y0 + by : y0 + by + bh, x0 + bx : x0 + bx + bw]
        roi[:] = np.clip(roi * (1 - a) + patch * a, 0, 255).astype(np.uint8)

    def _lend_turn(self, frame: np.ndarray, dst: np.ndarray, yaw: float) -> None:
        """Blend the face of the reference turned most nearly as far as the frame, as much as
        the frame has turned towards it: a true profile instead of a stretched front view."""
        toward = [m for m in self._turns if m.turn * yaw > 0.0]
        if not toward:
            return
        lender = min(toward, key=lambda m: abs(m.turn - yaw))
        weight = float(np.clip((abs(yaw) - 0.03) / (abs(lender.turn) - 0.03), 0.0, 1.0))
        weight = weight * weight * (3 - 2 * weight)
        if weight <= 0.0:
            return
        io = self.rig.interocular
        window = _window(dst[_FACE_OUTLINE], io * 0.05, frame.shape)
        x0, y0, x1, y1 = window
        patch = self._warp_part(lender, dst, window)
        mask = np.zeros((y1 - y0, x1 - x0), np.float32)
        outline = np.round((dst[_FACE_OUTLINE] - np.array([x0, y0])) * 16).astype(np.int32)
        cv2.fillPoly(mask, [outline], 1.0, cv2.LINE_AA, shift=4)
        # Feathered inside the outline, so the seam runs over skin, not over the jaw's edge.
        k = max(3, int(io * 0.15) | 1)
        alpha = cv2.GaussianBlur(cv2.erode(mask, np.ones((k, k), np.uint8)), (k, k), 0)
        alpha = (alpha * weight)[..., None]
        roi = frame[y0:y1, x0:x1]
        roi[:] = (roi * (1 - alpha) + patch * alpha).astype(np.uint8)

    def _lend_smile(
        self, frame: np.ndarray, dst: np.ndarray, window: tuple[int, int, int, int], smile: float
    ) -> None:
        """Blend the smiling lips of the best smiling reference over the mouth, as far as the
        frame smiles."""
        lender = max(self._smiles, key=lambda m: m.reference.smile)
        x0, y0, x1, y1 = window
        patch = self._warp_part(lender, dst, window)
        mask = np.zeros((y1 - y0, x1 - x0), np.float32)
        outer = np.round((dst[48:60] - np.array([x0, y0])) * 16).astype(np.int32)
        cv2.fillPoly(mask, [outer], 1.0, cv2.LINE_AA, shift=4)
        k = max(3, int(self.rig.interocular * 0.12) | 1)
        weight = min(1.0, (smile - 0.2) / max(0.3, lender.reference.smile - 0.2))
        alpha = cv2.GaussianBlur(cv2.dilate(mask, np.ones((k, k), np.uint8)), (k, k), 0)
        alpha = (alpha * weight)[..., None]
        roi = frame[y0:y1, x0:x1]
        roi[:] = (roi * (1 - alpha) + patch * alpha).astype(np.uint8)

    def _reference_mouth(
        self, dst: np.ndarray, window: tuple[int, int, int, int], gap: float
    ) -> np.ndarray | None:
        """The mouth interior of the reference whose opening is nearest, put in place without
        stretching it: its upper half (upper teeth) stays with the upper lip, its lower half
        with the lower lip, and the cavity shows between them as the mouth opens wider."""
        if not self._mouths:
            return None
        opening = gap / (0.55 * self.rig.interocular)
        lender = min(self._mouths, key=lambda m: abs(m.reference.jaw_open - opening))
        down = self.rig.down
        # (1) The frame's landmarks with the lower face raised or dropped so the lips part
        # exactly as far as in the reference: the interior maps across unstretched.
        grow = gap - lip_gap(lender.reference.rig.landmarks)
        held = dst.copy()
        # The reference's lips as the jaw alone moves them, not rounded (``_geometry``): its
        # teeth keep their line, and the opening's outline cuts them to the rounded shape.
        held[[61, 63, 65, 67]] -= self._rounded[:, None] * down
        held[self._jaw_index] -= self._jaw_weight * grow * down
        patch = self._warp_part(lender, held, window)
        if abs(grow) < 0.1:
            return patch  # parted as far as the reference: its mouth as it is
        # (2) Split it along the middle of the opening, a curve that follows the lips (and
        # the teeth's edge under the upper lip, higher towards the corners); the lower half
        # moves with the lower lip, the cavity shows in the band it leaves, and the upper
        # teeth stay in front.
        x0, y0, x1, y1 = window
        io, across = self.rig.interocular, self.rig.across
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        side = xs * across[0] + ys * across[1]
        depth = xs * down[0] + ys * down[1]
        upper_lip = held[[60, 61, 62, 63, 64]]
        # Under the photo's upper teeth, where they end: split across them, their tips moved
        # down with the lower lip.
        bite = lender.bite[:, None]
        pairs = held[[61, 62, 63]] * (1.0 - bite) + held[[67, 66, 65]] * bite
        # Towards the corners the split rises only a quarter of the way to them: the teeth
        # end there, and a split up into the corners wrapped the teeth in a dark rim.
        split = np.vstack(
            [0.25 * held[60] + 0.75 * pairs[0], pairs, 0.25 * held[64] + 0.75 * pairs[2]]
        )
        level = np.interp(side, np.maximum.accumulate(split @ across), split @ down)
        along = (depth - level).astype(np.float32)
        move = np.array([[1, 0, grow * down[0]], [0, 1, grow * down[1]]], np.float32)
        lower = cv2.warpAffine(patch, move, (x1 - x0, y1 - y0), borderMode=cv2.BORDER_REPLICATE)
        # Under the band the cavity is painted over (below), each half running on to the
        # band's middle: the band's soft edges blend it with its own continuation. Cut at the
        # band's bottom, its lower edge blended in the reference's unmoved lower half (a
        # rendered reference's tongue: a thin light line across the cavity).
        # The cut is a pixel soft (a hard one stepped from row to row along the curve).
        cut = np.clip(along - max(0.5 * grow, 0.0) + 0.5, 0.0, 1.0)[..., None]
        out = patch * (1.0 - cut) + lower * cut
        if grow > 1.0:
            # The band the lower half leaves shows the mouth behind the photo's teeth: a
            # shaded cavity and tongue, its edges as soft as the photo's teeth are.
            band = ((along >= 0.0) & (along < grow)).astype(np.float32)
            soft = max(0.8, 0.02 * io, self._interior.sharpness)
            band = cv2.GaussianBlur(band, (0, 0), soft)[..., None]
            middle = 0.5 * (held[[61, 62, 63]].mean(0) + held[[65, 66, 67]].mean(0))
            floor = float(middle @ down) + grow
            # The photo shows no lower teeth behind its lower lip: they are painted at the
            # band's bottom, with the tongue behind them.
            behind = self._interior.paint(
                upper_lip,
                dst[[60, 67, 66, 65, 64]],
                (x0, y0),
                (y1 - y0, x1 - x0),
                upper_teeth=False,
                lower_teeth=lender.teeth is not None,
                tongue=lender.teeth is not None,
                floor=floor,
                teeth_colour=lender.teeth,
            )
            # The teeth's biting edge is translucent: a little of the dark shows through just
            # above the band (faded in as the band opens: a frame that opens it by a pixel
            # looks the same).
            tips = np.exp(-np.maximum(-along, 0.0) / (0.015 * io)) * (along < 0.0)
            out = out * (1.0 - 0.2 * min(1.0, grow / (0.05 * io)) * tips[..., None])
            out = out * (1 - band) + behind * band
            if lender.teeth is not None:
                out = self._round_corners(out, dst, held, pairs, window, grow, lender.teeth)
        return out

    def _round_corners(
        self,
        out: np.ndarray,
        dst: np.ndarray,
        held: np.ndarray,
        pairs: np.ndarray,
        window: tuple[int, int, int, int],
        grow: float,
        teeth: np.ndarray,
    ) -> np.ndarray:
        """The opening's top edge from each corner of the mouth down to the ends of the
        teeth's biting edge, a smooth curve. The photo's dark corners beside its teeth reach up
        to its upper lip: as the jaw dropped, the cavity stepped up there in a notch on either
        side of the teeth. What lies above the curve and is darker than teeth is now the upper
        lip's inner side, in its own shade."""
        x0, y0, x1, y1 = window
        io, across, down = self.rig.interocular, self.rig.across, self.rig.down
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        side = xs * across[0] + ys * across[1]
        depth = xs * down[0] + ys * down[1]
        # The lip's colour: the middle of the upper lip beside the teeth, on both sides.
        probe = 0.5 * (held[[49, 50, 52, 53]] + held[[61, 61, 63, 63]]) - np.array([x0, y0])
        at = np.clip(np.round(probe).astype(int), 0, [x1 - x0 - 1, y1 - y0 - 1])
        lip = np.median(out[at[:, 1], at[:, 0]], axis=0)
        level = np.full(side.shape, -np.inf, np.float32)
        for corner, end in ((dst[60], pairs[0]), (dst[64], pairs[2])):
            s0, s1 = float(corner @ across), float(end @ across)
            t = np.clip((side - s0) / (s1 - s0), 0.0, 1.0)
            curve = corner @ down + (end @ down - corner @ down) * np.sin(0.5 * np.pi * t)
            curve += min(0.04 * io, 0.3 * grow) * (1.0 - t) ** 2  # a rounded corner
            between = (t > 0.0) & (t < 1.0)
            level = np.where(between, curve, level).astype(np.float32)
        above = np.clip((level - depth) / (0.02 * io) + 0.5, 0.0, 1.0)
        lum = out.mean(2)
        bright = float(teeth.mean())
        dark = np.clip((0.8 * bright - lum) / (0.3 * bright), 0.0, 1.0)
        soft = max(0.8, 0.015 * io, self._interior.sharpness)
        cover = cv2.GaussianBlur(above * dark, (0, 0), soft) * min(1.0, grow / (0.05 * io))
        # The lip's inner side turns away into the mouth: darker towards its edge.
        shade = 0.7 + 0.3 * np.clip((level - depth) / (0.05 * io), 0.0, 1.0)
        cover = cover[..., None]
        return out * (1.0 - cover) + lip * shade[..., None] * cover

    def _warp_part(
        self, lender: _Lender, dst: np.ndarray, window: tuple[int, int, int, int]
    ) -> np.ndarray:
        """The lender's part of the face warped onto this frame's landmarks, inside ``window``."""
        x0, y0, x1, y1 = window
        src = lender.reference.rig.landmarks[lender.part]
        moved = dst[lender.part]
        affines = triangle_affines(src, moved, lender.triangles).astype(np.float32)
        origin = (float(x0), float(y0))
        order = np.arange(len(lender.triangles))
        labels = label_triangles(moved, lender.triangles, order, (y1 - y0, x1 - x0), origin, 1.0)
        map_x, map_y = sample_map(affines, labels, origin, 1.0)
        patch = cv2.remap(
            lender.reference.rig.canvas,
            map_x,
            map_y,
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        # Lit like the primary photo: the reference's skin tone mapped onto the primary's.
        return np.clip(patch.astype(np.float32) * lender.gain + lender.offset, 0, 255)

    def _paint_mouth(
        self,
        frame: np.ndarray,
        dst: np.ndarray,
        window: tuple[int, int, int, int],
    ) -> None:
        """Fill the opening between the inner lips: a shaded cavity, upper teeth, a tongue."""
        if self._seam > 0.0:
            dst = dst.copy()
            dst[[67, 66, 65]] -= self._seam * self.rig.down
        inner = inner_outline(dst)
        gap = lip_gap(dst)
        if gap < 1.0:
            return
        # Only the opening itself (and its soft edge) is painted: rounded as far as the mouth
        # opens past the photo's own opening (by more than a turn of the head changes it). A
        # photo's own open mouth at rest keeps its own outline (a smooth curve through the
        # eight points), and so does a pause's idle motion: rest frames as before.
        soft = max(0.7, 0.8 * self._interior.sharpness)
        opened = gap - (self.rig.lip_gap if self._seam == 0.0 else 0.0)
        io = self.rig.interocular
        amount = float(np.clip((opened - 0.03 * io) / (0.1 * io), 0.0, 1.0))
        upper, lower = open_outline(inner, self.rig.across)
        curve = np.vstack([upper, lower[-2:0:-1]]) if amount > 0.0 else smooth_closed(inner)
        window = _window(curve, 3.0 * soft + 2.0, frame.shape)
        x0, y0, x1, y1 = window
        if x1 <= x0 or y1 <= y0:
            return
        roi = frame[y0:y1, x0:x1]
        outline = curve - np.array([x0, y0])
        mask = np.zeros(roi.shape[:2], np.float32)
        cv2.fillPoly(mask, [np.round(outline * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
        if not mask.any():
            return
        # The warped photo inside the inner lips' polygon but outside the rounded opening (at
        # the corners, where the opening narrows) is the photo's own mouth stretched: lip
        # is painted over it.
        polygon = np.zeros_like(mask)
        points = np.round((inner - np.array([x0, y0])) * 16).astype(np.int32)
        cv2.fillPoly(polygon, [points], 1.0, cv2.LINE_AA, shift=4)
        lent = self._reference_mouth(dst, window, gap)
        if lent is None:
            lent = self._interior.paint(upper, lower, (x0, y0), roi.shape[:2])
        if amount > 0.0:
            lent = self._lip_rim(roi, mask, np.maximum(mask, polygon), lent, amount)
            mask = np.maximum(mask, polygon)
        # Soft edges, as soft as the photo: no cut-out seam against the lips.
        alpha = cv2.GaussianBlur(mask, (0, 0), soft)
        alpha = alpha[..., None]
        roi[:] = np.clip(roi * (1 - alpha) + lent * alpha, 0, 255).astype(np.uint8)

    def _lip_rim(
        self,
        roi: np.ndarray,
        mask: np.ndarray,
        painted: np.ndarray,
        paint: np.ndarray,
        amount: float,
    ) -> np.ndarray:
        """The lips' inner sides, turning into the mouth, over the dark of the cavity along
        the edge of the opening (``mask``): the lip's own colour in shade at the edge, fading
        into the dark over ``LIP_RIM`` eye distances, and all of what is ``painted`` outside
        the opening. The cavity ran dark right up to the lips, a cut-out with a hard edge;
        the corners, narrower than the rim, now close in lip. ``amount`` (0..1) fades it."""
        inside = (mask > 0.5).astype(np.uint8)
        covered = (painted > 0.05).astype(np.uint8)
        ring = cv2.dilate(covered, np.ones((5, 5), np.uint8)) > covered
        if not ring.any():
            return paint
        # The lips' colour, the upper lip's above the opening's middle and the lower lip's
        # below it, blended across the middle third (they differ: one colour for both drew a
        # line along one).
        # (cv2.mean: numpy's reductions cost ten times as much on a window this small.)
        h = roi.shape[0]
        rows = np.arange(h, dtype=np.float32)[:, None]
        _, y, _, span = cv2.boundingRect(ring.view(np.uint8))
        middle = y + 0.5 * span
        split = int(np.ceil(middle))
        top, bottom = ring.view(np.uint8).copy(), ring.view(np.uint8).copy()
        top[split:], bottom[:split] = 0, 0
        above = np.array(cv2.mean(roi, mask=top)[:3], np.float32)
        below = np.array(cv2.mean(roi, mask=bottom)[:3], np.float32) if bottom.any() else above
        w = np.clip((rows - middle) / max(span / 3.0, 1.0) + 0.5, 0.0, 1.0)[..., None]
        lip = above * (1.0 - w) + below * w  # (h, 1, 3)
        level = np.maximum(lip.sum(2) / 3.0, 1.0)
        dist = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
        # Only over what is darker than the lips (the cavity), not over teeth or the tongue.
        grey = cv2.transform(paint.astype(np.float32), np.full((1, 3), 1.0 / 3.0, np.float32))
        grey = grey.reshape(paint.shape[:2])
        dark = np.clip((level - grey) / (0.5 * level), 0.0, 1.0)
        # (A Gaussian fall-off: flat at the edge, the change spread over the rim; an
        # exponential one was steepest at the edge, still a hard line.)
        rim_px = LIP_RIM * self.rig.interocular
        a = LIP_RIM_STRENGTH * np.exp(-np.square(np.maximum(dist - 0.5, 0.0) / rim_px)) * dark
        a *= amount
        rim = LIP_RIM_SHADE * lip
        paint = paint * (1.0 - a[..., None]) + rim * a[..., None]
        # Outside the opening: lip where the polygon reaches past it, else the frame as it is.
        beyond = (np.clip(painted - mask, 0.0, 1.0) * amount)[..., None]
        around = roi.astype(np.float32) * (1.0 - beyond) + rim * beyond
        m = mask[..., None]
        out: np.ndarray = paint * m + around * (1.0 - m)
        return out


def _biting_edge(rig: Rig) -> tuple[np.ndarray, np.ndarray | None]:
    """Where the upper teeth end between each inner-lip pair (61/67, 62/66, 63/65), as a
    fraction of the way from the upper to the lower point (0.5 where no teeth show), and the
    teeth's colour (the median over the bright run; None without teeth). Along each
    pair's line (three columns averaged), a whiteness (brightness less redness: a lip's
    highlight is as bright as a tooth) falls from its peak in the upper part of the opening to
    the darkest line before the lower lip; the edge is where it has fallen half way."""
    rgb = rig.canvas.astype(np.float32)
    white = rgb.mean(2) - 1.5 * (rgb[..., 0] - np.minimum(rgb[..., 1], rgb[..., 2]))
    io, across = rig.interocular, rig.across
    t = np.linspace(-0.1, 1.2, 53)
    out = np.full(3, 0.5)
    shown: list[np.ndarray] = []
    for k, (a, b) in enumerate(((61, 67), (62, 66), (63, 65))):
        top, bottom = rig.landmarks[a], rig.landmarks[b]
        span = float(np.linalg.norm(bottom - top))
        if span < 2.0:
            continue
        line = top + t[:, None] * (bottom - top)
        xy = np.concatenate([line + o * io * across for o in (-0.03, 0.0, 0.03)])
        xy = xy.astype(np.float32)
        profile = cv2.remap(white, xy[None, :, 0], xy[None, :, 1], cv2.INTER_LINEAR)[0]
        profile = profile.reshape(3, -1).mean(0)
        upper = np.flatnonzero((t >= 0.0) & (t <= 0.7))
        peak = int(upper[np.argmax(profile[upper])])
        low = peak + int(np.argmin(profile[peak:]))
        if profile[peak] - profile[low] < 25.0:
            continue  # no teeth: lips, or a dark opening
        level = 0.5 * float(profile[peak] + profile[low])
        j = peak + int(np.flatnonzero(profile[peak : low + 1] < level)[0])
        edge = t[j - 1] + (t[j] - t[j - 1]) * (profile[j - 1] - level) / max(
            float(profile[j - 1] - profile[j]), 1e-6
        )
        out[k] = float(np.clip(edge + 0.5 / span, 0.2, 1.0))
        bright = np.flatnonzero(profile > level)
        bright = bright[(bright >= peak - 8) & (bright < j)]
        at = np.round(line[bright]).astype(int)
        shown.append(rig.canvas[at[:, 1], at[:, 0]].astype(np.float32))
    teeth = np.median(np.concatenate(shown), axis=0) if shown else None
    return out, teeth


def _bright_lid_edges(rig: Rig) -> tuple[float, float]:
    """For each eye (the subject's right, then left), 1.0 where the eye's outline is no darker
    than the skin of its upper lid (its lower quarter of samples at least 0.9 of the skin's
    median: a drawn eye's white runs to its edge), else 0.0 (a photo's lash line)."""
    source = rig.front if rig.front is not None else rig.canvas
    grey = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY).astype(np.float32)

    def at(points: np.ndarray) -> np.ndarray:
        xy = points.astype(np.float32)
        out: np.ndarray = cv2.remap(grey, xy[None, :, 0], xy[None, :, 1], cv2.INTER_LINEAR)[0]
        return out

    flags = []
    for eye in EYES:
        edge = eye_outline(rig.landmarks[list(eye)])
        skin = at(edge - 0.08 * rig.interocular * rig.down)
        flags.append(float(np.percentile(at(edge), 25) >= 0.9 * float(np.median(skin))))
    return flags[0], flags[1]


def _soften_seam(
    frame: np.ndarray, window: tuple[int, int, int, int], curve: np.ndarray, amount: float
) -> None:
    """Blur the frame a little along the line where the lids meet (``amount`` 0..1). Each
    pixel there takes the upper or the lower lid's triangle whole, and the lash line's lower
    edge came out in hard steps of light pixels."""
    x0, y0, x1, y1 = window
    if x1 <= x0 or y1 <= y0:
        return
    drawn = np.zeros((y1 - y0, x1 - x0), np.float32)
    line = np.round((curve - np.array([x0, y0])) * 16).astype(np.int32)
    cv2.polylines(drawn, [line], True, 1.0, 2, cv2.LINE_AA, shift=4)
    mask = cv2.GaussianBlur(drawn, (0, 0), 1.0)
    a = (mask * (amount / max(float(mask.max()), 1e-6)))[..., None]
    roi = frame[y0:y1, x0:x1]
    soft = cv2.GaussianBlur(roi, (0, 0), 0.9).astype(np.float32)
    roi[:] = np.clip(roi * (1.0 - a) + soft * a + 0.5, 0, 255).astype(np.uint8)


def _soften_folds(
    frame: np.ndarray,
    maps: tuple[np.ndarray, np.ndarray],
    window: tuple[int, int, int, int],
    amount: float,
) -> None:
    """Blur the frame a little where the warp jumps: where neighbouring pixels take theirs
    from more than 2.5 px apart on the canvas. There a turned head folds (the nose's far side
    over the cheek, the far cheek squeezed against the outline, the far temple's hair) and each
    pixel took one sample of what the fold hides: a hard edge dotted with light pixels."""
    x0, y0, x1, y1 = window
    if x1 - x0 < 3 or y1 - y0 < 3:
        return
    mx, my = (m[y0:y1, x0:x1] for m in maps)
    folds = np.zeros((y1 - y0, x1 - x0), np.uint8)
    across = cv2.max(cv2.absdiff(mx[:, 1:], mx[:, :-1]), cv2.absdiff(my[:, 1:], my[:, :-1]))
    folds[:, 1:] = across > 2.5
    down = cv2.max(cv2.absdiff(mx[1:], mx[:-1]), cv2.absdiff(my[1:], my[:-1]))
    folds[1:] |= down > 2.5
    if not folds.any():
        return
    grown = cv2.dilate(folds, np.ones((3, 3), np.uint8)).astype(np.float32)
    a = cv2.GaussianBlur(grown * np.float32(amount), (5, 5), 1.0)
    roi = frame[y0:y1, x0:x1]
    soft = cv2.GaussianBlur(roi, (5, 5), 1.2)
    roi[:] = cv2.blendLinear(soft, roi, a, 1.0 - a)


def _closure(c: FaceControls) -> float:
    """How shut a p/b/m presses the lips (0..1): a smoothstep of ``lip_close``."""
    closure = float(np.clip((c.lip_close - 0.2) / 0.5, 0.0, 1.0))
    return closure * closure * (3 - 2 * closure)


def _stretch(c: FaceControls) -> float:
    """How far the jaw has dropped or a smile has drawn the corners from the photo's own mouth
    (0..1), a smoothstep: either stretches the mouth's dark corners."""
    stretch = float(np.clip(max(c.jaw_open / 0.4, c.smile / 0.6), 0.0, 1.0))
    return stretch * stretch * (3 - 2 * stretch)


def _press(c: FaceControls) -> float:
    """How far a frown or a press of the lips (a negative smile) shuts the mouth at rest
    (0..1); speech still opens it."""
    press = float(np.clip(-c.smile / 0.6, 0.0, 1.0))
    return press * press * (3 - 2 * press) * float(np.clip(1.0 - c.jaw_open, 0.0, 1.0))


def _sealed_mouth(rig: Rig) -> tuple[tuple[int, int], np.ndarray, np.ndarray]:
    """The photo around its mouth (where it lies on the canvas, the pixels) with the opening
    between its lips, its teeth and the dark corners beside them painted over from the lips
    around (OpenCV's Telea inpainting), and where those dark corners are (0..1, soft)."""
    source = rig.front if rig.front is not None else rig.canvas
    io = rig.interocular
    x0, y0, x1, y1 = _window(rig.landmarks[48:68], io * 0.2, source.shape)
    patch = source[y0:y1, x0:x1].copy()
    origin = np.array([x0, y0])
    opening = np.zeros(patch.shape[:2], np.uint8)
    cv2.fillPoly(opening, [np.round(rig.landmarks[60:68] - origin).astype(np.int32)], 1)
    lips = np.zeros_like(opening)
    cv2.fillPoly(lips, [np.round(rig.landmarks[48:60] - origin).astype(np.int32)], 1)
    # The lips themselves: inside the outer outline, outside the opening.
    ring = (lips > 0) & (opening == 0)
    grey = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY).astype(np.float32)
    level = float(np.median(grey[ring])) if ring.any() else float(grey.mean())
    # Inside the lips' outline, what is much darker than the lips (the shadowed corners) or
    # much brighter (teeth) belongs to the opening, wherever dlib put the inner lip.
    odd = (lips > 0) & ((grey < 0.7 * level) | (grey > 1.3 * level))
    hole = ((opening > 0) | odd).astype(np.uint8)
    k = max(3, int(io * 0.03) | 1)
    grown = cv2.dilate(hole, np.ones((k, k), np.uint8))
    sealed = cv2.inpaint(patch, grown, max(3.0, io * 0.05), cv2.INPAINT_TELEA)
    # The dark corners alone (a smile's shadowed corners beside the teeth), softened: an
    # opening jaw stretches them into dark wedges over the corners of the painted mouth.
    dark = ((lips > 0) & (grey < 0.7 * level)).astype(np.uint8)
    corners = cv2.GaussianBlur(
        cv2.dilate(dark, np.ones((k, k), np.uint8)).astype(np.float32), (k, k), 0
    )
    return (x0, y0), sealed, corners


def _occluder_colours(source: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``source`` with the occluder's soft edge (0 < ``mask`` < 1, and a pixel inside)
    in the colour of the nearest pixel that is wholly the occluder. The photo's pixels there
    are half the occluder, half the neck behind it; drawn over a dropped chin, that half
    showed as a rim of neck colour along the cards' top edge."""
    core = cv2.erode((mask >= 0.98).astype(np.uint8), np.ones((3, 3), np.uint8))
    edge = (mask > 0.0) & (core == 0)
    if not core.any() or not edge.any():
        return source
    # Labels of the nearest core pixel: every zero of the input (the core) its own label.
    _, labels = cv2.distanceTransformWithLabels(
        1 - core, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    ys, xs = np.nonzero(core)
    order = np.zeros(int(labels.max()) + 1, np.intp)
    order[labels[ys, xs]] = np.arange(len(ys))
    nearest = order[labels[edge]]
    out = source.copy()
    out[edge] = source[ys[nearest], xs[nearest]]
    return out


def _colour_match(primary: Rig, reference: Rig) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel gain and offset taking the reference's lower-face skin to the primary's."""

    def skin(rig: Rig) -> tuple[np.ndarray, np.ndarray]:
        mask = np.zeros(rig.canvas.shape[:2], np.uint8)
        cv2.fillPoly(
            mask, [np.round(rig.landmarks[[*range(3, 14), 35, 33, 31]]).astype(np.int32)], 1
        )
        cv2.fillPoly(mask, [np.round(rig.landmarks[48:60]).astype(np.int32)], 0)
        pixels = rig.canvas[mask.astype(bool)].astype(np.float32)
        return pixels.mean(0), pixels.std(0) + 1.0

    (mean_p, std_p), (mean_r, std_r) = skin(primary), skin(reference)
    gain = np.clip(std_p / std_r, 0.5, 2.0)
    return gain, mean_p - gain * mean_r


def _window(points: np.ndarray, margin: float, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    h, w = shape[:2]
    x0, y0 = np.floor(points.min(0) - margin).astype(int)
    x1, y1 = np.ceil(points.max(0) + margin).astype(int)
    return max(0, x0), max(0, y0), min(w, x1), min(h, y1)
