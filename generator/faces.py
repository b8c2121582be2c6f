"""Face analysis with the weights that ship on PyPI: dlib's detector, its 68-point landmark
model and its 128-D face descriptor (``face-recognition-models``).

The gate checks consent with its own copy (``lpm_guard/consent/landmarks.py``), so that
consent never depends on which generator renders; this module imports nothing from the gate.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LandmarkError, MultipleFacesError, NoFaceError

LANDMARKS = 68
# Index ranges of the iBUG 68-point scheme.
JAW = slice(0, 17)
BROWS = slice(17, 27)
NOSE = slice(27, 36)
RIGHT_EYE = slice(36, 42)  # the subject's right eye: on the viewer's left
LEFT_EYE = slice(42, 48)
OUTER_LIPS = slice(48, 60)
INNER_LIPS = slice(60, 68)


def _models_dir() -> Path:
    # `import face_recognition_models` fails on new setuptools (it imports pkg_resources), so
    # find the package's folder without importing it.
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face-recognition-models is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@cache
def _dlib() -> Any:
    import dlib

    return dlib


# dlib's object detector and its face-descriptor network keep scratch buffers inside the
# object: two threads using one instance corrupt the heap and take the process down (dlib#1149;
# tests/consent/test_faces.py's threads reproduce it). Each thread gets its own detector (a few
# hundred kB of filters); the network (22 MB) is shared under a lock. The shape predictor is
# documented safe to share.
_per_thread = threading.local()
_encoding = threading.Lock()


def _detector() -> Any:
    detector = getattr(_per_thread, "detector", None)
    if detector is None:
        detector = _per_thread.detector = _dlib().get_frontal_face_detector()
    return detector


@cache
def _predictor() -> Any:
    return _dlib().shape_predictor(str(_models_dir() / "shape_predictor_68_face_landmarks.dat"))


@cache
def _encoder() -> Any:
    return _dlib().face_recognition_model_v1(
        str(_models_dir() / "dlib_face_recognition_resnet_model_v1.dat")
    )


@dataclass(frozen=True, slots=True)
class Face:
    box: tuple[int, int, int, int]  # left, top, right, bottom
    landmarks: np.ndarray  # (68, 2) float64, image pixels

    @property
    def interocular(self) -> float:
        return float(
            np.linalg.norm(self.landmarks[RIGHT_EYE].mean(0) - self.landmarks[LEFT_EYE].mean(0))
        )


# dlib's HOG detector scores real faces around 0.5–3; upsampled false positives (a patch on a
# suit, a pattern) score near 0.1.
MIN_SCORE = 0.3


def detect_faces(image: np.ndarray, upsample: int = 1, min_score: float = MIN_SCORE) -> list[Face]:
    """Every face, left to right, with its 68 landmarks."""
    found, scores, _ = _detector().run(image, upsample, 0.0)
    rects = [rect for rect, score in zip(found, scores, strict=True) if score >= min_score]
    faces = [Face((r.left(), r.top(), r.right(), r.bottom()), _shape(image, r)) for r in rects]
    return sorted(faces, key=lambda f: f.box[0])


def find_face(image: np.ndarray, face_index: int | None = None) -> Face:
    """The one face to animate; with several, ``face_index`` (left to right) must choose."""
    faces = detect_faces(image)
    if not faces:
        raise NoFaceError(
            "no face found in the image; for drawn characters pass explicit landmarks"
        )
    if face_index is None:
        if len(faces) > 1:
            raise MultipleFacesError(len(faces))
        return faces[0]
    if not 0 <= face_index < len(faces):
        raise NoFaceError(f"face_index {face_index} is out of range: {len(faces)} face(s) found")
    return faces[face_index]


def landmarks_in(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The 68 landmarks inside a known face box (for frames where the box is already known)."""
    return _shape(image, _dlib().rectangle(*box))


def _shape(image: np.ndarray, rect: Any) -> np.ndarray:
    shape = _predictor()(image, rect)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def descriptor(image: np.ndarray, face: Face) -> np.ndarray:
    """dlib's 128-D face descriptor; distances below about 0.6 mean the same person."""
    rect = _dlib().rectangle(*face.box)
    shape = _predictor()(image, rect)
    with _encoding:
        values = _encoder().compute_face_descriptor(image, shape)
    return np.array(values, dtype=np.float64)


def parse_landmarks(data: str | bytes | list[Any], width: int, height: int) -> np.ndarray:
    """Explicit landmarks for drawn characters: JSON ``[[x, y], …]`` (68 points) or
    ``{"landmarks": [[x, y], …]}``, in pixels of the image they belong to."""
    try:
        value = json.loads(data) if isinstance(data, str | bytes) else data
        if isinstance(value, dict):
            value = value["landmarks"]
        points = np.asarray(value, dtype=np.float64)
    except (ValueError, KeyError, TypeError):
        raise LandmarkError("landmarks must be JSON: a list of 68 [x, y] pairs") from None
    if points.shape != (LANDMARKS, 2) or not np.isfinite(points).all():
        raise LandmarkError(f"landmarks must be 68 [x, y] pairs, not shape {points.shape}")
    if (points < 0).any() or (points[:, 0] >= width).any() or (points[:, 1] >= height).any():
        raise LandmarkError("every landmark must lie inside the image")
    return points
