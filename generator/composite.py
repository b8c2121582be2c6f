"""The warped person over the still background, computed only where it can differ from either.

A frame is ``front`` and ``person`` (the mask) sampled through the backward map, blended over
the ``plate``. Where every canvas pixel a block of the map reads has no person (mask 0), the
blend is the plate itself; where every one is wholly person (mask 1), it is the warped front
itself. Only the blocks in between need the mask warped and the blend. The result is the same,
pixel for pixel, as warping and blending the whole frame (tests/generator/test_composite.py).
Written by hand: it only arranges OpenCV's remap and blend over the parts of a frame.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np

from .warp import BLOCK

_PLATE, _FRONT, _BLEND = 0, 1, 2
_ROUNDING = 1 / 32  # more than remap's rounding of a coordinate (half of 1/32 px)


class Compositor:
    """One character's layers; ``over`` composites a frame from its backward map."""

    def __init__(self, front: np.ndarray, plate: np.ndarray, person: np.ndarray) -> None:
        self.person = person
        # Four channels: OpenCV remaps a four-channel image about a third quicker than a
        # three-channel one (the same values); the frame drops the fourth at the end.
        self.front = cv2.cvtColor(front, cv2.COLOR_RGB2RGBA)
        self.plate = cv2.cvtColor(plate, cv2.COLOR_RGB2RGBA)
        # Summed-area tables of "some person" and "not wholly person": one lookup per block.
        self._some = cv2.integral((person > 0).astype(np.uint8))
        self._partial = cv2.integral((person < 1).astype(np.uint8))

    def kinds(self, bounds: np.ndarray) -> np.ndarray:
        """For each block (``Warper.backward_map``'s bounds): plate, front or blend."""
        h, w = self.person.shape
        clipped = np.clip(bounds, -1e6, 1e6)
        # Every pixel bilinear sampling may touch (end exclusive): remap rounds coordinates to
        # 1/32 of a pixel and reads the pixel there and the next one.
        x0 = np.floor(clipped[0] - _ROUNDING).astype(np.int64)
        x1 = np.floor(clipped[1] + _ROUNDING).astype(np.int64) + 2
        y0 = np.floor(clipped[2] - _ROUNDING).astype(np.int64)
        y1 = np.floor(clipped[3] + _ROUNDING).astype(np.int64) + 2
        inside = (x0 >= 0) & (y0 >= 0) & (x1 <= w) & (y1 <= h)
        cx0, cx1 = np.clip(x0, 0, w), np.clip(x1, 0, w)
        cy0, cy1 = np.clip(y0, 0, h), np.clip(y1, 0, h)

        def count(table: np.ndarray) -> np.ndarray:
            out: np.ndarray = table[cy1, cx1] - table[cy0, cx1] - table[cy1, cx0] + table[cy0, cx0]
            return out

        # Past the canvas the mask reads 0 (remap's constant border): never wholly person.
        kinds = np.full(bounds.shape[1:], _BLEND, np.uint8)
        kinds[count(self._some) == 0] = _PLATE
        kinds[inside & (count(self._partial) == 0)] = _FRONT
        return kinds

    def over(self, map_x: np.ndarray, map_y: np.ndarray, bounds: np.ndarray) -> np.ndarray:
        """The frame: the front warped by the maps over the plate, as much as the warped mask
        says."""
        frame = self.plate.copy()
        h, w = frame.shape[:2]
        for row, kinds in enumerate(self.kinds(bounds).tolist()):
            y0, y1 = row * BLOCK, min(h, (row + 1) * BLOCK)
            # Each run of blocks of one kind: the plate is there already; the front alone;
            # or the front blended.
            for kind, start, stop in _runs(kinds):
                if kind == _PLATE:
                    continue
                x0, x1 = start * BLOCK, min(w, stop * BLOCK)
                mx, my = map_x[y0:y1, x0:x1], map_y[y0:y1, x0:x1]
                # (Positional arguments: OpenCV's binding parses keywords slowly.)
                front = cv2.remap(self.front, mx, my, cv2.INTER_LINEAR, None, cv2.BORDER_REPLICATE)
                if kind == _BLEND:
                    alpha = cv2.remap(self.person, mx, my, cv2.INTER_LINEAR)
                    front = over(front, frame[y0:y1, x0:x1], alpha)
                frame[y0:y1, x0:x1] = front
        out: np.ndarray = cv2.cvtColor(frame, cv2.COLOR_RGBA2RGB)
        return out


def over(front: np.ndarray, back: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``front`` over ``back`` with per-pixel ``alpha`` (H×W float32, 0..1)."""
    out: np.ndarray = cv2.blendLinear(front, back, alpha, 1.0 - alpha)
    return out


def _runs(kinds: list[int]) -> list[tuple[int, int, int]]:
    """(kind, first block, end block) of each run of one kind along a row of blocks. A run of
    one block between two blended runs is blended with them (blending is exact for every
    kind): fewer, longer calls."""
    runs: list[list[int]] = []
    start = 0
    for kind, run in itertools.groupby(kinds):
        stop = start + len(list(run))
        runs.append([kind, start, stop])
        start = stop
    merged: list[list[int]] = []
    for k, span in enumerate(runs):
        lone = span[2] - span[1] == 1 and 0 < k < len(runs) - 1
        if lone and runs[k - 1][0] == _BLEND and runs[k + 1][0] == _BLEND:
            span[0] = _BLEND
        if merged and merged[-1][0] == span[0]:
            merged[-1][2] = span[2]
        else:
            merged.append(span)
    return [(kind, first, end) for kind, first, end in merged]
