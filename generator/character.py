"""A character: one photo (or a drawing with explicit landmarks), framed and rigged once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import faces
from .images import load_image
from .render import Renderer
from .rig import Reference, Rig, build_rig

ImageSource = str | Path | bytes | np.ndarray
SIZES = {(512, 512), (1280, 720), (720, 1280)}


class Character:
    """Built once; any number of performances can run over it."""

    def __init__(self, rig: Rig, references: Sequence[Reference] = ()) -> None:
        self.rig = rig
        self.references = list(references)
        self.renderer = Renderer(rig, self.references)

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.rig.canvas.shape[:2]
        return w, h

    @classmethod
    def from_photo(
        cls,
        photo: ImageSource,
        *,
        references: Sequence[ImageSource] = (),
        landmarks: str | bytes | list[list[float]] | None = None,
        face_index: int | None = None,
        size: tuple[int, int] = (512, 512),
    ) -> Character:
        """Rig ``photo``. Without ``landmarks`` the face is detected (one face, or the one
        ``face_index`` picks, left to right); drawn characters pass their 68 points as JSON."""
        if tuple(size) not in SIZES:
            raise ValueError(f"size must be one of {sorted(SIZES)}, not {size}")
        width, height = size
        image = load_image(photo)
        if landmarks is not None:
            marks = faces.parse_landmarks(landmarks, image.shape[1], image.shape[0])
        else:
            marks = faces.find_face(image, face_index).landmarks
        rig = build_rig(image, marks, width, height)
        refs = [_reference(load_image(r), width, height) for r in references]
        return cls(rig, refs)


def _reference(image: np.ndarray, width: int, height: int) -> Reference:
    face = faces.find_face(image)
    return Reference.of(build_rig(image, face.landmarks, width, height, separate=False))
