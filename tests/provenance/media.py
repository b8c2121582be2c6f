"""Test media for the watermark: talking-head-like clips from real photos, and the attacks.

``bench/watermark.py`` imports this module too, so the benchmark and the tests attack the same
frames the same way.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence

import av
import cv2
import numpy as np
from skimage import data

Clip = list[np.ndarray]
PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": data.astronaut,
    "coffee": data.coffee,
    "chelsea": data.chelsea,
    "rocket": data.rocket,
}


def photo(name: str, width: int, height: int) -> np.ndarray:
    """A sample photo, centre-cropped to the aspect ratio and resized to width x height."""
    image = np.ascontiguousarray(PHOTOS[name]()[..., :3])
    h, w = image.shape[:2]
    aspect = width / height
    if w / h > aspect:
        cw = round(h * aspect)
        image = image[:, (w - cw) // 2 : (w - cw) // 2 + cw]
    else:
        ch = round(w / aspect)
        image = image[(h - ch) // 2 : (h - ch) // 2 + ch]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


def talking_clip(
    name: str, width: int, height: int, frames: int = 25, seed: int = 0
) -> Clip:
    """A photo that sways, nods and breathes a little, as a head in a video call does."""
    base = photo(name, width, height)
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * math.pi, 4)
    clip = []
    for i in range(frames):
        t = i / 25
        dx = 3 * math.sin(2 * math.pi * 0.4 * t + phase[0])
        dy = 2 * math.sin(2 * math.pi * 0.7 * t + phase[1])
        angle = 0.6 * math.sin(2 * math.pi * 0.3 * t + phase[2])
        scale = 1 + 0.01 * math.sin(2 * math.pi * 0.5 * t + phase[3])
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
        matrix[:, 2] += (dx, dy)
        clip.append(
            cv2.warpAffine(base, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
        )
    return clip


def h264(clip: Sequence[np.ndarray], crf: int, preset: str = "medium") -> Clip:
    """Encode with libx264 (yuv420p, 25 fps) into an in-memory MP4 and decode it again."""
    height, width = clip[0].shape[:2]
    width, height = width - width % 2, height - height % 2
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset}
        for rgb in clip:
            even = np.ascontiguousarray(rgb[:height, :width])
            frame = av.VideoFrame.from_ndarray(even, format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    buffer.seek(0)
    with av.open(buffer) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def scale(clip: Sequence[np.ndarray], factor: float) -> Clip:
    h, w = clip[0].shape[:2]
    size = (round(w * factor), round(h * factor))
    return [cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) for rgb in clip]


def crop(clip: Sequence[np.ndarray], fraction: float) -> Clip:
    """Keep the centre ``fraction`` of each side."""
    h, w = clip[0].shape[:2]
    ch, cw = round(h * fraction), round(w * fraction)
    top, left = (h - ch) // 2, (w - cw) // 2
    return [np.ascontiguousarray(rgb[top : top + ch, left : left + cw]) for rgb in clip]


def brightness(clip: Sequence[np.ndarray], factor: float) -> Clip:
    """Scale every value (PIL's ImageEnhance.Brightness), saturating."""
    return [cv2.convertScaleAbs(rgb, alpha=factor) for rgb in clip]


def contrast(clip: Sequence[np.ndarray], factor: float) -> Clip:
    """Stretch around the frame's mean grey (PIL's ImageEnhance.Contrast), saturating."""
    out = []
    for rgb in clip:
        mean = float(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).mean())
        out.append(cv2.convertScaleAbs(rgb, alpha=factor, beta=mean * (1 - factor)))
    return out


def noise(clip: Sequence[np.ndarray], sigma: float, seed: int = 0) -> Clip:
    rng = np.random.default_rng(seed)
    return [
        np.clip(rgb + rng.normal(0, sigma, rgb.shape), 0, 255).astype(np.uint8) for rgb in clip
    ]


def jpeg(clip: Sequence[np.ndarray], quality: int) -> Clip:
    out = []
    for rgb in clip:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])
        assert ok
        out.append(cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    return out


ATTACKS: dict[str, Callable[[Sequence[np.ndarray]], Clip]] = {
    "none": list,
    "h264 crf 23": lambda c: h264(c, 23),
    "h264 crf 28": lambda c: h264(c, 28),
    "h264 crf 35": lambda c: h264(c, 35),
    "scale 0.5x": lambda c: scale(c, 0.5),
    "crop 80%": lambda c: crop(c, 0.8),
    "brightness +20%": lambda c: brightness(c, 1.2),
    "brightness -20%": lambda c: brightness(c, 0.8),
    "contrast +20%": lambda c: contrast(c, 1.2),
    "contrast -20%": lambda c: contrast(c, 0.8),
    "noise sigma 5": lambda c: noise(c, 5),
    "jpeg q50": lambda c: jpeg(c, 50),
    "crf 28 + 0.5x + crop 80%": lambda c: h264(crop(scale(c, 0.5), 0.8), 28),
}
