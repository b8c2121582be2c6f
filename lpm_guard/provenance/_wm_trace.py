"""Tracing a clip to one of the references the platform issued, when blind decoding fails.

Blind decoding (``_wm_detect.read``) must find 96 message bits with nothing but the key. The
verifier knows more: every reference a watermark ever carried is the index of a
``generation:request:allow`` audit entry, so the clip can only carry one of a known, finite
list. Tracing is detection with a codebook (maximum likelihood over the issued references
instead of over all 2^96 messages): each candidate's whole expected tile (the sync chips and
its own payload chips) is correlated with the fold, and the best candidate is kept when its
score is far beyond what chance gives for that many candidates, and clearly ahead of the
runner-up. It needs much less of the mark than decoding does: on a 640×360 clip halved,
cropped to 80 % and re-encoded at crf 28, the true candidate scores z 11-13 where decoding
needs about 1.5 dB more signal than the clip keeps (docs/watermark.md, "Tracing").

Steps (on the whitened first frame, which in a file is the I-frame, and on the sum of the
frames read, so that a clip whose first frames were replaced is still traced):
1. The candidates' codewords (the code is linear over GF(2), so one matrix product), and the
   *pilot* chips: the sync chips and the payload chips whose coded bit all candidates share
   (audit indices are small numbers, so the reference's high bits are zeros for every one).
2. The scale: the pilot pattern's correlation peak over the keyed search grid
   (``_wm_detect.SEARCH_GRID``, like ``keyed_period``, with more chips than the sync alone;
   every period coarse, the ``_wm_coarse`` shortlist of that at full resolution); the
   TRACE_SCALES best local maxima of what was scored, and the native scale.
3. At each scale, the fold's candidate offsets (``_wm_detect.candidates`` on the pilot
   surface), each offset's chip sums normalised to unit length, and every candidate's
   score: the chip sums times the candidate's expected chip signs (one matrix product).
4. The decision: the best candidate over all scales and offsets, present when its score is
   at least ``threshold`` and MARGIN above the best other candidate's.

False alarms. Without this key's mark the chip sums at any (scale, offset) depend on the
content only, and a candidate's expected chip values are the key's i.i.d. random chip signs
(sync and payload signs, ``Layout``) times values fixed by the candidate, so each score is a
Rademacher sum with unit-length weights: P(score >= t) <= exp(-t²/2) (Hoeffding), whatever
the content. The union over every hypothesis the search could pick, ``hypotheses(n, k)`` =
keys × candidates × 2 frame subsets × (grid periods + native) × TILE² offsets, with t =
``threshold(n, k)``, bounds the chance of a false trace by TRACE_ALARM per clip. The bound
does not need the scales and offsets to be chosen independently of the key: it covers all.

Wrong candidates. A clip marked with an issued reference also scores high on the other
candidates: they share its pilot chips. The message masks the reference's low half with a
hash of its check value (``_wm_payload.messages``), so even the next audit index differs in
about half of the remaining coded bits, and the true reference leads by 3.3-4.1 at the
combined attack. MARGIN = 2 keeps a trace from naming a neighbour when the true reference is
missing from the list. Tracing therefore assumes the list holds every reference issued under
the key; the verifier reads them from the audit log.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from lpm_guard.provenance import _wm_detect, _wm_turns
from lpm_guard.provenance import _wm_payload as payload
from lpm_guard.provenance._wm_pattern import GRID, TILE, Layout, render

# Per clip, all keys: with 3 keys' check values (9.4e-7 with the zero-prefix hypothesis's 54
# messages per key; 9.1e-7 and 8e-8 before it) under 1e-6.
TRACE_ALARM = 5e-8
MARGIN = 2.0
TRACE_SCALES = 8
# The first frame alone (in a file, the I-frame, which keeps the most of the mark) and the
# frames read summed (a clip whose first frames were replaced still carries it later).
SUBSETS = 2
CHUNK = 4096  # candidates scored at once (CHUNK × 1,024 float32 = 16 MiB)
MAX_CANDIDATES = 1 << 22
# A rotated view's trace searches the grid's periods within this fraction of the period its
# lattice shows (``near``): its comb gives the period to 0.5 % or better, and the whole grid
# costs a rotated view as much as the clip (two of its 475 folds per period, per frame subset).
NEAR = 0.03


@dataclass(frozen=True)
class Trace:
    """The best candidate and how it scored (``reference`` None when no trace was made)."""

    reference: int | None
    z: float
    runner_up: float
    period: float
    candidates: int


def hypotheses(candidates: int, secrets: int = 1) -> float:
    """Every (key, candidate, frame subset, scale, offset) a trace could pick, in every view:
    the clip's (``_wm_detect.VIEWS``) and each angle of the keyed rotation search
    (``_wm_turns.ANGLES``), both ways round."""
    scales = len(_wm_detect.SEARCH_GRID) + 1
    geometry = _wm_detect.MIRRORS * (_wm_detect.VIEWS + len(_wm_turns.ANGLES))
    return float(secrets * candidates * SUBSETS * scales * geometry * TILE * TILE)


def threshold(candidates: int, secrets: int = 1) -> float:
    """The score whose Hoeffding bound, over ``hypotheses``, is TRACE_ALARM."""
    return math.sqrt(2 * math.log(hypotheses(candidates, secrets) / TRACE_ALARM))


def log10_bound(z: float, candidates: int, secrets: int = 1) -> float:
    """log10 of the chance of a score of ``z`` or more by chance, over every hypothesis."""
    return min(0.0, math.log10(hypotheses(candidates, secrets)) - z * z / (2 * math.log(10)))


@cache
def _generator() -> np.ndarray:
    """The code's generator matrix over GF(2): row j is the codeword of message bit j alone."""
    units = np.eye(payload.MESSAGE_BITS, dtype=np.uint8)
    return np.stack([payload.convolve(unit) for unit in units]).astype(np.float32)


