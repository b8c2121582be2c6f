"""Perceptual masking: how strongly each part of a frame may carry the pattern.

SSIM compares local variances, so the strength follows from it: adding a pattern of local
standard deviation ``m`` where the frame's own is ``s`` costs about ``m² / (2s² + C2)`` of
SSIM's structure term (C2 = (0.03 · 255)²). The amplitude is therefore
``SSIM_BUDGET · sqrt(2s² + C2)``, capped at CEILING grey levels: smooth skin and sky get
about one grey level, busy texture up to CEILING. ``s`` is measured cheaply on a half-size
luma (box filter over MASK_WINDOW half-size pixels), and the map is enlarged bilinearly.
"""

from __future__ import annotations

import cv2
import numpy as np

C2 = (0.03 * 255) ** 2
SSIM_BUDGET = 0.11
CEILING = 3.0
MASK_WINDOW = 4


def half_luma(rgb: np.ndarray) -> np.ndarray:
    """The frame's luma at half size (float32), box-averaged."""
    height, width = rgb.shape[:2]
    half = cv2.resize(rgb, (width // 2, height // 2), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(half, cv2.COLOR_RGB2GRAY).astype(np.float32)


def half_strength(luma: np.ndarray) -> np.ndarray:
    """The amplitude map at the half-size luma's resolution."""
    window = (MASK_WINDOW, MASK_WINDOW)
    mean = cv2.boxFilter(luma, -1, window)
    variance = np.maximum(cv2.boxFilter(luma * luma, -1, window) - mean * mean, 0)
    amplitude = np.minimum(SSIM_BUDGET * np.sqrt(2 * variance + C2), CEILING)
    return np.asarray(cv2.GaussianBlur(amplitude, (0, 0), 2.0))
