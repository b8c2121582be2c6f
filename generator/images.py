"""Reading photos: any format OpenCV decodes, as RGB uint8, with clear errors."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import ImageError

MIN_SIDE = 32  # smaller than this cannot hold a face worth animating


def load_image(source: str | Path | bytes | np.ndarray) -> np.ndarray:
    """An RGB uint8 image from a path, encoded bytes, or an array (RGB, RGBA or grey)."""
    if isinstance(source, np.ndarray):
        image = _as_rgb(source)
    else:
        data = source if isinstance(source, bytes) else _read(Path(source))
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
        if decoded is None:
            raise ImageError("the image cannot be decoded (truncated, or not an image)")
        image = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    height, width = image.shape[:2]
    if min(height, width) < MIN_SIDE:
        raise ImageError(f"the image is {width}×{height}; at least {MIN_SIDE}×{MIN_SIDE} is needed")
    return np.ascontiguousarray(image)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror}") from None


def _as_rgb(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:
        raise ImageError(f"image arrays must be uint8, not {array.dtype}")
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    if array.ndim == 3 and array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_RGBA2RGB)
    if array.ndim == 3 and array.shape[2] == 3:
        return array
    raise ImageError(f"an image array must be H×W, H×W×3 or H×W×4, not {array.shape}")
