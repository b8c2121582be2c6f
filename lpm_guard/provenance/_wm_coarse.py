"""The first stage of the keyed searches: folds into COARSE×COARSE cells and their peaks.

A keyed search (the scale grid of ``_wm_detect.grids_scores``, the angles and periods of
``_wm_turns``) scores hundreds or thousands of folds, each through an FFT of the tile and
one inverse FFT per template. Folded into COARSE×COARSE cells instead of TILE×TILE (half the
tile's resolution: the chips, 2 cells wide, keep their sum, and a quarter of the FFT's
cost), each fold's peak z reads close to the full one at the same fold: on the benchmark's
16 turned, shrunk, re-encoded clips the full rotation search's best (angle, period) was the
coarse one's best local maximum on 15 and its second on the last. So a search scores every
fold coarse, then only the SHORTLIST best local maxima and their neighbours at full
resolution (``shortlist``): the scores it decides on are the full ones, at fewer folds.

What a search looks at is counted by the false-alarm bounds as if every fold were scored at
full resolution (``_wm_detect.HYPOTHESES``, ``_wm_trace.hypotheses``): scoring fewer folds
only looks at fewer hypotheses, so the union bounds stay upper bounds.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np
from scipy import fft as scipy_fft
from scipy import sparse

from lpm_guard.provenance._wm_pattern import GRID

COARSE = 64
# Local maxima of a coarse search scored again at full resolution, each with its neighbours.
SHORTLIST = 12


@functools.lru_cache(maxsize=4096)
def _cells(size: int, period: float) -> sparse.csr_matrix:
    """COARSE×size 0/1 matrix: the coarse cell each pixel row (or column) falls on."""
    cell = np.floor(np.arange(size) * (COARSE / period) + 0.5).astype(np.int64) % COARSE
    ones = np.ones(size, np.float32)
    return sparse.csr_matrix((ones, (cell, np.arange(size))), shape=(COARSE, size))


def fold(square: np.ndarray, period: float) -> np.ndarray:
    """A whitened square folded at ``period`` into COARSE×COARSE cells (nearest cell)."""
    rows = _cells(square.shape[0], period) @ square  # COARSE × width
    return np.ascontiguousarray((_cells(square.shape[1], period) @ rows.T).T, np.float32)


def spectra(templates: Sequence[np.ndarray]) -> np.ndarray:
    """The conjugate spectra (complex64) of rendered TILE×TILE templates area-reduced to
    COARSE×COARSE, each as it is and mirrored (``_wm_detect._spectra``'s order)."""
    out = []
    for template in templates:
        small = cv2.resize(template, (COARSE, COARSE), interpolation=cv2.INTER_AREA)
        for t in (small, small[:, ::-1]):
            spectrum = scipy_fft.rfft2(np.ascontiguousarray(t, np.float32))
            out.append(np.conj(spectrum).astype(np.complex64))
    return np.stack(out)


def zs(tiles: np.ndarray, stacked: np.ndarray) -> np.ndarray:
    """Each coarse fold's best correlation z with each spectrum of ``stacked``, offsets
    standardised per chip phase (``_wm_detect._standardised``'s rule): (folds, spectra)."""
    phase = COARSE // GRID  # cells per chip
    count, many = len(tiles), len(tiles) * len(stacked)
    folded = scipy_fft.rfft2(tiles.astype(np.float32, copy=False))
    surfaces = scipy_fft.irfft2(folded[:, None] * stacked[None], s=(COARSE, COARSE))
    phases = surfaces.reshape(many, GRID, phase, GRID, phase).transpose(0, 2, 4, 1, 3)
    phases = phases.reshape(many, phase * phase, -1)
    std = phases.std(axis=-1)
    z = (phases.max(axis=-1) - phases.mean(axis=-1)) / np.where(std > 0, std, 1)
    best = np.where((std > 0).all(axis=-1), z.max(axis=-1), 0.0)
    return np.asarray(best, np.float64).reshape(count, len(stacked))


def shortlist(scores: np.ndarray, reach: int = 3, count: int = SHORTLIST) -> np.ndarray:
    """The indices to score at full resolution, in order: the ``count`` best local maxima of
    a coarse search's scores over its periods (within ``reach`` either side), each with its
    two neighbours."""
    peaks = [
        i
        for i in range(len(scores))
        if scores[i] >= scores[max(0, i - reach) : i + reach + 1].max()
    ]
    peaks.sort(key=lambda i: -scores[i])
    chosen = {j for i in peaks[:count] for j in (i - 1, i, i + 1) if 0 <= j < len(scores)}
    return np.array(sorted(chosen), np.int64)