def codewords(secret: bytes, references: np.ndarray) -> np.ndarray:
    """The coded bits (0/1, uint8; one row per reference) that ``payload.encode`` gives."""
    rows = payload.messages(secret, references.tolist())
    # In float32 (BLAS): the sums are at most MESSAGE_BITS, exact; their parity is the code.
    messages = np.unpackbits(rows, axis=1).astype(np.float32)
    return np.asarray((messages @ _generator()).astype(np.int32) & 1, np.uint8)


def _chip_signs(layout: Layout, coded: np.ndarray) -> np.ndarray:
    """Each candidate's payload chips' expected signs (before the keyed chip signs)."""
    return np.asarray(coded[:, layout.bit_of_chip], np.float32) * 2 - 1


def _pilots(layout: Layout, coded: np.ndarray) -> np.ndarray:
    """The GRID×GRID chips every candidate agrees on: sync, and the shared coded bits."""
    shared = (coded == coded[:1]).all(axis=0)
    chips = layout.chips(None).reshape(-1)
    known = shared[layout.bit_of_chip]
    signs = _chip_signs(layout, coded[:1])[0]
    chips[layout.bit_chips[known]] = (layout.bit_signs * signs)[known]
    return chips.reshape(GRID, GRID)


def zero_template(layout: Layout) -> np.ndarray:
    """The rendered pilots of every reference below 2^32 (``payload.ZERO_BITS`` plain zero
    bits: from the zero start state, the first ZERO_BITS · RATE coded bits are zeros): the
    sync chips and those coded bits' chips. The same pattern (bit for bit) as a ``Codebook``'s
    of a list of audit indices below 2^32 (no other coded bit is shared by a list of any
    length but a handful), so blind reading's zero-prefix hypothesis and tracing search with
    one template (``watermark.Evidence``)."""
    known = payload.ZERO_BITS * payload.RATE
    coded = np.zeros((2, payload.CODED_BITS), np.uint8)
    coded[1, known:] = 1  # two rows that share exactly the known coded bits
    return render(_pilots(layout, coded))


def near(period: float) -> np.ndarray:
    """The search grid's periods within NEAR of ``period`` (a rotated view's, which its
    lattice gave to within a fraction of a percent)."""
    return np.asarray(_wm_detect.SEARCH_GRID[near_mask(period)])


def near_mask(period: float) -> np.ndarray:
    """Which of the search grid's periods ``near`` keeps."""
    return np.asarray(np.abs(_wm_detect.SEARCH_GRID / period - 1) <= NEAR)


def _scales(
    first: np.ndarray,
    template: np.ndarray,
    grid: np.ndarray | None = None,
    scores: np.ndarray | None = None,
) -> list[tuple[float, bool]]:
    """Step 2: the TRACE_SCALES best local maxima of the pilot peak over the search grid
    (``grid``: a part of it; on the frame's centre, as ``keyed_period``; ``scores``: its
    ``grid_scores``, when the caller has them), each with whether the frame reads mirrored,
    and the native scale both ways round."""
    grid = _wm_detect.SEARCH_GRID if grid is None else grid
    native = [(float(TILE), False), (float(TILE), True)]
    if len(grid) == 0:
        return native
    if scores is None:
        # The whole grid: coarse first, its shortlist at full resolution (``_wm_coarse``).
        whole = len(grid) == len(_wm_detect.SEARCH_GRID)
        scores = _wm_detect.grid_scores(first, template, grid, shortlist=whole)
    both = scores
    scores = both.max(axis=0)
    peaks = [
        i
        for i in range(len(grid))
        if np.isfinite(scores[i]) and scores[i] >= scores[max(0, i - 3) : i + 4].max()
    ]
    peaks.sort(key=lambda i: -scores[i])
    kept = [(float(grid[i]), bool(both[1, i] > both[0, i])) for i in peaks[:TRACE_SCALES]]
    return [*native, *kept]


