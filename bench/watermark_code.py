"""Simulate candidate payload codes for the watermark: signal needed for exact payloads.

The model is docs/watermark-list.md's: the tile's PAYLOAD_CHIPS = 800 payload chips each read
``a · sign`` plus unit Gaussian noise; a coded bit's soft value is the sum of its chips
(payload chip k carries coded bit k mod CODED_BITS). Messages are random 64-bit references
with their real HMAC check value; a trial is exact when the first listed message whose
check value verifies is the one sent (a wrong message that verifies counts as a miss and is
reported). Prints, per candidate, the exact rate at each amplitude ("first": the list's
first message alone; "L=6": the first of the 6 that verifies), the amplitude (and the gain in
dB over v2's code with its list) for 90 % and 99 % exact payloads, and the CPU time of a
36-row list decoding.

    .venv/bin/python bench/watermark_code.py [--trials 1000] [--only NAME,...] [--json out.json]
    .venv/bin/python bench/watermark_code.py --table out.json[,more.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from wm_codes import MESSAGE_BITS, Code

from lpm_guard.provenance import _wm_payload as P

PAYLOAD_CHIPS = 800
SECRET = b"watermark-code simulation key"
R14_K9 = (0o463, 0o535, 0o733, 0o745)
# Rate-1/8 (+1) codes from a greedy nested search on the rate-1/4 codes (wm_codes.nested_search).
R18_K9 = (0o463, 0o535, 0o733, 0o745, 0o575, 0o517, 0o657, 0o467, 0o537)
R18_K10 = (0o1117, 0o1365, 0o1633, 0o1653, 0o1237, 0o1173, 0o1335, 0o1157, 0o1233)
R18_K11 = (0o2327, 0o2353, 0o2671, 0o3175, 0o2575, 0o3371, 0o2473, 0o2467, 0o2337)
EVERY_THIRD = np.arange(0, MESSAGE_BITS, 3)


def candidates() -> list[Code]:
    return [
        Code("K9 r1/4 terminated (v2)", 9, R14_K9, False),
        Code("K9 r1/4 tail-biting", 9, R14_K9, True, head=32, tail=32),
        Code("K9 r1/8 tail-biting", 9, R18_K9[:8], True, head=32, tail=32),
        Code("K9 r1/8+ tail-biting", 9, R18_K9, True, EVERY_THIRD, head=32, tail=32),
        Code("K10 r1/8+ tail-biting", 10, R18_K10, True, EVERY_THIRD, head=32, tail=32),
        Code("K11 r1/8+ tail-biting", 11, R18_K11, True, EVERY_THIRD, head=32, tail=32),
    ]


def chip_counts(coded: int) -> np.ndarray:
    return np.bincount(np.arange(PAYLOAD_CHIPS) % coded, minlength=coded)


def trial(code: Code, a: float, count: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Per trial, the 1-based rank of the first verified message if it is the true one, 0 if
    none verified, -1 if a wrong one verified."""
    nchips = chip_counts(code.coded_bits)
    refs = rng.integers(0, 2**63, count)
    msgs = np.stack([P.message_bits(SECRET, int(r)) for r in refs])
    signs = code.convolve(msgs).astype(np.float64) * 2 - 1
    soft = a * nchips * signs + rng.normal(size=signs.shape) * np.sqrt(nchips)
    lists = code.list_decode(soft, size)
    out = np.zeros(count, np.int64)
    for row in range(count):
        for rank in range(size):
            if P.reference_of(SECRET, lists[row, rank]) is not None:
                out[row] = rank + 1 if (lists[row, rank] == msgs[row]).all() else -1
                break
    return out


def needed(amps: list[float], rates: list[float], goal: float) -> float:
    """The amplitude where the exact rate first reaches ``goal`` (linear interpolation)."""
    for (a0, r0), (a1, r1) in itertools.pairwise(zip(amps, rates, strict=True)):
        if r0 < goal <= r1:
            return a0 + (a1 - a0) * (goal - r0) / (r1 - r0)
    return math.nan


def simulate(code: Code, amps: list[float], trials: int, size: int) -> dict[str, Any]:
    rng = np.random.default_rng(12345)
    warm = rng.normal(size=(36, code.coded_bits))
    t0 = time.process_time()
    code.list_decode(warm, size)
    decode_s = time.process_time() - t0
    first: list[float] = []
    listed: list[float] = []
    wrong = 0
    for a in amps:
        batches = [
            trial(code, a, min(200, trials - done), size, rng) for done in range(0, trials, 200)
        ]
        ranks = np.concatenate(batches)
        wrong += int((ranks < 0).sum())
        first.append(float(np.mean(ranks == 1)))
        listed.append(float(np.mean(ranks > 0)))
        print(f"  {code.name}: a={a:.3f} L=1 {first[-1]:.3f} L={size} {listed[-1]:.3f}", flush=True)
    return {
        "coded_bits": code.coded_bits,
        "amps": amps,
        "first": first,
        "listed": listed,
        "wrong": wrong,
        "decode_36_rows_s": decode_s,
    }


def table(results: dict[str, dict[str, Any]], size: int) -> None:
    base = next((r for name, r in results.items() if "v2" in name), None)
    goals = (0.9, 0.99)

    def cell(r: dict[str, Any], key: str, goal: float) -> str:
        value = needed(r["amps"], r[key], goal)
        if base is None:
            return f"{value:.3f}"
        gain = 20 * math.log10(needed(base["amps"], base["listed"], goal) / value)
        return f"{value:.3f} ({gain:+.2f} dB)"

    print(
        f"\n| code | coded bits | list of 36 rows, CPU s | first, 90 % | first, 99 % "
        f"| L={size}, 90 % | L={size}, 99 % | wrong |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        cells = [cell(r, key, g) for key in ("first", "listed") for g in goals]
        print(
            f"| {name} | {r['coded_bits']} | {r['decode_36_rows_s']:.2f} | "
            + " | ".join(cells)
            + f" | {r['wrong']} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--size", type=int, default=6)
    parser.add_argument("--only", default="", help="comma-separated parts of candidate names")
    parser.add_argument("--amps", default="0.40,0.425,0.45,0.475,0.50,0.525,0.55,0.575,0.60,0.625")
    parser.add_argument("--json", default="", help="write the results here")
    parser.add_argument("--table", default="", help="only print the table of saved results")
    args = parser.parse_args()
    if args.table:
        results = {}
        for path in args.table.split(","):
            results.update(json.loads(Path(path).read_text()))
        table(results, args.size)
        return
    amps = [float(x) for x in args.amps.split(",")]
    results = {}
    for code in candidates():
        if args.only and not any(o in code.name for o in args.only.split(",")):
            continue
        results[code.name] = simulate(code, amps, args.trials, args.size)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
    table(results, args.size)


if __name__ == "__main__":
    main()
