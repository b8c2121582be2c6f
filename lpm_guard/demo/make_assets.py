"""How the demo's bundled files were made, once; run again to remake them:
``python -m lpm_guard.demo.make_assets`` (needs flite).

- ``data/pip.png`` and ``data/pip.json``: Pip, a drawn character, painted with OpenCV from the
  generator's 68-point mean face, and those 68 points (explicit landmarks: a face detector
  need not find a drawing).
- ``data/pip.ogg``: a short sentence spoken by flite's ``slt`` voice, Opus in Ogg (mono, 24 kHz,
  32 kbit/s: a tenth of the WAV's size).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np

from ..generator.pose import mean_shape

DATA = Path(__file__).with_name("data")
SIZE = 512
SENTENCE = (
    "Hello, I am Pip, a drawn character. Every frame of this clip carries a watermark, "
    "and the file is signed."
)


def draw(size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The picture (RGB) and its 68 landmarks (pixels)."""
    shape = mean_shape()[:, :2]
    marks = (shape - shape.mean(0)) * size * 0.30 + np.array([size / 2, size * 0.56])

    def pts(idx: range) -> np.ndarray:
        points: np.ndarray = np.round(marks[list(idx)]).astype(np.int32)
        return points

    # (1): a soft vertical gradient behind.
    top, bottom = np.array([96, 160, 210]), np.array([40, 90, 150])
    ramp = np.linspace(0.0, 1.0, size)[:, None, None]
    image = np.broadcast_to(top + (bottom - top) * ramp, (size, size, 3)).astype(np.uint8).copy()
    centre = marks.mean(0)
    width = float(np.ptp(marks[:, 0]))
    # (2): shoulders and neck, then hair behind the head.
    cv2.ellipse(
        image, (size // 2, size + 40), (int(width * 1.3), 150), 0, 180, 360, (70, 60, 120), -1
    )
    cv2.rectangle(
        image,
        (int(centre[0] - width * 0.22), int(marks[8, 1] - 30)),
        (int(centre[0] + width * 0.22), size - 60),
        (236, 190, 150),
        -1,
    )
    cv2.ellipse(
        image,
        (int(centre[0]), int(centre[1] - width * 0.25)),
        (int(width * 0.72), int(width * 0.78)),
        0,
        0,
        360,
        (60, 40, 30),
        -1,
    )
    # (3): the face: the jaw line closed over the forehead.
    forehead = [
        (centre[0] + np.cos(a) * width * 0.5, marks[19, 1] - np.sin(a) * width * 0.42 + 10)
        for a in np.linspace(0.0, np.pi, 24)
    ]
    outline = np.vstack([marks[0:17], np.array(forehead)]).round().astype(np.int32)
    cv2.fillPoly(image, [outline], (245, 205, 168), cv2.LINE_AA)
    # a fringe over the forehead
    cv2.ellipse(
        image,
        (int(centre[0]), int(marks[19, 1] - width * 0.32)),
        (int(width * 0.5), int(width * 0.2)),
        0,
        180,
        360,
        (60, 40, 30),
        -1,
        cv2.LINE_AA,
    )
    # (4): cheeks, brows, eyes with irises and a catchlight, nose, lips.
    for cheek in (marks[2] * 0.45 + marks[48] * 0.55, marks[14] * 0.45 + marks[54] * 0.55):
        cv2.circle(
            image,
            tuple(cheek.round().astype(int)),
            int(width * 0.07),
            (240, 170, 150),
            -1,
            cv2.LINE_AA,
        )
    cv2.polylines(
        image, [pts(range(17, 22)), pts(range(22, 27))], False, (70, 45, 30), 6, cv2.LINE_AA
    )
    for eye in (range(36, 42), range(42, 48)):
        cv2.fillPoly(image, [pts(eye)], (255, 255, 255), cv2.LINE_AA)
        middle = tuple(pts(eye).mean(0).astype(int))
        cv2.circle(image, middle, int(width * 0.035), (60, 110, 60), -1, cv2.LINE_AA)
        cv2.circle(image, middle, int(width * 0.017), (20, 20, 20), -1, cv2.LINE_AA)
        cv2.circle(image, (middle[0] + 3, middle[1] - 3), 2, (255, 255, 255), -1, cv2.LINE_AA)
        cv2.polylines(image, [pts(eye)], True, (60, 40, 30), 2, cv2.LINE_AA)
    cv2.polylines(
        image, [pts(range(27, 31)), pts(range(31, 36))], False, (200, 140, 110), 2, cv2.LINE_AA
    )
    cv2.fillPoly(image, [pts(range(48, 60))], (200, 80, 90), cv2.LINE_AA)
    cv2.polylines(image, [pts(range(60, 68))], True, (130, 30, 45), 2, cv2.LINE_AA)
    return image, marks


def speak(path: Path, text: str = SENTENCE) -> None:
    """flite's voice, re-encoded as Opus in Ogg."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(wav)], check=True)  # noqa: S603,S607
        with av.open(str(wav)) as source, av.open(str(path), "w", format="ogg") as sink:
            stream = sink.add_stream("libopus", rate=24000, layout="mono")
            stream.bit_rate = 32000
            resampler = av.AudioResampler(format="s16", layout="mono", rate=24000)
            for frame in source.decode(audio=0):
                for out in resampler.resample(frame):
                    for packet in stream.encode(out):
                        sink.mux(packet)
            for out in resampler.resample(None):
                for packet in stream.encode(out):
                    sink.mux(packet)
            for packet in stream.encode(None):
                sink.mux(packet)


def main() -> None:
    image, marks = draw()
    cv2.imwrite(str(DATA / "pip.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    (DATA / "pip.json").write_text(
        json.dumps([[round(x, 1), round(y, 1)] for x, y in marks.tolist()]) + "\n"
    )
    speak(DATA / "pip.ogg")


if __name__ == "__main__":
    main()
