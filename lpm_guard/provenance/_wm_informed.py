"""Informed embedding: cancel the host frame's own contribution to each payload bit.

A blind detector sees the frame's content as noise, and for a talking head that noise does not
average out over frames (the background stands still). The embedder knows the frame, so it runs
the detector's own steps on it (whitening, tiles summed, chip sums; at half size, which is
cheap) and learns, per coded bit, how far the content pushes that bit towards the wrong value.
Each bit's chips then get their own gain ``beta`` (clipped to [BETA_MIN, BETA_MAX]) so that
content plus mark land on a common margin; the margin is found by bisection so that the payload
chips' energy stays what it was with every gain at 1. This is improved spread spectrum (Malvar
and Florêncio, 2003) applied per bit; the sync chips keep gain 1. What the plain mark adds to
each bit is taken as linear (the masked pattern over the frame's whitening envelope), which
saves whitening the frame twice.
"""

from __future__ import annotations

import cv2
import numpy as np

from lpm_guard.provenance._wm_detect import WHITEN_SIGMA, envelope, whiten
from lpm_guard.provenance._wm_mask import half_luma, strength
from lpm_guard.provenance._wm_pattern import GRID, TILE, Layout, chip_sums, render

BETA_MIN = 0.3
BETA_MAX = 3.0
HALF = TILE // 2


def _fold_half(white: np.ndarray) -> np.ndarray:
    """Sum a half-size frame's HALF×HALF tiles and enlarge the sum to TILE×TILE."""
    rows, cols = -(-white.shape[0] // HALF), -(-white.shape[1] // HALF)
    padded = np.zeros((rows * HALF, cols * HALF), np.float32)
    padded[: white.shape[0], : white.shape[1]] = white
    small = padded.reshape(rows, HALF, cols, HALF).sum(axis=(0, 2))
    wrapped = np.pad(small, 1, mode="wrap")
    big = cv2.resize(wrapped, (2 * HALF + 4, 2 * HALF + 4), interpolation=cv2.INTER_LINEAR)
    return np.asarray(big[2:-2, 2:-2])


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
        # The tile repeated over the frame is written into this buffer at each refresh.
        self._tiled = np.zeros((self._reps[0] * TILE, self._reps[1] * TILE), np.float32)
        plain = np.tile(tile * self._norm, self._reps)[:height, :width]
        half = (width // 2, height // 2)
        self._plain_half = cv2.resize(plain, half, interpolation=cv2.INTER_AREA)

    def _masked(self, amplitude: np.ndarray, tile: np.ndarray) -> np.ndarray:
        """The tile repeated over the frame, times the frame-sized amplitude."""
        height, width = self._size
        rows, cols = self._reps
        self._tiled.reshape(rows, TILE, cols, TILE)[:] = (tile * self._norm)[:, None, :]
        return np.asarray(cv2.multiply(amplitude, self._tiled[:height, :width], dtype=cv2.CV_32F))

    def _soft(self, white: np.ndarray) -> np.ndarray:
        return self._layout.soft_bits(chip_sums(_fold_half(white))) * self._signs

    def delta(self, rgb: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """The luma change (float32, HxW) to add to ``rgb``: masked pattern with bit gains."""
        height, width = self._size
        # (1): the mask, and what the content alone and the plain masked mark give each bit
        # at the detector.
        luma = half_luma(rgb)
        amplitude = strength(luma) * np.float32(scale)
        high, scale_map = envelope(luma, WHITEN_SIGMA / 2)
        host = self._soft(whiten(luma, WHITEN_SIGMA / 2, (high, scale_map)))
        mark = self._soft(amplitude * self._plain_half / scale_map)
        mark = np.maximum(mark, 1e-3 * float(np.abs(mark).max() + 1e-9))
        # (2): the common margin whose gains keep the payload's energy (bisection).
        low, top = 0.0, float(np.max(np.abs(host) + mark)) * BETA_MAX
        for _ in range(40):
            margin = (low + top) / 2
            beta = np.clip((margin - host) / mark, BETA_MIN, BETA_MAX)
            low, top = (margin, top) if np.mean(beta * beta) < 1 else (low, margin)
        beta = np.clip((low - host) / mark, BETA_MIN, BETA_MAX)
        # (3): the chips with their gains, rendered, tiled over the frame and masked.
        chips = self._chips.reshape(-1).copy()
        chips[self._layout.bit_chips] *= beta[:, None].astype(np.float32)
        full = cv2.resize(amplitude, (width, height), interpolation=cv2.INTER_LINEAR)
        return self._masked(full, render(chips.reshape(GRID, GRID)))
