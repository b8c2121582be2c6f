"""Reference-photo checks: size limits before decoding, nudity (nudenet), exactly one face (dlib).

Minor likeness: no model that ships in a wheel here can estimate age, so this stage cannot
tell a child's photo from an adult's (see SECURITY.md). ``MinorLikeness`` is the place for such
a model. Until one is plugged in, the researcher's attestation that the subject is an adult
stands in for it: a photo without one gets a ``minor_likeness.unattested`` hit, whose action
the policy file sets (review by default).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from .errors import InputRejected
from .models import Category, ImageDecision, RuleId, Use
from .policy import Hit, Policy

Rgb = npt.NDArray[np.uint8]


class MinorLikeness(Protocol):
    """An age estimator: True when the face at ``box`` may be a minor's."""

    def may_be_minor(self, rgb: Rgb, box: tuple[int, int, int, int]) -> bool: ...


@cache
def _face_detector() -> Any:
    import dlib

    return dlib.get_frontal_face_detector()


@cache
def _nude_detector() -> Any:
    from nudenet import NudeDetector

    return NudeDetector()


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over union of two (left, top, width, height) boxes."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0, w) * max(0, h)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _distinct(boxes: list[tuple[int, int, int, int]]) -> tuple[tuple[int, int, int, int], ...]:
    """One box per face: dlib can report the same face twice, slightly shifted."""
    kept: list[tuple[int, int, int, int]] = []
    for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
        if all(_overlap(box, k) < 0.3 for k in kept):
            kept.append(box)
    return tuple(sorted(kept))


def _open_within_limits(policy: Policy, path: Path) -> Rgb:
    limits = policy.document.limits.image
    # (1): the file's size, then its header: width and height are read before any pixel is
    # decoded, so a decompression bomb is refused unopened.
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputRejected("image.file", f"cannot read image file: {exc.strerror}") from exc
    if size > limits.max_bytes:
        raise InputRejected(
            "image.bytes", f"image file is {size} bytes; the limit is {limits.max_bytes}"
        )
    try:
        with Image.open(path) as image:
            if image.format not in limits.formats:
                raise InputRejected(
                    "image.format",
                    f"image format {image.format} is not one of {', '.join(limits.formats)}",
                )
            width, height = image.size
            if width * height > limits.max_pixels:
                raise InputRejected(
                    "image.pixels",
                    f"image has {width * height} pixels; the limit is {limits.max_pixels}",
                )
            if max(width, height) > limits.max_side or min(width, height) < limits.min_side:
                raise InputRejected(
                    "image.size",
                    f"image is {width}x{height}; sides must be "
                    f"{limits.min_side}-{limits.max_side} px",
                )
            # (2): only now decode.
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except Image.DecompressionBombError as exc:  # Pillow's own guard, far above ours
        raise InputRejected("image.pixels", f"image has too many pixels: {exc}") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise InputRejected("image.decode", f"not a readable image: {exc}") from exc


def check_image_file(
    policy: Policy,
    path: Path | str,
    use: Use,
    face_index: int | None = None,
    minor_model: MinorLikeness | None = None,
    adult_attested: bool = False,
) -> ImageDecision:
    """A reference photo: limits, nudity, faces (exactly one unless ``face_index`` picks one)."""
    rgb = _open_within_limits(policy, Path(path))
    settings = policy.document.images
    hits: list[Hit] = []
    # (3): nudity by nudenet's detector (its ONNX model ships in the wheel); BGR as it expects.
    detections = _nude_detector().detect(np.ascontiguousarray(rgb[:, :, ::-1]))
    nudity = tuple(
        (str(d["class"]), float(d["score"]))
        for d in detections
        if d["class"] in settings.nudity_labels and d["score"] >= settings.nudity_min_score
    )
    if nudity:
        hits.append(Hit(RuleId("nudity.exposed"), Category.NUDITY))
    # (4): faces by dlib's HOG detector (no upsampling: it finds faces from ~80 px, and the
    # minimum is larger); one of at least the minimum size, or the one chosen.
    rects, scores, _ = _face_detector().run(rgb, 0, settings.face_min_score)
    boxes = [
        (int(r.left()), int(r.top()), int(r.width()), int(r.height()))
        for r, score in zip(rects, scores, strict=True)
        if min(r.width(), r.height()) >= settings.min_face_px and score >= settings.face_min_score
    ]
    faces = _distinct(boxes)
    if face_index is None:
        if len(faces) != 1:
            hits.append(Hit(RuleId(f"faces.{'none' if not faces else 'several'}"), Category.FACES))
    elif not 0 <= face_index < len(faces):
        hits.append(Hit(RuleId("faces.index_out_of_range"), Category.FACES))
    # (5): minor likeness: a model if one is given, else the attestation stands in (see above).
    index = 0 if face_index is None else face_index
    chosen = faces[index] if 0 <= index < len(faces) else None
    if minor_model is None:
        if not adult_attested:
            hits.append(Hit(RuleId("minor_likeness.unattested"), Category.MINOR_LIKENESS))
    elif chosen is not None and minor_model.may_be_minor(rgb, chosen):
        hits.append(Hit(RuleId("minor_likeness.detected"), Category.MINOR_LIKENESS))
    decision = policy.decide(hits, use, allow_reason="one face, no nudity")
    return ImageDecision(decision, rgb.shape[1], rgb.shape[0], faces, nudity)
