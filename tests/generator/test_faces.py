"""Photos in, clear errors out: no face, several faces, tiny or broken files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from lpm_guard.generator import (
    Character,
    ImageError,
    LandmarkError,
    MultipleFacesError,
    NoFaceError,
)
from lpm_guard.generator.faces import descriptor, detect_faces, find_face
from skimage import data


def test_one_face_is_found_with_68_landmarks(astronaut: np.ndarray) -> None:
    face = find_face(astronaut)
    assert face.landmarks.shape == (68, 2)
    left, top, right, bottom = face.box
    assert (face.landmarks[30] > [left, top]).all() and (face.landmarks[30] < [right, bottom]).all()


def test_a_photo_without_a_face_is_refused() -> None:
    with pytest.raises(NoFaceError, match="explicit landmarks"):
        Character.from_photo(data.coffee())


def test_two_faces_need_a_choice(astronaut: np.ndarray) -> None:
    pair = np.hstack([astronaut, astronaut[:, ::-1]])
    assert len(detect_faces(pair)) == 2
    with pytest.raises(MultipleFacesError, match="face_index"):
        Character.from_photo(pair)
    chosen = Character.from_photo(pair, face_index=1)
    assert chosen.size == (512, 512)
    with pytest.raises(NoFaceError, match="out of range"):
        Character.from_photo(pair, face_index=2)


@pytest.mark.parametrize("image", [np.zeros((1, 1, 3), np.uint8), np.zeros((20, 900), np.uint8)])
def test_tiny_images_are_refused(image: np.ndarray) -> None:
    with pytest.raises(ImageError, match="at least"):
        Character.from_photo(image)


def test_truncated_and_foreign_files_are_refused(astronaut: np.ndarray, tmp_path: Path) -> None:
    ok, encoded = cv2.imencode(".jpg", astronaut)
    assert ok
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(encoded.tobytes()[:300])
    with pytest.raises(ImageError, match="cannot be decoded"):
        Character.from_photo(truncated)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(ImageError):
        Character.from_photo(text)
    with pytest.raises(ImageError, match="cannot read"):
        Character.from_photo(tmp_path / "missing.png")
    with pytest.raises(ImageError):
        Character.from_photo(b"")


def test_bad_explicit_landmarks_are_refused(astronaut: np.ndarray) -> None:
    for landmarks in ("[1, 2]", "not json", [[0, 0]] * 67, [[-5, 3]] * 68, '{"points": []}'):
        with pytest.raises(LandmarkError):
            Character.from_photo(astronaut, landmarks=landmarks)  # type: ignore[arg-type]


def test_descriptor_tells_the_same_person_from_a_drawing(astronaut: np.ndarray) -> None:
    face = find_face(astronaut)
    mirrored = astronaut[:, ::-1].copy()
    same = np.linalg.norm(descriptor(astronaut, face) - descriptor(mirrored, find_face(mirrored)))
    assert same < 0.45


def test_unsupported_sizes_are_refused(astronaut: np.ndarray) -> None:
    with pytest.raises(ValueError, match="size"):
        Character.from_photo(astronaut, size=(300, 300))
