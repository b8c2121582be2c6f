"""Perceptual hashes of a face: is this capture a copy of a photo, or of an earlier capture?

The face is first aligned (a similarity transform putting the eyes, nose tip and mouth
corners where ArcFace's 112×112 template has them), so the hash describes the face and not
where it sat in the frame. The hash is the classic DCT pHash: the crop in grey at 32×32, its
2-D DCT, the 8×8 lowest frequencies (DC included) compared with their median: 64 bits.
Re-encoding, rescaling and small brightness changes move a few bits; another photo of the
same person, or the same person a minute later, moves ~20–32 (two unrelated images: ~32).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np
import numpy.typing as npt

from .. import landmarks as dlib_faces
from ..faces import align_arcface
from ..landmarks import Face

BITS = 64
SIDE = 32
LOW = 8


def phash(gray: npt.NDArray[np.uint8] | npt.NDArray[np.float32]) -> int:
    """The 64-bit DCT hash of a grey image (any size)."""
    small = cv2.resize(
        np.asarray(gray, dtype=np.float32), (SIDE, SIDE), interpolation=cv2.INTER_AREA
    )
    low = cv2.dct(small)[:LOW, :LOW].reshape(-1)
    bits = low > np.median(low)
    return int(sum(1 << i for i, bit in enumerate(bits.tolist()) if bit))


def face_phash(image: npt.NDArray[np.uint8], face: Face) -> int:
    """The hash of the face's aligned crop (``image`` RGB or grey)."""
    rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
    crop = align_arcface(np.ascontiguousarray(rgb), face)
    return phash(np.asarray(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY), dtype=np.uint8))


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def nearest(probe: int, others: Iterable[int]) -> int:
    """The smallest Hamming distance from ``probe`` to any of ``others`` (BITS if none)."""
    return min((hamming(probe, other) for other in others), default=BITS)


def to_bytes(value: int) -> bytes:
    return value.to_bytes(BITS // 8, "big")


def from_bytes(data: bytes) -> int:
    return int.from_bytes(data, "big")


def region_hash(rgb: npt.NDArray[np.uint8]) -> int | None:
    """The hash of the largest face in an RGB image (a photo, a frame), None without a face."""
    found = dlib_faces.detect_faces(np.ascontiguousarray(rgb))
    if not found:
        return None
    face = max(found, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
    return face_phash(rgb, face)


def pack(hashes: Sequence[int]) -> bytes:
    """Hashes as bytes for sealed storage (8 bytes each, big-endian)."""
    return b"".join(to_bytes(h) for h in hashes)


def unpack(data: bytes) -> list[int]:
    size = BITS // 8
    return [from_bytes(data[i : i + size]) for i in range(0, len(data) - size + 1, size)]
