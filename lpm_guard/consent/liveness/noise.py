"""A camera's temporal noise in the still parts of the picture, and the ``rendered`` flag.

A camera sensor never gives the same value twice: between two consecutive frames, every pixel
of a still background moves by a grey level or two. A picture rendered by a program (the
generator's output, a face-swap, any video made from a still) repeats its background exactly,
and the encoder then codes nothing there. The measure takes two consecutive frames about once a
second, drops the face and anything that moved, and reports the median standard deviation of
the frame difference over the remaining 16×16 blocks.

Only a flag for the reviewer, never a refusal: a camera with strong denoising, or a very low
bitrate, also smooths its noise away, and an attacker can add noise to a rendered video.
Measured: the bona fide proxy (σ 2.5 sensor noise, VP8 at 2.5 Mbit/s) 0.75–1.47; a static
photo video and the generator's output 0.0; the generator with a webcam's noise added
1.46–1.61 — not flagged.
"""

from __future__ import annotations

import numpy as np

from .decode import Luma
from .results import CheckResult, Outcome

BLOCK = 16
QUIET_STD = 6.0  # a block whose difference varies more than this moved
QUIET_MEAN = 2.0  # ... or changed brightness
MIN_BLOCKS = 16
NOISE_MIN = 0.5  # grey levels


def pair_noise(
    a: Luma, b: Luma, exclude: tuple[float, float, float, float] | None = None
) -> float | None:
    """The camera noise between two consecutive luma planes (grey levels), or None when too
    little of the picture stood still. ``exclude`` is a box (left, top, right, bottom) in the
    planes' pixels: the face."""
    if a.shape != b.shape:
        return None
    rows, cols = a.shape[0] // BLOCK, a.shape[1] // BLOCK
    if rows == 0 or cols == 0:
        return None
    diff = b[: rows * BLOCK, : cols * BLOCK].astype(np.float32) - a[: rows * BLOCK, : cols * BLOCK]
    blocks = diff.reshape(rows, BLOCK, cols, BLOCK).transpose(0, 2, 1, 3).reshape(rows, cols, -1)
    std, mean = blocks.std(axis=2), np.abs(blocks.mean(axis=2))
    keep = (std < QUIET_STD) & (mean < QUIET_MEAN)
    if exclude is not None:
        left, top, right, bottom = (round(v / BLOCK) for v in exclude)
        keep[max(0, top) : max(0, bottom + 1), max(0, left) : max(0, right + 1)] = False
    if int(keep.sum()) < MIN_BLOCKS:
        return None
    return float(np.median(std[keep]))


def check_rendered(noise: tuple[float, ...]) -> CheckResult:
    """FLAG when the still background carries less noise than a camera gives."""
    if not noise:
        return CheckResult(
            "rendered", Outcome.FLAG, None, NOISE_MIN,
            "no still background to measure camera noise on: the reviewer should look for a "
            "rendered or generated picture",
        )  # fmt: skip
    level = float(np.median(noise))
    if level >= NOISE_MIN:
        return CheckResult(
            "rendered", Outcome.PASS, level, NOISE_MIN,
            f"camera noise in the still background: {level:.2f} grey levels "
            f"(median of {len(noise)} frame pairs)",
        )  # fmt: skip
    return CheckResult(
        "rendered", Outcome.FLAG, level, NOISE_MIN,
        f"the still background repeats almost exactly between frames ({level:.2f} grey levels "
        f"over {len(noise)} frame pairs, a camera gives {NOISE_MIN} or more): the picture may "
        "be rendered or generated rather than filmed; watch for a face pasted on a still scene",
    )  # fmt: skip
