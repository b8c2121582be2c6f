"""Face matching for consent: decode an upload safely, find its one face, describe it, compare.

Two encoders sit behind one Protocol:

- ``DlibEncoder`` (default): dlib's 128-D ResNet descriptor from the gate's own face analysis
  (``landmarks.py``), compared by Euclidean distance.
- ``ArcFaceEncoder``: an ArcFace ONNX model an operator installs (``LPM_CONSENT_FACE_MODEL``),
  run by onnxruntime on the standard 112×112 crop aligned on five landmarks, compared by cosine
  distance.

Thresholds (dlib). ``bench/face_match.py`` on every face the packages ship (8 people, 12
augmentations each): genuine same-photo distances (JPEG 90–30, resize 0.6–1.5, rotation ±15°,
brightness ×0.7–1.3) span 0.03–0.29 (median 0.10); impostor distances 0.58–0.95 (median 0.79);
different people in insightface's ``t1.jpg`` sit at 0.61–0.91. dlib documents 0.6 as its
same-person threshold (99.38 % on LFW). Two thresholds, each strict in the safe direction:

- ``match_threshold`` 0.5 — a face must be at most this far to count as *the same person* (the
  consent stills against every photo of the identity, a request's references against the
  identity): FMR 0 and FNMR 0 on the bench; stricter than dlib's 0.6 and still well above
  same-photo genuine pairs, leaving room for real photos taken on different days.
- ``protected_threshold`` 0.6 — a face this close to a protected or consented identity is
  *refused*: looser (FMR 0.4 % on the bench: near misses among strangers are refused rather
  than generated).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from . import landmarks as dlib_faces
from .errors import FaceModelError, ImageTooLarge, MultipleFaces, NoFace, UnreadableImage
from .landmarks import Face

Descriptor = npt.NDArray[np.float64]
RGB = npt.NDArray[np.uint8]

# A photo of a face needs nothing like this many pixels; Pillow reads the size from the header,
# so a decompression bomb is refused before a single pixel is decoded.
MAX_PIXELS = 40_000_000
# Faces are found and described on a copy at most this large (dlib's HOG detector upsamples
# once: a 12-megapixel phone photo would cost seconds and find nothing more).
WORKING_SIDE = 1600
ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP")


def decode_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> RGB:
    """An uploaded JPEG, PNG or WebP as an RGB array, EXIF-rotated, full size."""
    # (1): Pillow identifies the format and reads the size from the header only.
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise UnreadableImage("the file is not a JPEG, PNG or WebP image") from None
    except Image.DecompressionBombError:
        raise ImageTooLarge(f"the image has more than {max_pixels} pixels") from None
    with image:
        width, height = image.size
        # (2): the pixel count is bounded before decoding (Pillow's own bomb check is looser).
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"the image is {width}×{height}, more than {max_pixels} pixels",
                width=width,
                height=height,
            )
        # (3): decode, apply the EXIF orientation, convert to RGB.
        try:
            upright = ImageOps.exif_transpose(image)
            rgb = np.asarray(upright.convert("RGB"), dtype=np.uint8)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
            raise UnreadableImage("the image data is truncated or corrupt") from None
    return rgb


def shrink(rgb: RGB, side: int = WORKING_SIDE) -> RGB:
    height, width = rgb.shape[:2]
    scale = side / max(height, width)
    if scale >= 1.0:
        return np.ascontiguousarray(rgb)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)


def pixels_sha256(rgb: RGB) -> str:
    """A digest of decoded pixels (and shape): the same picture however it was encoded."""
    digest = hashlib.sha256(f"{rgb.shape}".encode())
    digest.update(np.ascontiguousarray(rgb).tobytes())
    return digest.hexdigest()


class FaceEncoder(Protocol):
    """Turns one face of an image into a descriptor, and says how far apart two are."""

    @property
    def name(self) -> str:
        """Stored beside each descriptor: descriptors of different encoders never compare."""
        ...

    @property
    def match_threshold(self) -> float: ...

    @property
    def protected_threshold(self) -> float: ...

    @property
    def capture_threshold(self) -> float:
        """A live consent capture's face against every photo the researcher enrolled (a
        reviewer compares them too): ``consent/captures.py`` says how it was chosen."""
        ...

    def encode(self, image: RGB, face: Face) -> Descriptor: ...

    def distance(self, a: Descriptor, b: Descriptor) -> float: ...


class DlibEncoder:
    name = "dlib-resnet-v1"
    match_threshold = 0.5
    protected_threshold = 0.6
    # On real photos of the same people on different occasions: median 0.38, up to 0.61; at
    # 0.55, 2.6 % of genuine pairs refused, 0.07 % of impostor pairs pass (0.50: 6.5 %, none).
    capture_threshold = 0.55

    def encode(self, image: RGB, face: Face) -> Descriptor:
        return np.asarray(dlib_faces.descriptor(image, face), dtype=np.float64)

    def distance(self, a: Descriptor, b: Descriptor) -> float:
        return float(np.linalg.norm(a - b))


# ArcFace's alignment template for a 112×112 crop (insightface's ``arcface_dst``): the eye
# centres (viewer's left, right), the nose tip and the mouth corners (viewer's left, right).
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
ARCFACE_SIZE = 112


def five_points(face: Face) -> npt.NDArray[np.float64]:
    """ArcFace's five points from dlib's 68 landmarks."""
    marks = face.landmarks
    return np.array(
        [
            marks[dlib_faces.RIGHT_EYE].mean(0),  # the subject's right eye: viewer's left
            marks[dlib_faces.LEFT_EYE].mean(0),
            marks[30],  # nose tip
            marks[48],  # mouth corner, viewer's left
            marks[54],
        ],
        dtype=np.float64,
    )


def align_arcface(image: RGB, face: Face) -> RGB:
    """The 112×112 crop ArcFace models are trained on (similarity transform, five points)."""
    matrix, _ = cv2.estimateAffinePartial2D(five_points(face), ARCFACE_TEMPLATE, method=cv2.LMEDS)
    if matrix is None:
        raise NoFace("the face's landmarks are degenerate")
    crop = cv2.warpAffine(image, matrix, (ARCFACE_SIZE, ARCFACE_SIZE), borderValue=0.0)
    return np.asarray(crop, dtype=np.uint8)


class ArcFaceEncoder:
    """An ArcFace model in ONNX: input ``[N, 3, 112, 112]`` float RGB in −1..1, output
    ``[N, D]``. Compared by cosine distance (0 same direction, 2 opposite).

    Its thresholds follow common ArcFace practice (same person at cosine similarity ≥ 0.4);
    no ArcFace model can be fetched here to calibrate them: an operator who installs one runs
    ``bench/face_match.py --face-model`` on it first."""

    match_threshold = 0.6  # cosine similarity ≥ 0.4
    protected_threshold = 0.7  # cosine similarity ≥ 0.3 is refused
    capture_threshold = 0.6  # uncalibrated here, as match_threshold

    def __init__(self, model: Path) -> None:
        # (1): the file exists and onnxruntime can load it.
        try:
            import onnxruntime
        except ImportError:  # pragma: no cover - onnxruntime is a dependency
            raise FaceModelError("onnxruntime is not installed") from None
        if not model.is_file():
            raise FaceModelError(f"no face model at {model}")
        try:
            self._session: Any = onnxruntime.InferenceSession(
                str(model), providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise FaceModelError(f"{model}: cannot load the ONNX model: {exc}") from None
        # (2): one input of shape [N, 3, 112, 112] and one output of shape [N, D].
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if len(inputs) != 1 or not outputs:
            raise FaceModelError(f"{model}: expected one input and an embedding output")
        shape = list(inputs[0].shape)
        if len(shape) != 4 or [_dim(d) for d in shape[1:]] != [3, ARCFACE_SIZE, ARCFACE_SIZE]:
            raise FaceModelError(f"{model}: input shape {shape} is not [N, 3, 112, 112]")
        out_shape = list(outputs[0].shape)
        if len(out_shape) != 2:
            raise FaceModelError(f"{model}: output shape {out_shape} is not [N, D]")
        self._input = inputs[0].name
        self._output = outputs[0].name
        digest = hashlib.sha256(model.read_bytes()).hexdigest()[:16]
        self.name = f"arcface-{digest}"

    def encode(self, image: RGB, face: Face) -> Descriptor:
        crop = align_arcface(image, face).astype(np.float32)
        blob = ((crop - 127.5) / 127.5).transpose(2, 0, 1)[None]
        (embedding,) = self._session.run([self._output], {self._input: blob})
        vector = np.asarray(embedding, dtype=np.float64).reshape(-1)
        norm = float(np.linalg.norm(vector))
        if not np.isfinite(norm) or norm == 0.0:
            raise FaceModelError("the face model returned an empty embedding")
        return vector / norm

    def distance(self, a: Descriptor, b: Descriptor) -> float:
        if a.shape != b.shape:
            return 2.0
        return float(1.0 - np.dot(a, b))


def _dim(value: object) -> int | None:
    return value if isinstance(value, int) else None


@cache
def _arcface(model: Path) -> ArcFaceEncoder:
    return ArcFaceEncoder(model)


def encoder_for(model: Path | None) -> FaceEncoder:
    """The ArcFace encoder when an operator installed a model, else dlib's."""
    return DlibEncoder() if model is None else _arcface(model.resolve())


