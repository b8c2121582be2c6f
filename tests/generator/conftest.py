from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from lpm_guard.generator import Character
from lpm_guard.generator.pose import mean_shape
from skimage import data


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return data.astronaut()


@pytest.fixture(scope="session")
def character(astronaut: np.ndarray) -> Character:
    return Character.from_photo(astronaut)


def flite(text: str, path: Path, voice: str = "slt") -> Path:
    """Speech from Debian's flite; `make test` installs it."""
    if shutil.which("flite") is None:
        if os.environ.get("CI"):
            pytest.fail("flite is not installed; `make test` installs it")
        pytest.skip("flite is not installed")
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True)
    return path


def drawn_face(size: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """A cartoon face drawn from the 68-point mean shape: the picture and its exact landmarks."""
    shape = mean_shape()[:, :2]
    marks = (shape - shape.mean(0)) * size * 0.32 + np.array([size / 2, size * 0.52])
    image = np.full((size, size, 3), (70, 160, 220), np.uint8)
    centre = marks.mean(0)
    axes = (int(np.ptp(marks[:, 0]) * 0.62), int(np.ptp(marks[:, 1]) * 0.75))
    cv2.ellipse(image, (int(centre[0]), int(centre[1] - 10)), axes, 0, 0, 360, (255, 214, 170), -1)
    pts = lambda idx: np.round(marks[idx]).astype(np.int32)  # noqa: E731
    cv2.polylines(image, [pts(range(17, 22)), pts(range(22, 27))], False, (90, 50, 20), 4)
    for eye in (range(36, 42), range(42, 48)):
        cv2.fillPoly(image, [pts(eye)], (255, 255, 255))
        cv2.circle(image, tuple(pts(eye).mean(0).astype(int)), 5, (40, 30, 30), -1)
    cv2.polylines(image, [pts(range(27, 36))], False, (200, 140, 110), 2)
    cv2.fillPoly(image, [pts(range(48, 60))], (200, 60, 80))
    cv2.polylines(image, [pts(range(60, 68))], True, (120, 20, 40), 2)
    return image, marks


def insightface_images() -> Path:
    """insightface's sample photos (its wheel, installed with --no-deps by `make install-dev`)."""
    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        if os.environ.get("CI"):
            pytest.fail("insightface is not installed; `make install-dev` installs it")
        pytest.skip("insightface is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "images"


def _tilted(photo: np.ndarray, degrees: float, scale: float) -> np.ndarray:
    big = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    h, w = big.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return np.ascontiguousarray(cv2.warpAffine(big, turn, (w, h), borderMode=cv2.BORDER_REFLECT))


@pytest.fixture(scope="session")
def closed_mouths() -> dict[str, np.ndarray]:
    """Photos of closed mouths where dlib leaves its inner-lip points a pixel or two apart
    (the woman on the left of insightface's t1.jpg, tilted 20 degrees) or crosses them (its
    Tom Hanks sample, tilted 10 degrees): both once showed a white line of painted teeth."""
    from lpm_guard.generator.faces import detect_faces
    from lpm_guard.generator.images import load_image

    folder = insightface_images()
    group = load_image(folder / "t1.jpg")
    left, top, right, bottom = detect_faces(group)[0].box
    margin = int((right - left) * 0.8)
    woman = group[max(0, top - margin) : bottom + margin, max(0, left - margin) : right + margin]
    return {
        "t1-left-upright": np.ascontiguousarray(woman),
        "t1-left": _tilted(np.ascontiguousarray(woman), -20.0, 2.0),
        "hanks": _tilted(load_image(folder / "Tom_Hanks_54745.png"), 10.0, 4.0),
    }


@pytest.fixture(scope="session")
def t1_left(closed_mouths: dict[str, np.ndarray]) -> Character:
    """The woman on the left of t1.jpg, upright, holding her cards up under her chin."""
    return Character.from_photo(closed_mouths["t1-left-upright"])


@pytest.fixture(scope="session")
def hanks(closed_mouths: dict[str, np.ndarray]) -> Character:
    """insightface's Tom Hanks sample (4x, tilted 10 degrees): a man facing 0.35 rad to the
    viewer's right, his far side foreshortened."""
    return Character.from_photo(closed_mouths["hanks"])
