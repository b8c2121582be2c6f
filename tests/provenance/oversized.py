"""Videos whose decoded frames are far larger than their files (issue 18, H1): the attacks on
``POST /v1/verify``'s memory. ``bench/verify_memory.py`` posts the same clips."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def flat_h264(path: Path, side: int = 2048, frames: int = 50) -> Path:
    """A black side x side H.264 MP4: ~15 KB for 50 frames of 2048x2048."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "51"}
        black = np.zeros((side, side, 3), np.uint8)
        for i in range(frames):
            picture = av.VideoFrame.from_ndarray(black, format="rgb24")
            picture.pts, picture.time_base = i, Fraction(1, 25)
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    return path


def mjpeg(
    path: Path,
    sides: list[int],
    *,
    stated: int | None = None,
    container_format: str = "mp4",
    seed: int = 0,
) -> Path:
    """Motion JPEG, one frame per entry of ``sides`` (each side x side, textured so that the
    JPEGs are real-sized); the container states ``stated`` x ``stated`` (default: the first
    frame's size), which a liar sets small."""
    rng = np.random.default_rng(seed)
    first = sides[0]
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream("mjpeg", rate=25)
        stream.width = stream.height = stated or first
        stream.pix_fmt = "yuvj420p"
        for i, side in enumerate(sides):
            encoder = av.CodecContext.create("mjpeg", "w")
            encoder.width = encoder.height = side
            encoder.pix_fmt = "yuvj420p"
            encoder.time_base = Fraction(1, 25)
            small = rng.integers(0, 255, (side // 16, side // 16, 3), dtype=np.uint8)
            rgb = np.ascontiguousarray(np.kron(small, np.ones((16, 16, 1), np.uint8)))
            picture = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")
            picture.pts, picture.time_base = i, Fraction(1, 25)
            for packet in [*encoder.encode(picture), *encoder.encode()]:
                packet.stream = stream
                packet.pts = packet.dts = i
                packet.time_base = Fraction(1, 25)
                container.mux(packet)
    return path
