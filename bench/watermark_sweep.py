"""The watermark over several keys: exact payloads (blind) and traces, k of N per attack.

One key's result moves with its chip layout more than small changes in the algorithm do, so
docs/watermark.md's "k of 8" figures read each attack with 4 keys on 2 photos. Blind = the
payload decoded with nothing but the key (``Evidence.reading``); traced = the clip traced to
its reference among ``--issued`` references around it (``Evidence.trace``, what the verifier
does with the audit log's list).

    .venv/bin/python bench/watermark_sweep.py                       # 640x360, every attack: ~5 min
    .venv/bin/python bench/watermark_sweep.py --size 512x512 --attacks "crf 28 + 0.5x + crop 80%"
    .venv/bin/python bench/watermark_sweep.py --photos astronaut,hanks --generator --size 512x512

Issue 19's geometry rows (``tests/provenance/media.py``'s GEOMETRY_ATTACKS, on the gate's crf 20
output) are among the attacks; ``--unmarked`` also reads each photo's unmarked clip under every
attack with every key, blind and traced (false positives of the widened search), and times those
reads (CPU seconds for the clip, one key, blind and traced: the goal is at most the clip's 1 s):

    .venv/bin/python bench/watermark_sweep.py --generator --photos astronaut,hanks --size 512x512 \
        --issued 1000 --unmarked --attacks "$(python -c 'from tests.provenance import media;
        print(",".join(media.GEOMETRY_ATTACKS))')"

``--generator``: the clips are the generator's own output (``Character.from_photo``, 25 frames of
varied speech, blinks and head motion, as ``bench/generator.py`` renders them) instead of the
swaying photos; ``hanks`` is insightface's 112-pixel Tom Hanks sample.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import progress, table
from watermark import ATTACKS, REFERENCE

from lpm_guard.provenance import _wm_geometry, _wm_trace
from lpm_guard.provenance.watermark import CHECK_ATTEMPTS, Evidence, Watermarker, check_log10_bound
from tests.provenance import media


def keys(count: int) -> list[bytes]:
    return [bytes(range(32))] + [
        hashlib.sha256(b"sweep-key-%d" % i).digest() for i in range(1, count)
    ]


def rendered(photo: str, width: int, height: int) -> list[np.ndarray]:
    """25 frames of the generator animating ``photo`` (scikit-image's astronaut, or
    insightface's ``hanks`` sample) with bench/generator.py's varied controls."""
    from lpm_guard.generator import Character

    from generator import astronaut, varied_controls  # bench/generator.py

    if photo == "hanks":
        # The package's folder without importing it (its __init__ pulls in tqdm).
        spec = importlib.util.find_spec("insightface")
        assert spec is not None and spec.submodule_search_locations is not None
        folder = Path(next(iter(spec.submodule_search_locations)))
        path = folder / "data/images/Tom_Hanks_54745.png"
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    else:
        image = astronaut()
    character = Character.from_photo(image, size=(width, height))
    return [character.renderer.render(c) for c in varied_controls(25, 1)]


def _gray(frames: list[np.ndarray]) -> list[np.ndarray]:
    """The frames as the detector reads them (``watermark._lumas``): luma, a large frame
    reduced."""
    return [_wm_geometry.reduce(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)) for f in frames]


def attack_names(text: str) -> list[str]:
    """The attacks named in a comma-separated list; a name may itself hold a comma ("gate crf
    20, re-encoded crf 23"), so the longest known name is taken at each step."""
    parts = [p.strip() for p in text.split(",")]
    names: list[str] = []
    start = 0
    while start < len(parts):
        for end in range(len(parts), start, -1):
            name = ", ".join(parts[start:end])
            if name in ATTACKS:
                names.append(name)
                start = end
                break
        else:
            raise SystemExit(f"unknown attack {parts[start]!r}; known: {'; '.join(ATTACKS)}")
    return names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--attacks", default=",".join(ATTACKS), help="comma-separated names")
    parser.add_argument("--photos", default="astronaut,coffee")
    parser.add_argument("--keys", type=int, default=4)
    parser.add_argument("--issued", type=int, default=10_000)
    parser.add_argument("--cpu", type=int, default=0, help="CPU to pin to; -1 leaves it alone")
    parser.add_argument("--generator", action="store_true", help="the generator's frames")
    parser.add_argument("--unmarked", action="store_true", help="false positives and CPU too")
    parser.add_argument("--unmarked-keys", type=int, default=1, help="keys per unmarked clip")
    parser.add_argument(
        "--reference",
        type=lambda text: int(text, 0),
        default=REFERENCE,
        help="the reference marked (0x... or decimal); the gate marks audit indices, whose high"
        " 32 bits are zeros below 2^32 (default: bench/watermark.py's, which has them set)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    attacks = attack_names(args.attacks)
    cv2.setNumThreads(1)
    if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    reference = args.reference
    start = max(0, reference - args.issued // 2)
    references = range(start, start + args.issued)  # as bench/watermark.py's ``issued``
    results: dict[str, list[dict[str, float | bool]]] = {name: [] for name in attacks}
    unmarked: dict[str, list[dict[str, float | bool]]] = {name: [] for name in attacks}
    started = time.perf_counter()
    clips = {
        photo: rendered(photo, width, height)
        if args.generator
        else media.talking_clip(photo, width, height, 25)
        for photo in args.photos.split(",")
    }
    for number, secret in enumerate(keys(args.keys)):
        for photo, clip in clips.items():
            marker = Watermarker(secret, reference, width=width, height=height)
            marked = [marker.mark(frame) for frame in clip]
            for name in attacks:
                evidence = Evidence(_gray(ATTACKS[name](marked)))
                trace = evidence.trace(secret, references)
                run = {
                    "blind": evidence.reading(secret, references).reference == reference,
                    "traced": trace.reference == reference,
                    "wrong": trace.reference not in (None, reference),
                    "z": trace.z,
                }
                results[name].append(run)
                progress(f"{photo}, key {number}, {name}: {run}")
    for photo, clip in clips.items() if args.unmarked else ():
        for name in attacks:
            evidence = Evidence(_gray(ATTACKS[name](clip)))
            cpu = time.process_time()
            found = False
            for index, secret in enumerate(keys(args.unmarked_keys)):
                found |= evidence.reading(secret, references).reference is not None
                found |= evidence.trace(secret, references).reference is not None
                if index == 0:
                    cpu = time.process_time() - cpu
            unmarked[name].append({"present": found, "cpu": cpu, "reads": args.unmarked_keys})
            progress(f"{photo} unmarked, {name}: {unmarked[name][-1]}")
    rows = [["attack", "blind", "traced", "wrong traces", "true reference's score"]]
    for name, runs in results.items():
        scores = [float(run["z"]) for run in runs]
        rows.append(
            [
                name,
                f"{sum(bool(run['blind']) for run in runs)} of {len(runs)}",
                f"{sum(bool(run['traced']) for run in runs)} of {len(runs)}",
                str(sum(bool(run["wrong"]) for run in runs)),
                f"{min(scores):.1f}-{max(scores):.1f}",
            ]
        )
    print(
        f"\n{width}x{height}, {args.keys} keys x {args.photos}, {args.issued:,} issued references"
        f" around {reference:#x}"
    )
    print(table(rows, right={1, 2, 3, 4}))
    if args.unmarked:
        rows = [["unmarked clip, attack", "reads (keys x clips)", "present", "CPU s (1 key)"]]
        for name, runs in unmarked.items():
            cpus = sorted(float(run["cpu"]) for run in runs)
            rows.append(
                [
                    name,
                    str(sum(int(run["reads"]) for run in runs)),
                    str(sum(bool(run["present"]) for run in runs)),
                    "-".join(f"{c:.2f}" for c in (cpus[0], cpus[-1])),
                ]
            )
        print(f"\nunmarked clips, read blind and traced with every key ({args.photos})")
        print(table(rows, right={1, 2, 3}))
        trace_bound = _wm_trace.log10_bound(_wm_trace.threshold(args.issued, 3), args.issued, 3)
        print(
            f"bounds per clip, 3 keys: check value {10 ** check_log10_bound(3):.1e} "
            f"({CHECK_ATTEMPTS:,} messages per key), trace {10**trace_bound:.0e} "
            f"(threshold {_wm_trace.threshold(args.issued, 3):.2f} over "
            f"{_wm_trace.hypotheses(args.issued, 3):.2e} hypotheses)"
        )
    print(f"{time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {"size": [width, height], "results": results, "unmarked": unmarked}
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
