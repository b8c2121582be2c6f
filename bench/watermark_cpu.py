"""CPU of one watermark read (blind and traced), on clips made once and kept on disk.

``--make DIR`` renders the generator's clips (as ``watermark_sweep.py --generator`` does) for
each photo and size, marks them with the first sweep key and ``--reference`` (and keeps them
unmarked too), runs each attack and saves the frames as the detector reads them (luma, large
frames reduced). ``--time DIR`` then reads every saved clip with that key, blind and traced
among ``--issued`` references around the reference, and prints a JSON line per clip: the
process time of ``Evidence`` (the key-independent part) and of ``reading`` + ``trace`` (what
the sweep's CPU column times), and what they decided. Run each checkout's own copy in turn
to compare code at the same load (the script imports the ``lpm_guard`` of the checkout it
sits in, through ``watermark_sweep``; the first line on stderr says which):

    .venv/bin/python bench/watermark_cpu.py --make /tmp/wmclips --sizes 512x512,1280x720 \
        --attacks "gate + rotated 2° + 0.75x + crf 28;gate + mirrored;gate + rotated 3°"
    git archive main | tar -x -C /tmp/base  # (with this script copied into /tmp/base/bench)
    for i in 1 2 3; do for tree in /tmp/base .; do
        .venv/bin/python $tree/bench/watermark_cpu.py --time /tmp/wmclips; done; done
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np


def make(folder: Path, sizes: list[str], photos: list[str], attacks: list[str], ref: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from watermark import ATTACKS
    from watermark_sweep import _gray, keys, rendered

    from lpm_guard.provenance.watermark import Watermarker

    folder.mkdir(parents=True, exist_ok=True)
    secret = keys(1)[0]
    for size in sizes:
        width, height = (int(v) for v in size.split("x"))
        for photo in photos:
            clip = rendered(photo, width, height)
            marker = Watermarker(secret, ref, width=width, height=height)
            marked = [marker.mark(frame) for frame in clip]
            for name in attacks:
                for kind, frames in (("unmarked", clip), ("marked", marked)):
                    lumas = np.stack(_gray(ATTACKS[name](frames)))
                    tag = name.replace(" ", "_").replace("°", "deg").replace("+", "p")
                    np.save(folder / f"{size}-{photo}-{kind}-{tag}.npy", lumas)
                    print(size, photo, kind, name, lumas.shape, flush=True)


def timed(folder: Path, ref: int, issued: int, only: str) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from watermark_sweep import keys

    import lpm_guard.provenance.watermark as module
    from lpm_guard.provenance.watermark import Evidence

    print(f"# {module.__file__}", file=sys.stderr, flush=True)
    secret = keys(1)[0]
    start = max(0, ref - issued // 2)
    references = range(start, start + issued)
    for path in sorted(folder.glob("*.npy")):
        if only and only not in path.name:
            continue
        lumas = list(np.load(path))
        began = time.process_time()
        evidence = Evidence(lumas)
        built = time.process_time()
        reading = evidence.reading(secret, references)
        trace = evidence.trace(secret, references)
        done = time.process_time()
        row = {
            "clip": path.stem,
            "evidence": round(built - began, 3),
            "read": round(done - built, 3),
            "blind": reading.reference,
            "z": round(reading.z, 6),
            "traced": trace.reference,
            "trace_z": round(trace.z, 6),
        }
        print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--make", type=Path)
    parser.add_argument("--time", type=Path)
    parser.add_argument("--sizes", default="512x512,1280x720")
    parser.add_argument("--photos", default="astronaut,hanks")
    parser.add_argument("--attacks", default="gate + rotated 2° + 0.75x + crf 28")
    parser.add_argument("--reference", type=lambda t: int(t, 0), default=1234)
    parser.add_argument("--issued", type=int, default=1000)
    parser.add_argument("--only", default="", help="clips whose name holds this")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if args.make:
        attacks = [a.strip() for a in args.attacks.split(";")]
        make(args.make, args.sizes.split(","), args.photos.split(","), attacks, args.reference)
    if args.time:
        timed(args.time, args.reference, args.issued, args.only)


if __name__ == "__main__":
    main()
