"""Combining a clip's parts by how much of the mark each carries (maximum-ratio combining).

The fold (``_wm_detect`` step 3) adds every whitened pixel of every frame with the same
weight. After a turn, a shrink and a re-encode the mark survives unevenly: textured parts of
the picture keep it, flat ones and the parts the codec smooths lose most of it, and the first
frame (in a file, the I-frame) keeps more than the rest. Where some chips are known (the
zero-prefix hypothesis's 480: ``_wm_trace.zero_template``), each part's own fold says how much
mark it carries (the known chips' mean agreement ``a``) and how much else (their residual
variance ``s²``); weighted by ``a / s²`` (zero where ``a`` is not positive) and summed, the
parts give the chips their best signal-to-noise ratio when their noises are independent
(Brennan, 1959). The parts are BLOCKS × BLOCKS regions of the frame, each folded apart, for
the first frame and for the frames after it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np

from lpm_guard.provenance import _wm_detect
from lpm_guard.provenance._wm_detect import Fold, _cells
from lpm_guard.provenance._wm_pattern import CHIP, chip_sums

BLOCKS = 4


def _edges(size: int, blocks: int) -> list[tuple[int, int]]:
    cuts = np.linspace(0, size, blocks + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(cuts)]


def block_folds(
    whites: Iterable[np.ndarray], period: float, blocks: int = BLOCKS
) -> tuple[np.ndarray, np.ndarray]:
    """Each of ``blocks``² regions of the whitened frames folded at ``period`` on the whole
    frame's cell grid (so their sum is ``_wm_detect.fold_many``'s): the first frame's folds
    and the sum of the others', each (blocks², TILE, TILE) float32."""
    first: np.ndarray | None = None
    rest: np.ndarray | None = None
    cut: tuple[list[tuple[int, int, object]], list[tuple[int, int, object]]] | None = None
    for white in whites:
        if cut is None:  # each region's rows and columns of the cell matrices, once
            height, width = white.shape
            rows_cells = _cells(height, period).tocsc()
            cols_cells = _cells(width, period).tocsc()
            cut = (
                [(a, b, rows_cells[:, a:b]) for a, b in _edges(height, blocks)],
                [(a, b, cols_cells[:, a:b].T.tocsr()) for a, b in _edges(width, blocks)],
            )
        parts = []
        for r0, r1, row_cells in cut[0]:
            rows = row_cells @ white[r0:r1]  # TILE × width
            for c0, c1, col_cells in cut[1]:
                parts.append(rows[:, c0:c1] @ col_cells)  # TILE × TILE
        stack = np.asarray(parts, np.float32)
        if first is None:
            first = stack
        elif rest is None:
            rest = stack.copy()
        else:
            rest += stack
    if first is None:
        raise ValueError("no frames to fold")
    return first, rest if rest is not None else np.zeros_like(first)


def weights(
    tiles: np.ndarray, template: np.ndarray, offset: tuple[int, int], period: float
) -> np.ndarray:
    """Each tile's maximum-ratio weight ``a / s²`` (0 where ``a`` <= 0): ``a`` the sharpened
    tile's chip sums at ``offset`` regressed on the known chips (``template``'s nonzero
    chips), ``s²`` their residual variance."""
    known = chip_sums(template).reshape(-1) / np.float32(CHIP * CHIP)
    where = np.flatnonzero(known)
    signs = known[where].astype(np.float64)
    out = np.zeros(len(tiles))
    for index, tile in enumerate(tiles):
        sharp = _wm_detect._less_mean(tile, period)
        values = _wm_detect.chip_sums_at(sharp, [offset])[0][where]
        if not np.any(values):
            continue
        a = float(values @ signs / (signs @ signs))
        residual = values - a * signs
        variance = float(np.mean(residual * residual))
        out[index] = max(a, 0.0) / variance if variance > 0 else 0.0
    return out


def combined(
    firsts: np.ndarray,
    rests: np.ndarray,
    template: np.ndarray,
    offset: tuple[int, int],
    period: float,
) -> Fold:
    """The fold to decode: its all-frame tile the first frame's and the other frames' parts
    weighted by ``weights`` and summed, its first-frame tile the first frame's parts
    summed as they are (the hypothesis's second frame subset, as before)."""
    tiles = np.concatenate([firsts, rests])
    w = weights(tiles, template, offset, period).astype(np.float32)
    both = np.tensordot(w, tiles, axes=1) if np.any(w) else tiles.sum(axis=0)
    return Fold(period, np.asarray(both, np.float32), np.asarray(firsts.sum(axis=0), np.float32))


def mirrored_parts(tiles: np.ndarray, mirror: bool) -> np.ndarray:
    """Each part's tile mirrored as ``_wm_detect.mirrored`` mirrors a fold."""
    if not mirror:
        return tiles
    return np.asarray([_wm_detect._mirror(tile, True) for tile in tiles])


def offset_of(evidence: Fold, template: np.ndarray) -> tuple[tuple[int, int], float]:
    """The known chips' best offset on the sharpened all-frame fold and its z (what
    ``_wm_detect.read`` finds first)."""
    surface = _wm_detect._surface(_wm_detect.sharpened(evidence).tile, template)
    offset = _wm_detect.candidates(surface, 1)[0]
    return offset, float(surface[offset])


def whole(firsts: np.ndarray, rests: np.ndarray, period: float) -> Fold:
    """The equal-weight fold of the parts (``_wm_detect.fold_many``'s)."""
    first = firsts.sum(axis=0)
    return Fold(period, np.asarray(first + rests.sum(axis=0), np.float32), first)
