"""Informed embedding: cancel the host frame's own contribution to each payload bit.

A blind detector sees the frame's content as noise, and for a talking head that noise does not
average out over frames (the background stands still). The embedder knows the frame, so it runs
the detector's own fold on it (whitening, tiles summed at the native scale, chip sums) and
learns, per coded bit, how much the content pushes that bit towards the wrong value. Each bit's
chips then get their own gain ``beta`` (clipped to [BETA_MIN, BETA_MAX]) so that content plus
mark land on a common margin; the margin is chosen by bisection so that the payload chips'
energy stays what it was with all gains at 1. This is improved spread spectrum (Malvar and
Florêncio, 2003) applied per bit; the sync chips keep gain 1.
"""

from __future__ import annotations

import cv2
import numpy as np

from lpm_guard.provenance._wm_detect import fold
from lpm_guard.provenance._wm_pattern import GRID, TILE, Layout, chip_sums, render

BETA_MIN = 0.3
BETA_MAX = 2.5


class Informed:
    """The per-bit gains for one secret, payload and frame size, refreshed per frame."""

    def __init__(self, layout: Layout, bits: np.ndarray, width: int, height: int) -> None:
        self._layout = layout
        self._signs = bits.astype(np.float32) * 2 - 1
        self._chips = layout.chips(bits)
        tile = render(self._chips)
        self._norm = np.float32(1 / np.sqrt(np.mean(tile * tile)))
        self._reps = (-(-height // TILE), -(-width // TILE))
        self._size = (height, width)
        self._plain = self._tiled(tile)

    def _tiled(self, tile: np.ndarray) -> np.ndarray:
        height, width = self._size
        return np.ascontiguousarray(np.tile(tile * self._norm, self._reps)[:height, :width])

    def _soft(self, luma: np.ndarray) -> np.ndarray:
        return self._layout.soft_bits(chip_sums(fold([luma], float(TILE)).tile))

    def delta(self, rgb: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
        """The luma change (float32, HxW) to add to ``rgb``: masked pattern with bit gains."""
        # (1): what the content alone, and the plain masked mark, give each bit at the detector.
        luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
        plain = amplitude * self._plain
        host = self._soft(luma) * self._signs
        mark = (self._soft(luma + plain) * self._signs) - host
        mark = np.maximum(mark, 1e-3 * float(np.abs(mark).max() + 1e-9))
        # (2): the common margin whose gains keep the payload's energy (bisection).
        low, high = 0.0, float(np.max(np.abs(host) + mark)) * BETA_MAX
        for _ in range(40):
            margin = (low + high) / 2
            beta = np.clip((margin - host) / mark, BETA_MIN, BETA_MAX)
            low, high = (margin, high) if np.mean(beta * beta) < 1 else (low, margin)
        beta = np.clip((low - host) / mark, BETA_MIN, BETA_MAX)
        # (3): the chips with their gains, rendered and tiled over the frame.
        chips = self._chips.reshape(-1).copy()
        chips[self._layout.bit_chips] *= beta[:, None].astype(np.float32)
        return amplitude * self._tiled(render(chips.reshape(GRID, GRID)))
