"""The keyed rotation search tracing falls back on, when the autocorrelation shows no turn.

A copy turned *and* shrunk and re-encoded (rotated 2°, then 0.75×, then H.264 crf 28) keeps
too little of the mark for the quadratic comb of ``_wm_geometry.estimate_angles``: on the
benchmark's 512² clips its comb at the true angle and period reads 0.2-2, below the noise of
its own search (3-4). The mark's correlation with the key's pilot chips is linear in it, and
on those clips turned back by the true angle the pilot peak on the first frame reads 6-9
against a noise maximum of about 5 over this whole search. So, when tracing found nothing:

1. Whiten the centre of the first frame and turn it back by each angle of ANGLES (±MAX_ANGLE
   in STEP steps, the clip as it is left out: its own view searches that); fold its centre
   ``_wm_detect.SEARCH_SIDE`` square at every period of the keyed search grid within SCALES,
   into COARSE × COARSE cells (half the tile's resolution: a quarter of the FFT's cost, and
   the chips, 2 cells wide, lose little of their sum); each fold's pilot correlation peak,
   as z-scores per cell phase (``_wm_detect._standardised``'s rule).
2. The KEPT best (angle, period) local maxima scoring at least FLOOR are views of the clip,
   traced as a rotated view is (``_wm_trace.trace`` near the period).

STEP keeps the fold's drift at the searched square's corner under a third of a chip at half
a step off (0.25° there costs 0.5-1 of the peak; 0.375° up to 1.5: measured). The floor only
decides which views are traced; the trace's bound counts every angle of ANGLES as a view,
whatever the search picked (``_wm_trace.hypotheses``). A copy both mirrored and turned so
weakly that the comb misses it is not searched here (the fold is correlated unmirrored).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from scipy import fft as scipy_fft
from scipy import sparse

from lpm_guard.provenance import _wm_detect, _wm_geometry
from lpm_guard.provenance._wm_pattern import GRID, TILE

MAX_ANGLE = 5.0
STEP = 0.5
ANGLES = tuple(
    float(a) for a in np.arange(-MAX_ANGLE, MAX_ANGLE + STEP / 2, STEP) if abs(a) >= STEP / 2
)
SCALES = (0.5, 1.25)
COARSE = 64
KEPT = 2
FLOOR = 5.0
GROUP = 4
PERIOD_BATCH = 8


def grid() -> np.ndarray:
    """The keyed search grid's periods within SCALES."""
    periods = _wm_detect.SEARCH_GRID
    inside = (periods >= SCALES[0] * TILE) & (periods <= SCALES[1] * TILE)
    return np.asarray(periods[inside])


@functools.lru_cache(maxsize=1024)
def _cells(size: int, period: float) -> sparse.csr_matrix:
    """COARSE×size 0/1 matrix: the coarse cell each pixel row (or column) falls on."""
    cell = np.floor(np.arange(size) * (COARSE / period) + 0.5).astype(np.int64) % COARSE
    ones = np.ones(size, np.float32)
    return sparse.csr_matrix((ones, (cell, np.arange(size))), shape=(COARSE, size))


def _folds(across: np.ndarray, count: int, period: float) -> np.ndarray:
    """``count`` whitened squares side by side (side, count · side) each folded at
    ``period`` into COARSE×COARSE cells: (count, COARSE, COARSE), in two products."""
    height, width = across.shape[0], across.shape[1] // count
    rows = np.asarray(_cells(height, period) @ across)  # (COARSE, count · width)
    # Each square's COARSE rows of cells, then its columns folded: (COARSE, count · COARSE).
    rows = rows.reshape(COARSE * count, width)
    folded = np.asarray(_cells(width, period) @ rows.T).reshape(COARSE, COARSE, count)
    return np.ascontiguousarray(folded.transpose(2, 1, 0), np.float32)


