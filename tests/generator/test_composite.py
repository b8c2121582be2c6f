"""The composite computed block by block is the whole-frame warp and blend, pixel for pixel."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from lpm_guard.generator import Character, FaceControls
from lpm_guard.generator.composite import over
from lpm_guard.generator.warp import BLOCK

# At rest, turned and tilted every way, blinking, mouth open and shut, breathing.
CONTROLS = [
    FaceControls(),
    FaceControls(yaw=0.35, pitch=0.2, breath=1.0),
    FaceControls(yaw=-0.35, roll=0.15, jaw_open=1.0, gaze_x=0.6),
    FaceControls(pitch=-0.2, roll=-0.15, blink=1.0, lip_close=1.0, breath=-1.0),
    FaceControls(yaw=0.2, smile=-0.6, brow_raise=1.0, jaw_open=0.5, lip_round=0.8),
]


def _maps(character: Character, controls: FaceControls) -> tuple[np.ndarray, ...]:
    renderer, rig = character.renderer, character.rig
    dst = renderer.deform(controls)
    return renderer.warper.backward_map(
        rig.vertices, dst, rig.triangles, renderer._order, renderer._windows(dst)
    )


@pytest.mark.parametrize("controls", CONTROLS)
def test_every_block_reads_inside_its_bounds(character: Character, controls: FaceControls) -> None:
    map_x, map_y, bounds = _maps(character, controls)
    h, w = map_x.shape
    for by in range(bounds.shape[1]):
        for bx in range(bounds.shape[2]):
            block = np.s_[by * BLOCK : (by + 1) * BLOCK, bx * BLOCK : (bx + 1) * BLOCK]
            assert (
                bounds[0, by, bx] <= map_x[block].min() <= map_x[block].max() <= bounds[1, by, bx]
            )
            assert (
                bounds[2, by, bx] <= map_y[block].min() <= map_y[block].max() <= bounds[3, by, bx]
            )
    assert bounds.shape[1:] == (-(-h // BLOCK), -(-w // BLOCK))


@pytest.mark.parametrize("controls", CONTROLS)
def test_the_composite_is_the_whole_frame_blend(
    character: Character, controls: FaceControls
) -> None:
    rig = character.rig
    assert rig.front is not None and rig.plate is not None and rig.person is not None
    map_x, map_y, bounds = _maps(character, controls)
    front = cv2.remap(rig.front, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.remap(rig.person, map_x, map_y, cv2.INTER_LINEAR)
    whole = over(front, rig.plate, alpha)
    compositor = character.renderer._composite
    assert compositor is not None
    assert np.array_equal(compositor.over(map_x, map_y, bounds), whole)
    # Some of the frame is skipped each way: plate alone, front alone, and blended.
    assert set(np.unique(compositor.kinds(bounds)).tolist()) == {0, 1, 2}


def test_bounds_too_tight_would_show(character: Character) -> None:
    """The equality above can fail: bounds that miss the head's motion by a few pixels put
    plate or unblended front where the person's edge moved."""
    rig = character.rig
    assert rig.front is not None and rig.plate is not None and rig.person is not None
    map_x, map_y, bounds = _maps(character, CONTROLS[1])
    compositor = character.renderer._composite
    assert compositor is not None
    centre = (bounds[0::2] + bounds[1::2]) / 2
    tight = np.repeat(centre, 2, axis=0)  # each block as if it read one point
    front = cv2.remap(rig.front, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    alpha = cv2.remap(rig.person, map_x, map_y, cv2.INTER_LINEAR)
    assert not np.array_equal(compositor.over(map_x, map_y, tight), over(front, rig.plate, alpha))
