"""One error family for the generator."""

from __future__ import annotations


class GeneratorError(Exception):
    """Base of every error the generator raises on purpose."""


class ImageError(GeneratorError, ValueError):
    """The image cannot be read, or is too small to hold a face."""


class NoFaceError(GeneratorError, ValueError):
    """No face was found; pass explicit landmarks for drawn characters."""


class MultipleFacesError(GeneratorError, ValueError):
    """Several faces were found and none was chosen; pass ``face_index``."""

    def __init__(self, count: int) -> None:
        super().__init__(
            f"{count} faces found; choose one with face_index (0..{count - 1}, left to right)"
        )
        self.count = count


class LandmarkError(GeneratorError, ValueError):
    """Explicit landmarks are malformed (68 points of x, y inside the image)."""


class AudioError(GeneratorError, ValueError):
    """The audio cannot be decoded, or is empty."""
