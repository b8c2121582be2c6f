"""The keyed rotation search tracing falls back on, when the autocorrelation shows no turn;
the reading runs it too, with the key's sync chips (``search_many``: both templates on the
same folds; ``watermark.Evidence.reading``).

A copy turned *and* shrunk and re-encoded (rotated 2°, then 0.75×, then H.264 crf 28) keeps
too little of the mark for the quadratic comb of ``_wm_geometry.estimate_angles``: on the
benchmark's 512² clips its comb at the true angle and period reads 0.2-2, below the noise of
its own search (3-4). The mark's correlation with the key's pilot chips is linear in it, and
on those clips turned back by the true angle the pilot peak on the first frame reads 6-9
against a noise maximum of about 5 over this whole search. So, when tracing found nothing:

1. Whiten the centre of the first frame (with a ``_wm_detect.TURNED_BOX``-pixel mean: a
   shrunk, re-encoded copy's chips lose most of their energy to a 3-pixel one) and turn it
   back by each angle of ANGLES (±MAX_ANGLE in STEP steps, the clip as it is left out: its
   own view searches that); its centre
   ``_wm_detect.SEARCH_SIDE`` square is the searched one (``Centre``, made once per clip:
   every key's search shares it).
   a. At half size (area-reduced by HALF: a quarter of the pixels), fold each turned square
      at every STRIDE-th period of the keyed search grid within SCALES into COARSE × COARSE
      cells (``_wm_coarse``), and take each fold's pilot correlation peak, as z-scores per cell
      phase (``_wm_detect._standardised``'s rule).
   b. The SHORTLIST best local maxima over (angle, period) of that, each with its 8
      neighbours, folded again from the full-size turned square and scored the same way.
2. The KEPT best (angle, period) local maxima of the full-size scores scoring at least
   FLOOR are views of the clip, traced as a rotated view is (``_wm_trace.trace`` near the
   period).

Step 1a decides only which (angle, period) step 1b looks at: on the 16 benchmark clips
turned 2°, shrunk 0.75× and re-encoded at crf 28 (512² and 1280×720, 4 keys × 2 photos) the
full search's best local maximum (5.8-9.7) was the half-size one's (every other period)
best on 15 and second on the last (5.36, against a 16th local maximum of about 4.5), and 1b
read it at the same z but on one clip (7.66 at the next period instead of 7.78). Folding
the half-size frame alone (no step 1b) loses 0.3-0.8 of the true peak, more than the margin
over the noise. About a third of the CPU of a search that scores every fold at full size; on
an unmarked clip 1b's fewer folds also often make fewer views above the floor (fewer
traces).

STEP keeps the fold's drift at the searched square's corner under a third of a chip at half
a step off (0.25° there costs 0.5-1 of the peak; 0.375° up to 1.5: measured). The floor only
decides which views are traced; the trace's bound counts every angle of ANGLES as a view,
whatever the search picked (``_wm_trace.hypotheses``), as if every fold had been scored at
full size. A copy both mirrored and turned so weakly that the comb misses it is not
searched here (the fold is correlated unmirrored).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import sparse

from lpm_guard.provenance import _wm_coarse, _wm_detect, _wm_geometry
from lpm_guard.provenance._wm_coarse import COARSE
from lpm_guard.provenance._wm_pattern import TILE

MAX_ANGLE = 5.0
STEP = 0.5
ANGLES = tuple(
    float(a) for a in np.arange(-MAX_ANGLE, MAX_ANGLE + STEP / 2, STEP) if abs(a) >= STEP / 2
)
assert len(ANGLES) == _wm_detect.TURNED_VIEWS
SCALES = (0.5, 1.25)
KEPT = 2
FLOOR = 5.0
PERIOD_BATCH = 8  # step 1a's periods folded in one sparse product and one FFT call
HALF = 2
STRIDE = 2  # step 1a's periods: every other one (step 1b scores their neighbours)
SHORTLIST = 16


def grid() -> np.ndarray:
    """The keyed search grid's periods within SCALES."""
    periods = _wm_detect.SEARCH_GRID
    inside = (periods >= SCALES[0] * TILE) & (periods <= SCALES[1] * TILE)
    return np.asarray(periods[inside])


@dataclass
class Centre:
    """Step 1's key-independent part for one clip: the first frame's window whitened, and
    its centre turned by each angle of ANGLES at half size, side by side as columns
    (pixels × angles); the full-size turned centres are made when step 1b asks for them."""

    flat: np.ndarray
    half: np.ndarray
    side: tuple[int, int]
    full: dict[int, np.ndarray] = field(default_factory=dict)

    def turned(self, row: int) -> np.ndarray:
        """The full-size centre turned by ANGLES[row]."""
        if row not in self.full:
            self.full[row] = _square(self.flat, ANGLES[row], _wm_detect.SEARCH_SIDE)
        return self.full[row]


def _square(flat: np.ndarray, angle: float, side: int) -> np.ndarray:
    """The centre ``side`` square of a whitened window turned by ``angle`` about its centre
    (bilinear), the corners the turn leaves empty zeroed."""
    shape = (flat.shape[0], flat.shape[1])
    turn = _wm_geometry.Rotation(angle, shape)
    tall, wide = min(side, shape[0]), min(side, shape[1])
    y, x = (shape[0] - tall) // 2, (shape[1] - wide) // 2
    white = turn.luma(flat) * turn.valid
    return np.ascontiguousarray(white[y : y + tall, x : x + wide], np.float32)


