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

# A narrow range: after H.264 the codec keeps the host and removes much of the mark, so gains
# that cancel the host as the uncompressed frame shows it are mostly wasted there. On 4 keys x
# 2 photos with the detector's third-round fold, first-frame bitSNR at crf 35 went from 0.737
# ([0.3, 3]) to 0.808, the combined attack from 0.531 to 0.589, JPEG 50 from 1.28 to 1.65
# (docs/watermark.md, "The third round"); it costs about 4.5 % of amplitude in SSIM, which
# the mask's SSIM_BUDGET gives back.
BETA_MIN = 0.8
BETA_MAX = 1.25
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


def half_size(width: int, height: int) -> tuple[int, int]:
    """The half-size frame (width, height) the embedder works at, rounded up."""
    return (width + 1) // 2, (height + 1) // 2


def enlarge(half: np.ndarray, width: int, height: int) -> np.ndarray:
    """A half-size array doubled (each value to a 2×2 block) and cut to width × height."""
    big = cv2.resize(half, None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
    return np.ascontiguousarray(big[:height, :width])


class Informed:
    """The per-bit gains for one secret, payload and frame size, refreshed per frame.

    The chips are CHIP×CHIP-pixel blocks on a grid anchored at the frame's corner, so the whole
    pattern is computed at half size (CHIP/2-pixel blocks) and each value later doubled into a
    2×2 block: the same pattern for a quarter of the work.
    """

    def __init__(self, layout: Layout, bits: np.ndarray, width: int, height: int) -> None:
        self._layout = layout
        self._signs = bits.astype(np.float32) * 2 - 1
        self._chips = layout.chips(bits)
        self._size = (height, width)
        self._half = half_size(width, height)
        self._norm = np.float32(1 / np.sqrt(np.mean(self._half_tile(self._chips) ** 2)))
        half_width, half_height = self._half
        self._reps = (-(-half_height // HALF), -(-half_width // HALF))
        # The half tile repeated over the half frame is written into this buffer.
        self._tiled = np.zeros((self._reps[0] * HALF, self._reps[1] * HALF), np.float32)
        self._plain_half = self._tile_over(self._half_tile(self._chips)).copy()

    @staticmethod
    def _half_tile(chips: np.ndarray) -> np.ndarray:
        """``render`` at half size: each chip a (CHIP/2)-pixel block."""
        return render(chips)[::2, ::2]

    def _tile_over(self, half_tile: np.ndarray) -> np.ndarray:
        """The normalised half tile repeated over the half frame (a view of one buffer)."""
        rows, cols = self._reps
        self._tiled.reshape(rows, HALF, cols, HALF)[:] = (half_tile * self._norm)[:, None, :]
        half_width, half_height = self._half
        return self._tiled[:half_height, :half_width]

    def _soft(self, white: np.ndarray) -> np.ndarray:
        return self._layout.soft_bits(chip_sums(_fold_half(white))) * self._signs

    def half_delta(self, rgb: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """The luma change to add to ``rgb`` at half size (float32): each value is the change
        of a 2×2 block of the frame (``enlarge``)."""
        # (1): the mask, and what the content alone and the plain masked mark give each bit
        # at the detector.
        luma = half_luma(rgb, self._half)
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
        # (3): the chips with their gains, drawn, tiled over the half frame and masked.
        chips = self._chips.reshape(-1).copy()
        chips[self._layout.bit_chips] *= beta[self._layout.bit_of_chip].astype(np.float32)
        tiled = self._tile_over(self._half_tile(chips.reshape(GRID, GRID)))
        return np.asarray(cv2.multiply(amplitude, tiled, dtype=cv2.CV_32F))

    def delta(self, rgb: np.ndarray, scale: float = 1.0) -> np.ndarray:
        """The luma change (float32, HxW) to add to ``rgb``: masked pattern with bit gains."""
        height, width = self._size
        return enlarge(self.half_delta(rgb, scale), width, height)
