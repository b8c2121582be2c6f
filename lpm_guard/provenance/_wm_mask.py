"""Perceptual masking: how strongly each part of a frame may carry the pattern.

SSIM compares local variances, so the strength follows from it: adding a pattern of local
standard deviation ``m`` where the frame's own is ``s`` costs about ``m² / (2s² + C2)`` of
SSIM's structure term (C2 = (0.03 · 255)²). The amplitude is therefore
``SSIM_BUDGET · sqrt(2s² + C2)``, capped at CEILING grey levels. ``s`` is measured on the
small (detector-scale) luma with a box filter, and the map is enlarged bilinearly.
"""

from __future__ import annotations

import cv2
import numpy as np

C2 = (0.03 * 255) ** 2
SSIM_BUDGET = 0.11
import os
CEILING = float(os.environ.get('CEIL', '3'))
EXPO = float(os.environ.get('EXPO', '0.5'))
MASK_WINDOW = 4


def small_luma(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The frame's luma (float32) box-averaged down to ``size`` (width, height)."""
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)


def amplitude_map(luma: np.ndarray) -> np.ndarray:
    """The amplitude map at the small luma's resolution."""
    window = (MASK_WINDOW, MASK_WINDOW)
    mean = cv2.boxFilter(luma, -1, window)
    variance = np.maximum(cv2.boxFilter(luma * luma, -1, window) - mean * mean, 0)
    amplitude = np.minimum(SSIM_BUDGET * np.sqrt(C2) * ((2 * variance + C2) / C2) ** EXPO, CEILING)
    return np.asarray(cv2.GaussianBlur(amplitude, (0, 0), 2.0))