@dataclass(frozen=True)
class Codebook:
    """Step 1 for one key and one list of issued references: the distinct references, their
    codewords, and the pilots' rendered pattern (the same in every view of a clip)."""

    secret: bytes
    issued: np.ndarray
    layout: Layout
    coded: np.ndarray
    template: np.ndarray


def codebook(secret: bytes, references: Sequence[int]) -> Codebook:
    """The ``Codebook`` of ``secret``'s mark among ``references``."""
    issued = np.unique(np.asarray(references, dtype=np.uint64))
    if len(issued) > MAX_CANDIDATES:
        raise ValueError(f"at most {MAX_CANDIDATES} candidates can be traced")
    layout = Layout.from_secret(secret)
    if len(issued) == 0:
        nothing = np.zeros((0, payload.CODED_BITS), np.uint8)
        return Codebook(secret, issued, layout, nothing, np.zeros((TILE, TILE), np.float32))
    coded = codewords(secret, issued)
    return Codebook(secret, issued, layout, coded, render(_pilots(layout, coded)))


def trace(
    whites: Sequence[np.ndarray],
    secret: bytes,
    references: Sequence[int],
    secrets: int = 1,
    period: float | None = None,
    *,
    book: Codebook | None = None,
    first_scores: np.ndarray | None = None,
) -> Trace:
    """Steps 1-4 for one key on whitened frames (``_wm_detect.flatten``), the first of them
    the clip's first: read alone, and all of them summed (SUBSETS). ``period``: search only
    the grid's periods ``near`` it (a rotated view's own period; the bound still counts the
    whole grid). ``book``: step 1 done already (``codebook``, for every view of a clip);
    ``first_scores``: the first frame's pilot ``grid_scores`` over the grid searched, when
    the caller has them."""
    book = codebook(secret, references) if book is None else book
    if book.secret != secret:
        raise ValueError("the codebook is another key's")
    issued, layout, coded, template = book.issued, book.layout, book.coded, book.template
    if len(issued) == 0:
        return Trace(None, 0.0, 0.0, 0.0, 0)
    # (2)-(3): per subset and scale, the pilot surface's offsets and their unit-length chip
    # sums. Folding is linear, so the frames' sum folds as the sum of their folds.
    rows, where = [], []
    subsets = [whites[0], np.sum(whites, axis=0)] if len(whites) > 1 else [whites[0]]
    grid = None if period is None else near(period)
    spectrum = np.conj(np.fft.fft2(template))  # the pilots' (``_wm_detect._surface``)
    for index, white in enumerate(subsets):
        given = first_scores if index == 0 else None
        scales = _scales(white, template, grid, given)
        splats = _wm_detect.splats(white, [scale for scale, _ in scales])
        for (scale, mirror), folded in zip(scales, splats, strict=True):
            fold = _wm_detect.mirrored(_wm_detect.Fold(scale, folded, folded), mirror)
            tile = _wm_detect.sharpened(fold).first
            surface = _wm_detect._standardised(np.fft.ifft2(np.fft.fft2(tile) * spectrum).real)
            chips = _wm_detect.chip_sums_at(tile, _wm_detect.candidates(surface))
            rows.append(chips / np.maximum(np.linalg.norm(chips, axis=1, keepdims=True), 1e-12))
            where += [scale] * len(chips)
    sums = np.concatenate(rows)
    # (3): every candidate's score at every (scale, offset): the sync chips' part, and each
    # coded bit's chips summed (``Layout.soft_bits``) times the candidate's sign for it; the
    # bits every candidate shares go with the sync part, so that the product per chunk of
    # candidates is over the bits that differ only. Each candidate keeps its best.
    sync = sums[:, layout.sync_chips] @ layout.sync_signs.astype(np.float64)
    bits = layout.soft_bits(sums.reshape(-1, GRID, GRID))
    polar = coded.astype(np.float64) * 2 - 1
    shared = (coded == coded[:1]).all(axis=0)
    sync += bits[:, shared] @ polar[0, shared]
    differ = np.asarray(bits[:, ~shared], np.float32)
    best = np.empty(len(issued), np.float64)
    at = np.empty(len(issued), np.int64)
    for start in range(0, len(issued), CHUNK):
        signs = np.asarray(polar[start : start + CHUNK][:, ~shared], np.float32)
        scores = differ @ signs.T + sync[:, None].astype(np.float32)
        best[start : start + CHUNK] = scores.max(axis=0)
        at[start : start + CHUNK] = scores.argmax(axis=0)
    # (4): the best candidate, against chance and against the runner-up.
    order = np.argsort(best)[::-1]
    top = int(order[0])
    runner_up = float(best[order[1]]) if len(order) > 1 else -math.inf
    z = float(best[top])
    found = z >= threshold(len(issued), secrets) and z - runner_up >= MARGIN
    return Trace(
        int(issued[top]) if found else None, z, runner_up, float(where[at[top]]), len(issued)
    )
