"""Perceptual masking: how strongly each part of a frame may carry the pattern.

SSIM compares local variances, so the strength follows from it: adding a pattern of local
standard deviation ``m`` where the frame's own is ``s`` costs about ``m² / (2s² + C2)`` of
SSIM's structure term (C2 = (0.03 · 255)²). The amplitude is therefore
``SSIM_BUDGET · sqrt(2s² + C2)``, capped at CEILING grey levels: about 0.9 grey levels in
flat skin or sky, more in texture. SSIM's luminance term and saturation make dark and
near-white areas dearer (a grey level is a larger share of a small mean, and a change that
clips is lost), so the amplitude falls linearly below a mean of DARK and above 255 - BRIGHT,
to at least LEVEL_FLOOR of itself. Everything is measured on the half-size luma (box filter
over MASK_WINDOW half-size pixels), and the map is enlarged bilinearly.
"""

from __future__ import annotations

import cv2
import numpy as np

C2 = (0.03 * 255) ** 2
SSIM_BUDGET = 0.1184  # 0.124 before the informed gains' range was narrowed (_wm_informed)
CEILING = 4.0
MASK_WINDOW = 4
DARK = 48.0
BRIGHT = 32.0
LEVEL_FLOOR = 0.15


def half_luma(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The frame's luma box-averaged down to ``size`` (width, height; about half), float32."""
    half = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(half, cv2.COLOR_RGB2GRAY).astype(np.float32)


def strength(luma: np.ndarray, window_size: int = MASK_WINDOW, blur: float = 2.0) -> np.ndarray:
    """The amplitude map (grey levels) at the luma's resolution."""
    window = (window_size, window_size)
    mean = cv2.boxFilter(luma, -1, window)
    variance = np.maximum(cv2.boxFilter(luma * luma, -1, window) - mean * mean, 0)
    amplitude = np.minimum(SSIM_BUDGET * np.sqrt(2 * variance + C2), CEILING)
    level = np.clip(np.minimum(mean / DARK, (255 - mean) / BRIGHT), LEVEL_FLOOR, 1.0)
    return np.asarray(cv2.GaussianBlur(amplitude * level, (0, 0), blur))