def _peaks(across: np.ndarray, count: int, spectrum: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """The pilot correlation's best z of each of ``count`` squares side by side in
    ``across`` folded at each period, in coarse cells: (count, periods). GROUP squares at a
    time (their pixels stay in the cache across the periods: a quarter less CPU than all)."""
    height, width = across.shape[0], across.shape[1] // count
    squares = across.reshape(height, count, width)
    scores = np.zeros((count, len(periods)))
    for first in range(0, count, GROUP):
        group = np.ascontiguousarray(squares[:, first : first + GROUP]).reshape(height, -1)
        size = group.shape[1] // width
        # The folds of PERIOD_BATCH periods through one FFT call (each transformed alone).
        for start in range(0, len(periods), PERIOD_BATCH):
            batch = periods[start : start + PERIOD_BATCH]
            tiles = np.concatenate([_folds(group, size, float(period)) for period in batch])
            zs = _zs(tiles, spectrum).reshape(len(batch), size)
            scores[first : first + size, start : start + len(batch)] = zs.T
    return scores


def _zs(tiles: np.ndarray, spectrum: np.ndarray) -> np.ndarray:
    """Each coarse fold's best correlation z, offsets standardised per chip phase."""
    phase = COARSE // GRID  # cells per chip
    count = len(tiles)
    surfaces = scipy_fft.irfft2(scipy_fft.rfft2(tiles) * spectrum, s=(COARSE, COARSE))
    phases = surfaces.reshape(count, GRID, phase, GRID, phase).transpose(0, 2, 4, 1, 3)
    phases = phases.reshape(count, phase * phase, -1)
    std = phases.std(axis=-1)
    z = (phases.max(axis=-1) - phases.mean(axis=-1)) / np.where(std > 0, std, 1)
    return np.asarray(np.where((std > 0).all(axis=-1), z.max(axis=-1), 0.0))


def search(luma: np.ndarray, template: np.ndarray) -> list[tuple[float, float, float]]:
    """Steps 1-2 on the clip's first luma with tracing's pilot ``template`` (TILE×TILE):
    the views to trace, best first, as (angle in degrees as ``_wm_geometry.Rotation`` turns
    a frame back, period, coarse z)."""
    side = _wm_detect.SEARCH_SIDE
    # The centre square turned by MAX_ANGLE, and the whitening's reach: a window of the frame
    # around its centre (turning it about its centre turns the frame's centre the same way).
    reach = int(np.ceil(side / 2 * np.sqrt(2))) + 16
    height, width = luma.shape
    top, left = max(0, height // 2 - reach), max(0, width // 2 - reach)
    window = np.ascontiguousarray(luma[top : height - top, left : width - left])
    small = cv2.resize(template, (COARSE, COARSE), interpolation=cv2.INTER_AREA)
    spectrum = np.conj(scipy_fft.rfft2(small)).astype(np.complex64)
    periods = grid()
    count, shape = len(ANGLES), (window.shape[0], window.shape[1])
    tall, wide = min(side, shape[0]), min(side, shape[1])
    across = np.empty((tall, count, wide), np.float32)  # the turned centres side by side
    flat = _wm_detect.flatten(window)  # whitened once, then turned (bilinear)
    for row, angle in enumerate(ANGLES):
        turn = _wm_geometry.Rotation(angle, shape)
        white = turn.luma(flat) * turn.valid
        y, x = (shape[0] - tall) // 2, (shape[1] - wide) // 2
        across[:, row] = white[y : y + tall, x : x + wide]
    scores = _peaks(across.reshape(tall, -1), count, spectrum, periods).astype(np.float32)
    # Local maxima over (angle, period), best first, at least FLOOR.
    local = scores >= cv2.dilate(scores, np.ones((3, 7), np.uint8))
    rows, cols = np.nonzero(local & (scores >= FLOOR))
    order = np.argsort(-scores[rows, cols])[:KEPT]
    return [
        (ANGLES[rows[i]], float(periods[cols[i]]), float(scores[rows[i], cols[i]])) for i in order
    ]
