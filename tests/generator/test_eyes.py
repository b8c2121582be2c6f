"""The eyes: the iris slides with the gaze without stretching the eye; a blink brings the lid
down over the eye instead of squashing it. On the drawn face (its iris a dark disc, its
landmarks exact), so that the pixels tell the iris from everything else."""

from __future__ import annotations

import importlib
import json

import cv2
import numpy as np
import pytest
from lpm_guard.generator import Character, FaceControls

from .conftest import drawn_face


@pytest.fixture(scope="module")
def drawn() -> Character:
    image, marks = drawn_face()
    return Character.from_photo(image, landmarks=json.dumps(marks.tolist()))


def _iris(frame: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = window
    grey = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
    return grey < 90  # the drawn iris is (40, 30, 30); skin and white are far lighter


def _window(character: Character, eye: slice) -> tuple[int, int, int, int]:
    points = character.rig.landmarks[eye]
    x0, y0 = np.floor(points.min(0) - 6).astype(int)
    x1, y1 = np.ceil(points.max(0) + 6).astype(int)
    return int(x0), int(y0), int(x1), int(y1)


@pytest.mark.parametrize("gaze", [1.0, -1.0])
def test_a_glance_slides_the_iris_whole(drawn: Character, gaze: float) -> None:
    rest = drawn.renderer.render(FaceControls())
    glance = drawn.renderer.render(FaceControls(gaze_x=gaze))
    rig = drawn.rig
    width = float(np.linalg.norm(rig.landmarks[39] - rig.landmarks[36]))
    for eye in (slice(36, 42), slice(42, 48)):
        window = _window(drawn, eye)
        before, after = _iris(rest, window), _iris(glance, window)
        shift = np.argwhere(after)[:, 1].mean() - np.argwhere(before)[:, 1].mean()
        assert shift * gaze > 0.15 * width
        # The same disc, moved: shifted back, it covers the iris at rest (a warp shears it).
        back = np.roll(after, -round(shift), axis=1)
        overlap = (back & before).sum() / (back | before).sum()
        assert overlap > 0.7
        # Nothing outside the eye opening moves.
        x0, y0, x1, y1 = window
        opening = np.zeros(before.shape, np.uint8)
        cv2.fillPoly(opening, [np.round(rig.landmarks[eye] - (x0, y0)).astype(np.int32)], 1)
        outside = cv2.dilate(opening, np.ones((5, 5), np.uint8)) == 0
        diff = np.abs(glance[y0:y1, x0:x1].astype(int) - rest[y0:y1, x0:x1].astype(int))
        assert diff.max(axis=2)[outside].max() <= 2


def test_a_half_closed_lid_covers_the_iris_and_does_not_squash_it(drawn: Character) -> None:
    rest = drawn.renderer.render(FaceControls())
    half = drawn.renderer.render(FaceControls(blink=0.5))
    shut = drawn.renderer.render(FaceControls(blink=1.0))
    for eye in (slice(36, 42), slice(42, 48)):
        window = _window(drawn, eye)
        before, during = _iris(rest, window), _iris(half, window)
        assert 0 < during.sum() < before.sum()
        # What still shows of the iris is the iris as it was, its top hidden by the lid: row
        # by row below the lid's edge, as wide as at rest (a squashed iris is not).
        rows = np.flatnonzero(during.any(axis=1))[2:]  # the lid's edge rows left out
        assert len(rows) >= 3
        widths = np.abs(during[rows].sum(axis=1) - before[rows].sum(axis=1))
        assert np.mean(widths <= 1) >= 0.8
        assert (during[rows] & before[rows]).sum() / during[rows].sum() > 0.9
        # Shut, at most the lid's edge is left of it.
        assert _iris(shut, window).sum() < 0.25 * before.sum()


def test_shut_lids_paint_no_thread_of_the_eyeball(
    character: Character, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shut, the lids' points lie on one curve. The outline of that empty opening once
    painted a thread of the eye's white along the closed lids; the shut eye is now the warped
    lids alone, as if there were no eyeball layer. Open a little, the layer shows."""
    shut, nearly = FaceControls(blink=1.0), FaceControls(blink=0.8)
    frames = [character.renderer.render(c) for c in (shut, nearly)]
    monkeypatch.setattr(
        importlib.import_module("lpm_guard.generator.render"), "paint_eye", lambda *a, **k: None
    )
    assert np.array_equal(character.renderer.render(shut), frames[0])
    assert not np.array_equal(character.renderer.render(nearly), frames[1])


def test_a_drawn_shut_eye_keeps_no_thread_of_its_white(drawn: Character) -> None:
    """The drawn eye's outline runs along the edge of its white and its iris; shut, the lids
    met on that edge and kept a thread of white with the iris's top in it. A shut lid's edge
    shows its own margin, a little outside the opening."""
    shut = drawn.renderer.render(FaceControls(blink=1.0)).astype(int)
    for eye in (slice(36, 42), slice(42, 48)):
        x0, y0, x1, y1 = _window(drawn, eye)
        roi = shut[y0:y1, x0:x1]
        assert (roi[..., 2] > 215).sum() <= 3  # white: the skin's blue is 170 (22 before)
        assert (roi.mean(axis=2) < 120).sum() <= 3  # the iris (12-14 before)


def test_shut_lids_meet_on_a_soft_line(character: Character) -> None:
    """Shut, each pixel on the line where the lids meet takes the upper or the lower lid's
    triangle whole: the lash line's lower edge came out in hard steps of light pixels (the
    sharpest row-to-row step of a column, median 67-75 grey levels on the astronaut). The
    frame is blurred a little along that line."""
    c = FaceControls(blink=1.0)
    grey = cv2.cvtColor(character.renderer.render(c), cv2.COLOR_RGB2GRAY).astype(float)
    points = character.renderer.deform(c)
    for eye in (slice(36, 42), slice(42, 48)):
        (x0, y0), (x1, y1) = points[eye].min(0).astype(int), points[eye].max(0).astype(int)
        lids = grey[y0 - 4 : y1 + 5, x0 + 2 : x1 - 2]
        assert np.median(np.abs(np.diff(lids, axis=0)).max(axis=0)) < 55  # 29-40 now


def test_a_glance_shows_no_specks_of_white_on_the_iris(drawn: Character) -> None:
    """The drawn iris is a disc a little smaller than the iris the eye layers fit to it: the
    white inside the fitted disc was taken for the catchlight (which moves half as far) and
    for iris, and a glance showed light specks at the iris's edge."""
    c = FaceControls(gaze_x=1.0, gaze_y=-0.5)
    frame = cv2.cvtColor(drawn.renderer.render(c), cv2.COLOR_RGB2GRAY)
    gaze = drawn.renderer._gaze_offset(c)
    ys, xs = np.mgrid[0 : frame.shape[0], 0 : frame.shape[1]]
    for eye in drawn.renderer._eyes:
        cx, cy = eye.centre + gaze
        opening = np.zeros(frame.shape, np.uint8)
        points = drawn.rig.landmarks[list(eye.points)]
        cv2.fillPoly(opening, [np.round(points).astype(np.int32)], 1)
        inside = cv2.erode(opening, np.ones((3, 3), np.uint8)) > 0
        core = inside & (np.hypot(xs - cx, ys - cy) <= 4.0)  # the drawn iris's radius is 5 px
        assert core.sum() > 15
        assert (frame[core] > 120).sum() == 0  # 2-3 light pixels in each eye before


@pytest.mark.parametrize("yaw", [-0.35, 0.35])
def test_a_turned_drawn_face_leaves_no_ring_where_its_outline_was(
    drawn: Character, yaw: float
) -> None:
    """Where the head turns away from it, the background shows: its own flat blue. The
    person mask's soft edge lies inside the face's outline, and the plate there had to
    keep part of the skin to give back the canvas at rest: a lilac ring (about 1400 pixels)."""
    c = FaceControls(yaw=yaw)
    frame = drawn.renderer.render(c).astype(int)
    _, _, alpha = drawn.renderer.maps(c)
    assert alpha is not None
    background = alpha < 0.02
    off = np.abs(frame - np.array([70, 160, 220])).sum(axis=2) > 60
    assert (background & off).sum() <= 5