def centre(luma: np.ndarray) -> Centre:
    """``Centre`` of a clip's first luma."""
    side = _wm_detect.SEARCH_SIDE
    # The centre square turned by MAX_ANGLE, and the whitening's reach: a window of the frame
    # around its centre (turning it about its centre turns the frame's centre the same way).
    reach = int(np.ceil(side / 2 * np.sqrt(2))) + 16
    height, width = luma.shape
    top, left = max(0, height // 2 - reach), max(0, width // 2 - reach)
    window = np.ascontiguousarray(luma[top : height - top, left : width - left])
    # Whitened once, then turned (bilinear), with the wider mean of a turned view.
    flat = _wm_detect.flatten(window, _wm_detect.TURNED_BOX)
    small = cv2.resize(
        flat, (flat.shape[1] // HALF, flat.shape[0] // HALF), interpolation=cv2.INTER_AREA
    )
    squares = [_square(small, angle, side // HALF) for angle in ANGLES]
    half = np.ascontiguousarray(np.stack([s.ravel() for s in squares], axis=1))
    return Centre(flat, half, (squares[0].shape[0], squares[0].shape[1]))


@functools.lru_cache(maxsize=1024)
def _cell(size: int, period: float) -> np.ndarray:
    cell = np.floor(np.arange(size) * (COARSE / period) + 0.5).astype(np.int64)
    return np.asarray(cell % COARSE)


def _half_folds(found: Centre, periods: np.ndarray) -> np.ndarray:
    """Step 1a's folds of every half-size turned centre at each of ``periods`` (half-size
    pixels): (periods × angles, COARSE, COARSE), in one sparse product (the matrix's column
    of a pixel sends it to its cell at each period)."""
    tall, wide = found.side
    cells = COARSE * COARSE
    index = np.stack(
        [
            (_cell(tall, p)[:, None] * COARSE + _cell(wide, p)[None, :]).ravel() + k * cells
            for k, p in enumerate(periods)
        ],
        axis=1,
    )
    ones = np.ones(index.size, np.float32)
    spread = np.arange(0, index.size + 1, len(periods))
    matrix = sparse.csc_matrix(
        (ones, index.ravel(), spread), shape=(len(periods) * cells, tall * wide)
    )
    folded = np.asarray(matrix @ found.half).reshape(len(periods), COARSE, COARSE, -1)
    return np.ascontiguousarray(folded.transpose(0, 3, 1, 2)).reshape(-1, COARSE, COARSE)


def _local(scores: np.ndarray) -> list[tuple[int, int]]:
    """The (angle, period) local maxima of a score map, best first."""
    local = scores >= cv2.dilate(scores, np.ones((3, 7), np.uint8))
    rows, cols = np.nonzero(local & np.isfinite(scores))
    order = np.argsort(-scores[rows, cols], kind="stable")
    return [(int(rows[i]), int(cols[i])) for i in order]


def search(luma: np.ndarray | Centre, template: np.ndarray) -> list[tuple[float, float, float]]:
    """Steps 1-2 on the clip's first luma (or its ``centre``) with tracing's pilot
    ``template`` (TILE×TILE): the views to trace, best first, as (angle in degrees as
    ``_wm_geometry.Rotation`` turns a frame back, period, z)."""
    return search_many(luma, [template])[0]


def search_many(
    luma: np.ndarray | Centre, templates: Sequence[np.ndarray]
) -> list[list[tuple[float, float, float]]]:
    """``search`` for several templates on the same folds (the reading's sync pattern and
    tracing's pilots): each fold is made once, and correlated with every template; step 1b
    folds the union of the templates' shortlists. One list of views per template."""
    found = centre(luma) if isinstance(luma, np.ndarray) else luma
    spectrum = _wm_coarse.spectra(templates)[::2]  # unmirrored
    periods = grid()
    count, many = len(ANGLES), len(templates)
    # (1a) Every angle and period, half size.
    coarse = np.full((many, count, len(periods)), -np.inf, np.float32)
    at = np.arange(0, len(periods), STRIDE)
    for start in range(0, len(at), PERIOD_BATCH):
        cols = at[start : start + PERIOD_BATCH]
        zs = _wm_coarse.zs(_half_folds(found, periods[cols] / HALF), spectrum)
        coarse[:, :, cols] = zs.T.reshape(many, len(cols), count).transpose(0, 2, 1)
    # (1b) Each template's SHORTLIST best local maxima and their neighbours, full size; the
    # union of those folded once, each template keeping its own points' scores (the same
    # views as its search alone).
    own = [
        {
            (row + dr, col + dc)
            for row, col in _local(scores)[:SHORTLIST]
            for dr in (-1, 0, 1)
            for dc in (-1, 0, 1)
            if 0 <= row + dr < count and 0 <= col + dc < len(periods)
        }
        for scores in coarse
    ]
    points = sorted(set().union(*own))
    fine = np.full((many, count, len(periods)), -np.inf, np.float32)
    if points:
        # The points are in (angle, period) order: each angle's periods folded in one batch.
        rows = [row for row, _ in points]
        tiles = np.concatenate(
            [
                _wm_coarse.folds(
                    found.turned(row), [float(periods[c]) for r, c in points if r == row]
                )
                for row in dict.fromkeys(rows)
            ]
        )
        scored = _wm_coarse.zs(tiles, spectrum)
        for index, point in enumerate(points):
            for which in range(many):
                if point in own[which]:
                    fine[(which, *point)] = scored[index, which]
    # (2) Local maxima over (angle, period) of the full-size scores, best first, >= FLOOR.
    views = []
    for scores in fine:
        kept = [(r, c) for r, c in _local(scores) if scores[r, c] >= FLOOR][:KEPT]
        views.append([(ANGLES[r], float(periods[c]), float(scores[r, c])) for r, c in kept])
    return views