@dataclass(frozen=True, slots=True)
class FaceSample:
    face: Face
    descriptor: Descriptor


def faces_in(image: RGB, encoder: FaceEncoder) -> list[FaceSample]:
    """Every face in the image, left to right, described."""
    return [
        FaceSample(face, encoder.encode(image, face)) for face in dlib_faces.detect_faces(image)
    ]


def one_face(image: RGB, encoder: FaceEncoder, what: str = "the photo") -> FaceSample:
    """The single face of a photo: none, or more than one, is an error.

    dlib's detector runs upsampled once to find small faces, which also finds the odd false
    face in a pattern; when it reports several, the photo counts as one face only if the
    detector at native resolution (faces of 80 px and more, hardly any false ones) sees
    exactly one. When the upsampled pass finds nothing (its scores fall below the cut on some
    tilted faces), the native pass gets its chance."""
    found = dlib_faces.detect_faces(image)
    if not found:
        found = dlib_faces.detect_faces(image, upsample=0)
    if len(found) > 1:
        large = dlib_faces.detect_faces(image, upsample=0)
        if len(large) != 1:
            raise MultipleFaces(
                f"{what} shows {len(found)} faces; it must show only the one person",
                faces=len(found),
            )
        found = large
    if not found:
        raise NoFace(f"no face found in {what}")
    return FaceSample(found[0], encoder.encode(image, found[0]))


def nearest(encoder: FaceEncoder, probe: Descriptor, gallery: list[Descriptor]) -> float:
    """The smallest distance from ``probe`` to any descriptor of ``gallery`` (inf if empty)."""
    return min((encoder.distance(probe, other) for other in gallery), default=float("inf"))


def farthest(encoder: FaceEncoder, probe: Descriptor, gallery: list[Descriptor]) -> float:
    """The largest distance from ``probe`` to any descriptor of ``gallery`` (inf if empty)."""
    if not gallery:
        return float("inf")
    return max(encoder.distance(probe, other) for other in gallery)


def descriptor_bytes(descriptor: Descriptor) -> bytes:
    return np.asarray(descriptor, dtype="<f8").tobytes()


def descriptor_from_bytes(data: bytes) -> Descriptor:
    return np.frombuffer(data, dtype="<f8").astype(np.float64)


def encode_png(rgb: RGB) -> bytes:
    """Photos are stored as PNG of the decoded pixels: lossless, metadata (EXIF, GPS) dropped."""
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - encoding a valid array does not fail
        raise UnreadableImage("cannot re-encode the image")
    return bytes(buffer)


def decode_png(data: bytes) -> RGB:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UnreadableImage("a stored photo cannot be decoded")
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
