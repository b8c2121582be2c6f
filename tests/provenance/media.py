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


def talking_clip(name: str, width: int, height: int, frames: int = 25, seed: int = 0) -> Clip:
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
        clip.append(cv2.warpAffine(base, matrix, (width, height), borderMode=cv2.BORDER_REFLECT))
    return clip


def generated(name: str, width: int, height: int, frames: int = 25) -> Clip:
    """The generator's own output: the photo animated (speech shapes, blinks and a moving
    head, varied every frame as bench/generator.py varies them)."""
    from lpm_guard.generator import Character, FaceControls

    character = Character.from_photo(PHOTOS[name]()[..., :3], size=(width, height))
    rng = np.random.default_rng(1)
    clip = []
    for i in range(frames):
        t = i / 25
        controls = FaceControls(
            jaw_open=float(rng.uniform(0.05, 1.0)),
            lip_width=float(rng.uniform(0.0, 1.0)),
            smile=float(rng.uniform(-0.3, 0.8)),
            blink=float(rng.choice([0.0, 0.0, 0.0, 0.5, 1.0])),
            yaw=0.25 * math.sin(1.3 * t),
            pitch=0.12 * math.sin(0.9 * t + 1.0),
            roll=0.08 * math.sin(0.7 * t + 2.0),
            breath=math.sin(1.5 * t),
        )
        clip.append(character.renderer.render(controls))
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
    return [np.clip(rgb + rng.normal(0, sigma, rgb.shape), 0, 255).astype(np.uint8) for rgb in clip]


def jpeg(clip: Sequence[np.ndarray], quality: int) -> Clip:
    out = []
    for rgb in clip:
        ok, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
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


def mirror(clip: Sequence[np.ndarray]) -> Clip:
    """Left and right swapped (a selfie view, a platform's mirror edit)."""
    return [np.ascontiguousarray(rgb[:, ::-1]) for rgb in clip]


def rotate(clip: Sequence[np.ndarray], degrees: float) -> Clip:
    """Turned ``degrees`` counter-clockwise about the centre, cropped to the largest centred
    rectangle of the frame's shape that holds no border, and enlarged back to the frame's
    size (a phone's "straighten")."""
    h, w = clip[0].shape[:2]
    a = math.radians(abs(degrees))
    keep = min(w / (w * math.cos(a) + h * math.sin(a)), h / (w * math.sin(a) + h * math.cos(a)))
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1 / keep)
    return [cv2.warpAffine(rgb, matrix, (w, h), flags=cv2.INTER_LINEAR) for rgb in clip]


def perspective(clip: Sequence[np.ndarray], keystone: float) -> Clip:
    """The frame seen from off its axis, at 80% of a 1280x720 capture on a dark surround:
    the top-left corner pulled in by ``keystone`` of the width (and half that down), the
    top-right and bottom-left by half as much (a phone held a little low and to the left)."""
    h, w = clip[0].shape[:2]
    size = 0.8 * min(1280 / w, 720 / h)
    cw, ch = w * size, h * size
    x0, y0 = (1280 - cw) / 2, (720 - ch) / 2
    k = keystone
    source = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    target = np.float32(
        [
            [x0 + k * cw, y0 + k / 2 * ch],
            [x0 + cw - k / 2 * cw, y0],
            [x0 + cw, y0 + ch],
            [x0, y0 + ch - k / 2 * ch],
        ]
    )
    matrix = cv2.getPerspectiveTransform(source, target)
    return [cv2.warpPerspective(rgb, matrix, (1280, 720), borderValue=(20, 20, 20)) for rgb in clip]


def screen_recording(clip: Sequence[np.ndarray], keystone: float = 0.02) -> Clip:
    """A phone filming the clip on a screen: perspective (keystone), the lens's blur, the
    display's gamma (0.8) and the phone's H.264 (crf 26)."""
    gamma = (255 * (np.arange(256) / 255) ** 0.8).astype(np.uint8)
    seen = [
        cv2.LUT(cv2.GaussianBlur(rgb, (0, 0), 0.6), gamma) for rgb in perspective(clip, keystone)
    ]
    return h264(seen, 26)


def upscale_into(clip: Sequence[np.ndarray], width: int, height: int) -> Clip:
    """Enlarged (bicubic) to fit ``width`` x ``height``, centred on black bars."""
    h, w = clip[0].shape[:2]
    factor = min(width / w, height / h)
    nw, nh = round(w * factor), round(h * factor)
    x, y = (width - nw) // 2, (height - nh) // 2
    out = []
    for rgb in clip:
        canvas = np.zeros((height, width, 3), np.uint8)
        canvas[y : y + nh, x : x + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_CUBIC)
        out.append(canvas)
    return out


def _gate(clip: Sequence[np.ndarray]) -> Clip:
    """The gate's own output: H.264 crf 20, veryfast, as the generator writes it."""
    return h264(clip, 20, "veryfast")


# Issue 19: geometry on the gate's output (crf 20), as platforms and phones change it.
GEOMETRY_ATTACKS: dict[str, Callable[[Sequence[np.ndarray]], Clip]] = {
    "gate + mirrored": lambda c: mirror(_gate(c)),
    "gate + rotated 0.5°": lambda c: rotate(_gate(c), 0.5),
    "gate + rotated 1°": lambda c: rotate(_gate(c), 1),
    "gate + rotated 3°": lambda c: rotate(_gate(c), 3),
    "gate + rotated -5°": lambda c: rotate(_gate(c), -5),
    "gate + screen recording": lambda c: screen_recording(_gate(c)),
    "gate + into 1920x1080": lambda c: upscale_into(_gate(c), 1920, 1080),
    "gate + into 1920x1080 + crf 30": lambda c: h264(upscale_into(_gate(c), 1920, 1080), 30),
    "gate + into 3840x2160 + crf 30": lambda c: h264(upscale_into(_gate(c), 3840, 2160), 30),
    "gate + rotated 2° + 0.75x + crf 28": lambda c: h264(scale(rotate(_gate(c), 2), 0.75), 28),
}
