"""The gate's own face analysis, for consent: dlib's detector, its 68-point landmarks and its
128-D descriptor, with the weights that ship on PyPI (``face-recognition-models``), and the
generic 3-D face (insightface's 68-point mean shape, MIT) that head poses are fitted to.

The gate does not borrow a generator's face code: whichever model renders (the CPU generator,
a remote worker), consent is checked here.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

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


Box = tuple[int, int, int, int]  # left, top, right, bottom


@dataclass(frozen=True, slots=True)
class Face:
    box: Box
    landmarks: np.ndarray  # (68, 2) float64, image pixels

    @property
    def interocular(self) -> float:
        return float(
            np.linalg.norm(self.landmarks[RIGHT_EYE].mean(0) - self.landmarks[LEFT_EYE].mean(0))
        )


# dlib's HOG detector scores real faces around 0.5–3; upsampled false positives (a patch on a
# suit, a pattern) score near 0.1.
MIN_SCORE = 0.3


def detect_boxes(image: np.ndarray, upsample: int = 1, min_score: float = MIN_SCORE) -> list[Box]:
    """Every face's box, left to right, without landmarks (~4 ms cheaper per face: for callers
    that pick one face, or that only need where it is)."""
    found, scores, _ = _detector().run(image, upsample, 0.0)
    boxes = [
        (r.left(), r.top(), r.right(), r.bottom())
        for r, score in zip(found, scores, strict=True)
        if score >= min_score
    ]
    return sorted(boxes, key=lambda box: box[0])


def detect_faces(image: np.ndarray, upsample: int = 1, min_score: float = MIN_SCORE) -> list[Face]:
    """Every face, left to right, with its 68 landmarks."""
    return [Face(box, landmarks_in(image, box)) for box in detect_boxes(image, upsample, min_score)]


def landmarks_in(image: np.ndarray, box: Box) -> np.ndarray:
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


@cache
def mean_shape() -> np.ndarray:
    """The generic 3-D face: 68 points, x right, y down, z towards the camera."""
    text = resources.files(__package__).joinpath("data/meanshape_68.json").read_text()
    return np.asarray(json.loads(text)["points"], dtype=np.float64)


def camera(width: int, height: int) -> np.ndarray:
    """A pinhole camera with a normal lens (focal length about the image's larger side)."""
    focal = float(max(width, height))
    return np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], dtype=np.float64)
