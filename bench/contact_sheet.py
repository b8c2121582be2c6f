"""A contact sheet of the portrait performer (``lpm_guard.generator``): one PNG to look at.

    .venv/bin/python bench/contact_sheet.py                      # bench/results/contact_sheet.png
    .venv/bin/python bench/contact_sheet.py --out sheet.png --cell 360
    .venv/bin/python bench/contact_sheet.py --eyes --out eyes.png      # eyes and expressions

Cells, each captioned: the framed photo and the rest pose; states (idle, speaking: an open vowel,
a closure, a rounded vowel and the widest frame of real flite speech; a listening nod; blinks);
moods reached through ``Performance.instruct`` ("smile warmly", "look thoughtful", "excited",
"look to the left"); head poses up to the limits; the three output sizes; a drawn character rigged
from explicit landmarks; a reference that lends its mouth (its inside painted green so that the
lent pixels show); and 3× close-ups of the mouth and the eyes, where warping artefacts hide.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from lpm_guard.generator import SAMPLE_RATE, Character, FaceControls, Performance, Role, load_audio
from lpm_guard.generator.images import load_image
from lpm_guard.generator.pose import mean_shape
from skimage import data

FPS = 25
CAPTION = 34  # pixels under each picture for two lines of text


@dataclass(frozen=True, slots=True)
class Cell:
    image: np.ndarray  # RGB uint8
    caption: str


def astronaut() -> np.ndarray:
    image: np.ndarray = data.astronaut()  # type: ignore[no-untyped-call]
    return image


def drawn_face(size: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """A cartoon face drawn from the 68-point mean shape: the picture and its exact landmarks
    (the same idea as the tests' fixture: a character no face detector would find)."""
    shape = mean_shape()[:, :2]
    marks = (shape - shape.mean(0)) * size * 0.32 + np.array([size / 2, size * 0.52])
    image = np.full((size, size, 3), (70, 160, 220), np.uint8)
    centre = marks.mean(0)
    axes = (int(np.ptp(marks[:, 0]) * 0.62), int(np.ptp(marks[:, 1]) * 0.75))
    cv2.ellipse(image, (int(centre[0]), int(centre[1] - 10)), axes, 0, 0, 360, (255, 214, 170), -1)

    def pts(idx: Sequence[int]) -> np.ndarray:
        points: np.ndarray = np.round(marks[list(idx)]).astype(np.int32)
        return points

    cv2.polylines(image, [pts(range(17, 22)), pts(range(22, 27))], False, (90, 50, 20), 4)
    for eye in (range(36, 42), range(42, 48)):
        cv2.fillPoly(image, [pts(eye)], (255, 255, 255))
        cv2.circle(image, tuple(int(v) for v in pts(eye).mean(0)), 5, (40, 30, 30), -1)
    cv2.polylines(image, [pts(range(27, 36))], False, (200, 140, 110), 2)
    cv2.fillPoly(image, [pts(range(48, 60))], (200, 60, 80))
    cv2.polylines(image, [pts(range(60, 68))], True, (120, 20, 40), 2)
    return image, marks


def mood_frame(character: Character, text: str, seconds: float = 4.0, seed: int = 0) -> Cell:
    """The last frame after ``seconds`` of an idle performance told ``text``."""
    performance = Performance(character, fps=FPS, seed=seed)
    understood = performance.instruct(text)
    frames = list(performance.frames(round(seconds * FPS)))
    frame = frames[-1]
    return Cell(frame.rgb, f'"{text}" -> {"+".join(understood) or "?"} @{seconds:g}s')


def flite(text: str, voice: str) -> np.ndarray:
    if shutil.which("flite") is None:
        raise SystemExit("flite is not installed (apt-get install flite)")
    with tempfile.TemporaryDirectory(prefix="lpm-sheet-") as folder:
        path = Path(folder) / "speech.wav"
        subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(path)], check=True)
        return load_audio(path)


def speaking_cells(character: Character) -> list[Cell]:
    """From real speech: the widest-open frame and a closure, as the pipeline makes them."""
    audio = flite("Oh, I am so happy to be back home. Maybe, maybe not.", "slt")
    performance = Performance(character, fps=FPS, seed=0)
    performance.feed_audio(audio, Role.AGENT)
    performance.end_audio()
    frames = list(performance.frames())
    widest = max(frames, key=lambda f: f.controls.jaw_open)
    speaking = [f for f in frames if f.state.value == "speaking"]
    closed = max(speaking, key=lambda f: f.controls.lip_close)
    return [
        Cell(widest.rgb, f"flite speech: widest (jaw {widest.controls.jaw_open:.2f})"),
        Cell(closed.rgb, f"flite speech: closure (close {closed.controls.lip_close:.2f})"),
    ]


