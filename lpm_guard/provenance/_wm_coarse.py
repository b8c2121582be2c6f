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
def _cells(size: int, period: float, count: int = COARSE) -> sparse.csr_matrix:
    """``count``×size 0/1 matrix: the cell each pixel row (or column) falls on (COARSE
    cells; TILE: ``_wm_detect._cells``' matrix)."""
    cell = np.floor(np.arange(size) * (count / period) + 0.5).astype(np.int64) % count
    ones = np.ones(size, np.float32)
    return sparse.csr_matrix((ones, (cell, np.arange(size))), shape=(count, size))


def fold(square: np.ndarray, period: float) -> np.ndarray:
    """A whitened square folded at ``period`` into COARSE×COARSE cells (nearest cell)."""
    return np.asarray(folds(square, (float(period),))[0])


@functools.lru_cache(maxsize=256)
def _stacked(
    tall: int, wide: int, periods: tuple[float, ...], count: int
) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """``folds``' two sparse matrices for a square's shape and a batch of periods: each
    period's ``_cells`` of the rows stacked, and of the columns block-diagonal, made as
    ``_cells`` makes one (the same cells, each row's pixels in the same order) in one call
    each (stacking ``_cells``' matrices with scipy cost more than the products saved)."""
    spans = np.asarray(periods, np.float64)[:, None]

    def cells(size: int) -> np.ndarray:  # (periods, size): ``_cells``' cell of each pixel
        return np.floor(np.arange(size) * (count / spans) + 0.5).astype(np.int64) % count

    batch = len(periods)
    offsets = np.arange(batch)[:, None] * count
    rows = sparse.csr_matrix(
        (
            np.ones(batch * tall, np.float32),
            ((cells(tall) + offsets).ravel(), np.tile(np.arange(tall), batch)),
        ),
        shape=(batch * count, tall),
    )
    cols = sparse.csr_matrix(
        (
            np.ones(batch * wide, np.float32),
            ((cells(wide) + offsets).ravel(), np.arange(batch * wide)),
        ),
        shape=(batch * count, batch * wide),
    )
    return rows, cols


def folds(
    square: np.ndarray, periods: Sequence[float] | np.ndarray, count: int = COARSE
) -> np.ndarray:
    """``fold`` at each of ``periods``: (periods, count, count) float32 (``count``: TILE for
    ``_wm_detect.splats``), the same sums in the same order as one fold per period (each
    output cell adds its pixels in the order of their index, as the one-period product
    does), in two sparse products per batch instead of two per period: the products' own
    overhead was about a third of a coarse search's folding."""
    tall, wide = square.shape
    stacked, diagonal = _stacked(tall, wide, tuple(float(p) for p in periods), count)
    rows = (stacked @ square).reshape(len(periods), count, wide)  # periods × count × width
    across = rows.transpose(0, 2, 1).reshape(len(periods) * wide, count)
    folded = (diagonal @ across).reshape(len(periods), count, count)  # transposed, each
    return np.ascontiguousarray(folded.transpose(0, 2, 1), np.float32)


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
    return best_phase_z(phases).reshape(count, len(stacked))


def _full(half: np.ndarray) -> np.ndarray:
    """The whole COARSE×COARSE spectra of real patterns from their ``rfft2`` halves (the
    other columns by Hermitian symmetry: exact, no arithmetic)."""
    full = np.empty((len(half), COARSE, COARSE), np.complex64)
    full[:, :, : half.shape[-1]] = half
    rows = (-np.arange(COARSE)) % COARSE
    cols = np.arange(half.shape[-1], COARSE)
    full[:, :, cols] = np.conj(half[:, rows][:, :, COARSE - cols])
    return full


@functools.lru_cache(maxsize=64)
def _paired(key: bytes, count: int) -> np.ndarray:
    stacked = np.frombuffer(key, np.complex64).reshape(count, COARSE, -1)
    full = _full(stacked)
    if count % 2:
        full = np.concatenate([full, np.zeros_like(full[:1])])
    return np.asarray(full[0::2] + np.complex64(1j) * full[1::2], np.complex64)


def quick_zs(tiles: np.ndarray, stacked: np.ndarray) -> np.ndarray:
    """``zs`` for the scale grid's first stage (``_wm_detect.grids_scores``): the spectra
    taken in pairs, ``a + i·b``, so that one complex inverse FFT of the fold's whole spectrum
    times that gives both correlation surfaces (its real part ``a``'s, its imaginary part
    ``b``'s: both are real), where ``zs`` takes two real inverse FFTs and allocates the
    products. The same statistic; the FFTs round differently, so the z's differ from
    ``zs``'s in the last bits of float32 (about 1e-6): it only ranks folds for a shortlist,
    and every score a search decides on is ``zs``'s or the full resolution's. The grid's
    four spectra (two templates, both ways round): 0.85x of its CPU (the reading's grid on a
    720p first frame, medians of 8 alternated runs); the rotation search's two (one pair,
    whose whole forward spectrum costs what the second real inverse saved): 1.02x, so it
    keeps ``zs``."""
    phase = COARSE // GRID
    count, many = len(tiles), len(stacked)
    pairs = _paired(np.ascontiguousarray(stacked, np.complex64).tobytes(), many)
    folded = scipy_fft.fft2(tiles.astype(np.float32, copy=False))  # complex64
    products = np.empty((count, len(pairs), COARSE, COARSE), np.complex64)
    np.multiply(folded[:, None], pairs[None], out=products)
    surfaces = scipy_fft.ifft2(products, overwrite_x=True).view(np.float32)
    # (count, pairs, COARSE, COARSE, 2): both parts of each pair, per chip phase.
    cells = surfaces.reshape(count, len(pairs), GRID, phase, GRID, phase, 2)
    phases = cells.transpose(0, 1, 6, 3, 5, 2, 4).reshape(count, 2 * len(pairs), phase**2, -1)
    phases = np.ascontiguousarray(phases[:, :many]).reshape(count * many, phase**2, -1)
    return best_phase_z(phases).reshape(count, many)


def best_phase_z(phases: np.ndarray) -> np.ndarray:
    """For each row of ``phases`` (rows, phases, cells; float32, overwritten): the best
    phase's peak z (its highest cell less its mean, over its standard deviation), 0 where a
    phase is flat; float64 (rows,). np.std's steps with the cells summed once for its mean
    and ours: the same bits as ``phases.std`` and ``phases.mean``."""
    cells = phases.shape[-1]
    mean = phases.sum(axis=-1, keepdims=True) / np.float32(cells)
    highest = phases.max(axis=-1)
    spread = np.subtract(phases, mean, out=phases)  # the phases' copy, reused
    np.multiply(spread, spread, out=spread)
    std = np.sqrt(spread.sum(axis=-1) / np.float32(cells))
    z = (highest - mean[..., 0]) / np.where(std > 0, std, 1)
    return np.asarray(np.where((std > 0).all(axis=-1), z.max(axis=-1), 0.0), np.float64)


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
