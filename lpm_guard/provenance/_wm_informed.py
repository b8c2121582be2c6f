"""Informed embedding: cancel the host frame's own contribution to each payload bit.

A blind detector sees the frame's content as noise, and for a talking head that noise does not
average out over frames (the background stands still). The embedder knows the frame, so it runs
the detector's own steps on it (the frame resampled by 1/PITCH, as the detector sees it at the
native scale; whitening, tiles summed, chip sums) and learns, per coded bit, how far the content
pushes that bit towards the wrong value. Each bit's chips then get their own gain ``beta``
(clipped to [BETA_MIN, BETA_MAX]) so that content plus mark land on a common margin; the margin
is found by bisection so that the payload chips' energy stays what it was with every gain at 1.
This is improved spread spectrum (Malvar and Florêncio, 2003) applied per bit; the sync chips
keep gain 1.
"""

from __future__ import annotations

import cv2
import numpy as np

from lpm_guard.provenance._wm_detect import WHITEN_SIGMA, whiten
from lpm_guard.provenance._wm_mask import amplitude_map, small_luma
from lpm_guard.provenance._wm_pattern import (
    FRAME_TILE,
    GRID,
    PITCH,
    TILE,
    Layout,
    chip_sums,
    render_frame_tile,
)

BETA_MIN = 0.3
BETA_MAX = 3.0
import os
HOST_WEIGHT = float(os.environ.get('HW', '1'))


def fold_tiles(white: np.ndarray, tile: int = TILE) -> np.ndarray:
    """Sum every ``tile``×``tile`` block of an array (zero-padded at the far edges)."""
    rows, cols = -(-white.shape[0] // tile), -(-white.shape[1] // tile)
    padded = np.zeros((rows * tile, cols * tile), np.float32)
    padded[: white.shape[0], : white.shape[1]] = white
    return np.asarray(padded.reshape(rows, tile, cols, tile).sum(axis=(0, 2)))


class Informed:
    """The per-bit gains for one secret, payload and frame size, refreshed per frame."""

    def __init__(self, layout: Layout, bits: np.ndarray, width: int, height: int) -> None:
        self._layout = layout
        self._signs = bits.astype(np.float32) * 2 - 1
        self._chips = layout.chips(bits)
        tile = render_frame_tile(self._chips)
        self._norm = np.float32(1 / np.sqrt(np.mean(tile * tile)))
        self._reps = (-(-height // FRAME_TILE), -(-width // FRAME_TILE))
        self._size = (height, width)
        # The frame-sized amplitude goes into this tile-aligned buffer, so the tile multiplies
        # it by broadcasting instead of being copied over the frame.
        self._padded = np.zeros((self._reps[0] * FRAME_TILE, self._reps[1] * FRAME_TILE), np.float32)
        plain = np.tile(tile * self._norm, self._reps)[:height, :width]
        self._small = (max(1, round(width / PITCH)), max(1, round(height / PITCH)))
        self._plain_small = cv2.resize(plain, self._small, interpolation=cv2.INTER_AREA)

    def _masked(self, amplitude: np.ndarray, tile: np.ndarray) -> np.ndarray:
        """The tile repeated over the frame, times the frame-sized amplitude."""
        height, width = self._size
        self._padded[:height, :width] = amplitude
        rows, cols = self._reps
        blocks = self._padded.reshape(rows, FRAME_TILE, cols, FRAME_TILE) * (tile * self._norm)[
            :, None, :
        ]
        return np.asarray(blocks.reshape(rows * FRAME_TILE, cols * FRAME_TILE)[:height, :width])

    def _soft(self, luma: np.ndarray) -> np.ndarray:
        folded = fold_tiles(whiten(luma, WHITEN_SIGMA))
        return self._layout.soft_bits(chip_sums(folded)) * self._signs

    def delta(self, rgb: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """The luma change (float32, HxW) to add to ``rgb``: masked pattern with bit gains."""
        height, width = self._size
        # (1): the mask, and what the content alone and the plain masked mark give each bit
        # at the detector (at the detector's native scale).
        luma = small_luma(rgb, self._small)
        amplitude = amplitude_map(luma) * np.float32(scale)
        host = self._soft(luma) * HOST_WEIGHT
        mark = self._soft(luma + amplitude * self._plain_small) - host / HOST_WEIGHT
        mark = np.maximum(mark, 1e-3 * float(np.abs(mark).max() + 1e-9))
        # (2): the common margin whose gains keep the payload's energy (bisection).
        low, high = 0.0, float(np.max(np.abs(host) + mark)) * BETA_MAX
        for _ in range(40):
            margin = (low + high) / 2
            beta = np.clip((margin - host) / mark, BETA_MIN, BETA_MAX)
            low, high = (margin, high) if np.mean(beta * beta) < 1 else (low, margin)
        beta = np.clip((low - host) / mark, BETA_MIN, BETA_MAX)
        # (3): the chips with their gains, drawn at frame scale, tiled and masked.
        chips = self._chips.reshape(-1).copy()
        chips[self._layout.bit_chips] *= beta[:, None].astype(np.float32)
        full = cv2.resize(amplitude, (width, height), interpolation=cv2.INTER_LINEAR)
        return self._masked(full, render_frame_tile(chips.reshape(GRID, GRID)))