def listening_nod(character: Character) -> Cell:
    """The deepest point of a nod while hearing the user's speech."""
    audio = flite("Well, last summer we went hiking in the north. It rained every day.", "kal")
    performance = Performance(character, fps=FPS, seed=3)
    performance.feed_audio(np.zeros(SAMPLE_RATE, np.float32), Role.AGENT)
    performance.feed_audio(audio, Role.USER)
    performance.feed_audio(np.zeros(2 * SAMPLE_RATE, np.float32), Role.USER)
    performance.end_audio()
    frames = [f for f in performance.frames() if f.state.value == "listening"]
    deepest = max(frames, key=lambda f: f.controls.pitch)
    return Cell(
        deepest.rgb,
        f"listening: deepest nod (pitch {deepest.controls.pitch:.2f}, "
        f"{performance.behaviour.nods_started} nods)",
    )


def crop(image: np.ndarray, points: np.ndarray, margin: float, zoom: int = 3) -> np.ndarray:
    x0, y0 = np.floor(points.min(0) - margin).astype(int)
    x1, y1 = np.ceil(points.max(0) + margin).astype(int)
    h, w = image.shape[:2]
    part = image[max(0, y0) : min(h, y1), max(0, x0) : min(w, x1)]
    zoomed: np.ndarray = cv2.resize(part, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST)
    return zoomed


