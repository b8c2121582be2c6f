"""Benchmark of consent face matching (``lpm_guard.consent.faces``): genuine and impostor
distance distributions, and the false match / false non-match rates at the chosen thresholds.

    .venv/bin/python bench/face_match.py                  # table
    .venv/bin/python bench/face_match.py --json out.json  # also write the results as JSON
    .venv/bin/python bench/face_match.py --face-model arcface.onnx   # an installed ArcFace

The faces are every face the installed packages ship: the six people of insightface's
``t1.jpg`` (cropped one by one), insightface's ``Tom_Hanks_54745.png`` and scikit-image's
astronaut. Genuine pairs are each face against its own augmentations (JPEG quality, resizing,
rotation, brightness and combinations of them, as a webcam still of a printed photo would
differ); impostor pairs are every two different people, originals and augmentations alike.
An augmentation in which dlib finds no single face is counted as a failure to acquire, not as
a distance. Same-photo genuine pairs are the easy case: real photos of one person taken on
different days sit further apart (dlib's LFW figures), which is why the match threshold keeps
a margin above them.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import itertools
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from lpm_guard.generator import faces as generator_faces
from PIL import Image
from report import cpu_model, progress, table  # bench/report.py
from skimage import data

from lpm_guard.consent import faces

Augment = Callable[[np.ndarray], np.ndarray]
SWEEP = (0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65)


def _jpeg(quality: int) -> Augment:
    def apply(rgb: np.ndarray) -> np.ndarray:
        buffer = io.BytesIO()
        Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
        return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))

    return apply


def _resize(scale: float) -> Augment:
    def apply(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        mode = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
        return np.asarray(cv2.resize(rgb, size, interpolation=mode))

    return apply


def _rotate(degrees: float) -> Augment:
    def apply(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
        return np.asarray(cv2.warpAffine(rgb, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE))

    return apply


def _brightness(gain: float, offset: float = 0.0) -> Augment:
    def apply(rgb: np.ndarray) -> np.ndarray:
        return np.clip(rgb.astype(np.float32) * gain + offset, 0, 255).astype(np.uint8)

    return apply


def _chain(*steps: Augment) -> Augment:
    def apply(rgb: np.ndarray) -> np.ndarray:
        for step in steps:
            rgb = step(rgb)
        return rgb

    return apply


AUGMENTATIONS: dict[str, Augment] = {
    "jpeg-90": _jpeg(90),
    "jpeg-60": _jpeg(60),
    "jpeg-30": _jpeg(30),
    "resize-0.6": _resize(0.6),
    "resize-1.5": _resize(1.5),
    "rotate-5": _rotate(5),
    "rotate-minus-10": _rotate(-10),
    "rotate-15": _rotate(15),
    "bright-1.3": _brightness(1.3, 10),
    "dark-0.7": _brightness(0.7),
    "webcam": _chain(_resize(1.3), _brightness(1.1, 8), _jpeg(80)),
    "phone": _chain(_rotate(-6), _resize(0.8), _brightness(0.85), _jpeg(70)),
}


def shipped_faces() -> dict[str, np.ndarray]:
    """Every face the installed packages ship, one crop per person."""
    found: dict[str, np.ndarray] = {"skimage-astronaut": data.astronaut()}
    spec = importlib.util.find_spec("insightface")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("insightface is not installed: `make install-dev` installs its sample images")
    images = Path(next(iter(spec.submodule_search_locations))) / "data" / "images"
    group = faces.decode_image((images / "t1.jpg").read_bytes())
    for i, face in enumerate(generator_faces.detect_faces(group)):
        left, top, right, bottom = face.box
        margin = int((right - left) * 0.8)
        top, left = max(0, top - margin), max(0, left - margin)
        found[f"insightface-t1-{i}"] = group[top : bottom + margin, left : right + margin].copy()
    # An aligned 112×112 crop: dlib finds the face only once it is doubled.
    hanks = faces.decode_image((images / "Tom_Hanks_54745.png").read_bytes())
    found["insightface-tom-hanks"] = _resize(2.0)(hanks)
    return found


@dataclass
class Sample:
    person: str
    variant: str
    descriptor: np.ndarray


def describe(encoder: faces.FaceEncoder, image: np.ndarray, timings: list[float]) -> Any:
    started = time.perf_counter()
    try:
        sample = faces.one_face(image, encoder)
    except (faces.NoFace, faces.MultipleFaces):
        return None
    timings.append(time.perf_counter() - started)
    return sample.descriptor


def rates(genuine: list[float], impostor: list[float], threshold: float) -> tuple[float, float]:
    """(FMR, FNMR) when "same person" means distance ≤ threshold."""
    fmr = sum(d <= threshold for d in impostor) / len(impostor)
    fnmr = sum(d > threshold for d in genuine) / len(genuine)
    return fmr, fnmr


def _q(values: list[float], q: float) -> float:
    return float(np.quantile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--face-model", type=Path, help="an ArcFace ONNX model instead of dlib")
    args = parser.parse_args()

    encoder = faces.encoder_for(args.face_model)
    people = shipped_faces()
    progress(f"{len(people)} people, {len(AUGMENTATIONS)} augmentations each, {encoder.name}")
    timings: list[float] = []
    samples: list[Sample] = []
    failures: list[str] = []
    for person, image in people.items():
        original = describe(encoder, image, timings)
        if original is None:
            failures.append(f"{person}/original")
            continue
        samples.append(Sample(person, "original", original))
        for name, augment in AUGMENTATIONS.items():
            descriptor = describe(encoder, augment(image), timings)
            if descriptor is None:
                failures.append(f"{person}/{name}")
            else:
                samples.append(Sample(person, name, descriptor))

    genuine: list[float] = []
    genuine_by_augmentation: dict[str, list[float]] = {}
    impostor: list[float] = []
    for a, b in itertools.combinations(samples, 2):
        distance = encoder.distance(a.descriptor, b.descriptor)
        if a.person != b.person:
            impostor.append(distance)
        elif "original" in (a.variant, b.variant):
            genuine.append(distance)
            variant = b.variant if a.variant == "original" else a.variant
            genuine_by_augmentation.setdefault(variant, []).append(distance)
    originals = [s for s in samples if s.variant == "original"]
    impostor_originals = [
        encoder.distance(a.descriptor, b.descriptor)
        for a, b in itertools.combinations(originals, 2)
    ]

    match, protect = encoder.match_threshold, encoder.protected_threshold
    print(f"consent face matching, {encoder.name}, on {cpu_model()}")
    print(
        f"{len(people)} people; genuine pairs (original vs augmentation) {len(genuine)}, "
        f"impostor pairs {len(impostor)}; failures to acquire {len(failures)}: "
        f"{', '.join(failures) or 'none'}"
    )
    print()
    rows = [["distribution", "n", "min", "p5", "median", "p95", "max"]]
    for label, values in (
        ("genuine (same photo, augmented)", genuine),
        ("impostor (all variants)", impostor),
        ("impostor (originals only)", impostor_originals),
    ):
        rows.append(
            [
                label,
                str(len(values)),
                *(f"{v:.3f}" for v in (min(values), _q(values, 0.05), statistics.median(values))),
                *(f"{v:.3f}" for v in (_q(values, 0.95), max(values))),
            ]
        )
    print(table(rows, right=range(1, 7)))
    print()
    rows = [["threshold", "FMR", "FNMR", "role"]]
    sweep = sorted({*SWEEP, match, protect})
    for threshold in sweep:
        fmr, fnmr = rates(genuine, impostor, threshold)
        role = "match (consent, requests)" if threshold == match else ""
        role = "protected / collision refusal" if threshold == protect else role
        rows.append([f"{threshold:.2f}", f"{fmr:.4f}", f"{fnmr:.4f}", role])
    print(table(rows, right=range(0, 3)))
    print()
    rows = [["augmentation", "median", "max"]]
    for name, values in genuine_by_augmentation.items():
        rows.append([name, f"{statistics.median(values):.3f}", f"{max(values):.3f}"])
    print(table(rows, right=(1, 2)))
    per_face_ms = statistics.median(timings) * 1000
    print(f"\nfind + describe one face: median {per_face_ms:.0f} ms over {len(timings)} images")

    if args.json:
        fmr, fnmr = rates(genuine, impostor, match)
        result = {
            "benchmark": "face_match",
            "when": datetime.now(UTC).isoformat(),
            "cpu": cpu_model(),
            "python": platform.python_version(),
            "encoder": encoder.name,
            "people": sorted(people),
            "augmentations": sorted(AUGMENTATIONS),
            "failures_to_acquire": failures,
            "match_threshold": match,
            "protected_threshold": protect,
            "fmr_at_match": fmr,
            "fnmr_at_match": fnmr,
            "sweep": {
                f"{t:.2f}": dict(zip(("fmr", "fnmr"), rates(genuine, impostor, t), strict=True))
                for t in sweep
            },
            "genuine": sorted(genuine),
            "impostor": sorted(impostor),
            "describe_ms_median": per_face_ms,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        progress(f"wrote {args.json}")


if __name__ == "__main__":
    main()