def build_cells(photo: np.ndarray) -> list[Cell]:
    ch = Character.from_photo(photo)
    rig, r = ch.rig, ch.renderer
    photo_jaw = rig.lip_gap / (0.55 * rig.interocular)
    cells = [
        Cell(rig.canvas, "photo, framed (no warp)"),
        Cell(r.render(FaceControls()), "rest: all controls 0"),
        Cell(r.render(FaceControls(jaw_open=photo_jaw)), f"photo's own jaw ({photo_jaw:.2f})"),
        mood_frame(ch, "", 3.0),
    ]
    cells[-1] = Cell(cells[-1].image, "idle performance @3s")
    cells += [
        Cell(r.render(FaceControls(jaw_open=0.9, lip_width=0.3)), "open vowel: jaw .9 width .3"),
        Cell(r.render(FaceControls(jaw_open=0.15, lip_close=1.0)), "closure m/b/p: close 1"),
        Cell(r.render(FaceControls(jaw_open=0.35, lip_round=1.0)), "rounded oo: jaw .35 round 1"),
        Cell(r.render(FaceControls(jaw_open=1.0, smile=0.6)), "jaw 1 + smile .6"),
        *speaking_cells(ch),
        listening_nod(ch),
        Cell(r.render(FaceControls(blink=1.0)), "blink 1"),
        Cell(r.render(FaceControls(blink=0.5)), "blink .5"),
        Cell(r.render(FaceControls(gaze_x=1.0, gaze_y=-0.5)), "gaze x 1, y -.5"),
    ]
    for text in ("smile warmly", "look thoughtful", "excited", "look to the left"):
        cells.append(mood_frame(ch, text))
    cells += [
        Cell(r.render(FaceControls(smile=-1.0, brow_raise=-1.0)), "smile -1, brows -1"),
        Cell(r.render(FaceControls(smile=1.0, brow_raise=1.0)), "smile 1, brows 1"),
    ]
    for label, controls in (
        ("yaw -.35", FaceControls(yaw=-0.35)),
        ("yaw +.35", FaceControls(yaw=0.35)),
        ("yaw +.6 asked (clamped), jaw .5", FaceControls(yaw=0.6, jaw_open=0.5)),
        ("pitch -.2 (chin up)", FaceControls(pitch=-0.2)),
        ("pitch +.2 (chin down)", FaceControls(pitch=0.2)),
        ("roll .15, yaw -.2, breath 1", FaceControls(roll=0.15, yaw=-0.2, breath=1.0)),
    ):
        cells.append(Cell(r.render(controls), f"pose: {label}"))
    pose = FaceControls(jaw_open=0.5, yaw=0.2, smile=0.3)
    for size in ((1280, 720), (720, 1280)):
        other = Character.from_photo(photo, size=size)
        cells.append(Cell(other.renderer.render(pose), f"{size[0]}x{size[1]}: jaw .5 yaw .2"))

    image, marks = drawn_face()
    drawn = Character.from_photo(image, landmarks=json.dumps(marks.tolist()))
    cells += [
        Cell(drawn.rig.canvas, "drawn: framed (explicit landmarks)"),
        Cell(drawn.renderer.render(FaceControls(jaw_open=0.8, yaw=0.2)), "drawn: jaw .8 yaw .2"),
        Cell(drawn.renderer.render(FaceControls(blink=1.0, smile=0.8)), "drawn: blink, smile .8"),
    ]

    # A reference of the same photo, mouth opened and painted green inside (as the tests do).
    reference = r.render(FaceControls(jaw_open=0.9))
    inner = np.round(r.deform(FaceControls(jaw_open=0.9))[60:68]).astype(np.int32)
    cv2.fillPoly(reference, [inner], (0, 255, 0))
    lent = Character.from_photo(photo, references=[reference])
    lent_open = lent.renderer.render(FaceControls(jaw_open=0.8, lip_width=0.3))
    cells += [
        Cell(reference, "reference: jaw .9, green inside"),
        Cell(lent_open, f"lent mouth (ref jaw {lent.references[0].jaw_open:.2f}): jaw .8"),
        Cell(
            lent.renderer.render(FaceControls(jaw_open=0.3, yaw=0.3)), "lent mouth: jaw .3 yaw .3"
        ),
    ]

    # Close-ups, 3x, nearest neighbour: mouth and eyes.
    mouth, eyes = rig.landmarks[48:68], rig.landmarks[36:48]
    margin = rig.interocular * 0.3
    for label, controls in (
        ("rest", FaceControls()),
        ("jaw .9", FaceControls(jaw_open=0.9, lip_width=0.3)),
        ("jaw .5 yaw .35", FaceControls(jaw_open=0.5, yaw=0.35)),
        ("round 1 jaw .35", FaceControls(jaw_open=0.35, lip_round=1.0)),
    ):
        cells.append(Cell(crop(r.render(controls), mouth, margin), f"mouth 3x: {label}"))
    cells.append(Cell(crop(lent_open, mouth, margin), "mouth 3x: lent, jaw .8"))
    for label, controls in (
        ("open", FaceControls()),
        ("blink .5", FaceControls(blink=0.5)),
        ("blink 1", FaceControls(blink=1.0)),
        ("gaze x 1", FaceControls(gaze_x=1.0)),
    ):
        cells.append(Cell(crop(r.render(controls), eyes, margin * 0.6), f"eyes 3x: {label}"))
    return cells


def face_crop(character: Character, image: np.ndarray) -> np.ndarray:
    """The face from the brows to the chin, 2x."""
    marks = character.rig.landmarks
    return crop(image, marks, character.rig.interocular * 0.25, zoom=2)


def listening_strip(character: Character) -> list[Cell]:
    """Frames through a user's turn (two sentences, a 3 s pause between them): the
    state each frame shows, and the mouth."""
    first = flite("Well, last summer we went hiking in the north.", "kal")
    second = flite("It rained every single day, and we loved it anyway.", "kal")
    performance = Performance(character, fps=FPS, seed=3)
    performance.feed_audio(np.zeros(SAMPLE_RATE, np.float32), Role.AGENT)
    for chunk in (first, np.zeros(SAMPLE_RATE * 3, np.float32), second):
        performance.feed_audio(chunk, Role.USER)
    performance.feed_audio(np.zeros(3 * SAMPLE_RATE, np.float32), Role.USER)
    performance.end_audio()
    frames = list(performance.frames())
    turn = SAMPLE_RATE + len(first) + SAMPLE_RATE * 3 + len(second)
    states = "".join(f.state.value[0] for f in frames)
    cells = []
    for k in np.linspace(FPS, len(frames) - 1, 8).astype(int):
        f = frames[k]
        inside = "in turn" if f.pts * SAMPLE_RATE < turn else "after"
        caption = f"listen {f.pts:.1f}s {inside}: {f.state.value}"
        caption += f" smile {f.controls.smile:.2f} brow {f.controls.brow_raise:.2f}"
        cells.append(Cell(face_crop(character, f.rgb), caption))
    print(f"states through the turn (i idle, l listening, s speaking): {states}")
    return cells


def eye_cells(character: Character, name: str) -> list[Cell]:
    """Eye close-ups (gaze, blinks), expressions from instructions, and a listening strip."""
    r, rig = character.renderer, character.rig
    eyes, margin = rig.landmarks[36:48], rig.interocular * 0.18
    cells = []
    for label, controls in (
        ("open", FaceControls()),
        ("gaze x -1", FaceControls(gaze_x=-1.0)),
        ("gaze x +1", FaceControls(gaze_x=1.0)),
        ("gaze y -1", FaceControls(gaze_y=-1.0)),
        ("gaze y +1", FaceControls(gaze_y=1.0)),
        ("blink .35", FaceControls(blink=0.35)),
        ("blink .7", FaceControls(blink=0.7)),
        ("blink 1", FaceControls(blink=1.0)),
    ):
        cells.append(Cell(crop(r.render(controls), eyes, margin), f"{name} eyes 3x: {label}"))
    for text in ("", "smile", "look surprised", "frown", "look sad", "smile warmly and nod"):
        cell = mood_frame(character, text, 2.5)
        cells.append(Cell(face_crop(character, cell.image), f"{name} {cell.caption}"))
    for label, controls in (
        ("smile 1 brows 1", FaceControls(smile=1.0, brow_raise=1.0)),
        ("smile -1 brows -1", FaceControls(smile=-1.0, brow_raise=-1.0)),
    ):
        cells.append(Cell(face_crop(character, r.render(controls)), f"{name} {label}"))
    return cells + listening_strip(character)


def eye_sheet_cells(photo: np.ndarray) -> list[Cell]:
    image, marks = drawn_face()
    drawn = Character.from_photo(image, landmarks=json.dumps(marks.tolist()))
    return eye_cells(Character.from_photo(photo), "photo") + eye_cells(drawn, "drawn")


def fit(image: np.ndarray, size: int) -> np.ndarray:
    """``image`` scaled into a ``size``² square, centred on grey."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    small = cv2.resize(
        image,
        (max(1, round(w * scale)), max(1, round(h * scale))),
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST,
    )
    out = np.full((size, size, 3), 48, np.uint8)
    y, x = (size - small.shape[0]) // 2, (size - small.shape[1]) // 2
    out[y : y + small.shape[0], x : x + small.shape[1]] = small
    return out


def sheet(cells: Sequence[Cell], columns: int, size: int) -> np.ndarray:
    rows = -(-len(cells) // columns)
    pad = 6
    height, width = size + CAPTION, size
    canvas = np.full((rows * (height + pad) + pad, columns * (width + pad) + pad, 3), 24, np.uint8)
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.42
    for n, cell in enumerate(cells):
        y, x = pad + (n // columns) * (height + pad), pad + (n % columns) * (width + pad)
        canvas[y : y + size, x : x + size] = fit(cell.image, size)
        words, lines, line = cell.caption.split(), [], ""
        for word in words:
            trial = f"{line} {word}".strip()
            if cv2.getTextSize(trial, font, scale, 1)[0][0] > width - 8 and line:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
        for k, text in enumerate(lines[:2]):
            cv2.putText(
                canvas,
                text,
                (x + 4, y + size + 14 + 15 * k),
                font,
                scale,
                (235, 235, 235),
                1,
                cv2.LINE_AA,
            )
    return canvas


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a contact sheet of the performer.")
    parser.add_argument("--out", type=Path, default=Path("bench/results/contact_sheet.png"))
    parser.add_argument("--photo", type=Path, help="portrait (default: skimage's astronaut)")
    parser.add_argument("--cell", type=int, default=300, help="cell size in pixels")
    parser.add_argument("--columns", type=int, default=8)
    parser.add_argument(
        "--eyes", action="store_true", help="eyes, expressions and listening (photo and drawn)"
    )
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    photo = load_image(args.photo) if args.photo else astronaut()
    cells = eye_sheet_cells(photo) if args.eyes else build_cells(photo)
    picture = sheet(cells, args.columns, args.cell)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)):
        raise SystemExit(f"could not write {args.out}")
    print(f"{args.out}: {len(cells)} cells, {picture.shape[1]}x{picture.shape[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
