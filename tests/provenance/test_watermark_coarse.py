"""The keyed searches' coarse first stage (``_wm_coarse``): every fold scored in 64² cells,
only a shortlist at full resolution, and the same answer where a mark is. A synthetic frame:
the key's pilot tiles at 0.75× turned 2° in noise, weak (its peak reads about 9 in either
search, the noise maximum about 5)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lpm_guard.provenance import _wm_coarse, _wm_detect, _wm_trace, _wm_turns
from lpm_guard.provenance._wm_pattern import TILE, Layout, render

SECRET = bytes(range(32))
PERIOD = 0.75 * TILE
ANGLE = 2.0  # media.rotate's sense: the search turns it back by -2


def _frame(amplitude: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 512² luma holding the pilot pattern tiled at PERIOD, turned ANGLE, in noise; and
    the pilot template."""
    template = _wm_trace.codebook(SECRET, range(1_000)).template
    tiles = np.tile(template, (6, 6))
    size = round(tiles.shape[0] * PERIOD / TILE)
    small = cv2.resize(tiles, (size, size), interpolation=cv2.INTER_AREA)
    turn = cv2.getRotationMatrix2D((size / 2, size / 2), ANGLE, 1.0)
    turned = cv2.warpAffine(small, turn, (size, size), flags=cv2.INTER_LINEAR)
    top = (size - 512) // 2
    mark = turned[top : top + 512, top : top + 512]
    noise = np.random.default_rng(seed).normal(128, 20, (512, 512))
    luma = np.clip(noise + amplitude * mark / np.abs(mark).max(), 0, 255).astype(np.uint8)
    return luma, template


def test_the_rotation_search_scores_a_shortlist_at_full_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    luma, template = _frame(1.6)
    full: list[float] = []
    folds = _wm_coarse.folds
    monkeypatch.setattr(_wm_coarse, "folds", lambda *a: full.extend(a[1]) or folds(*a))
    centre = _wm_turns.centre(luma)
    views = _wm_turns.search(centre, template)
    angle, period, z = views[0]
    assert angle == -ANGLE and period == pytest.approx(PERIOD, rel=0.01)
    assert z >= _wm_turns.FLOOR
    # Full size only for the shortlist and its neighbours, not the 20 angles x 232 periods.
    assert 0 < len(full) <= _wm_turns.SHORTLIST * 9 < len(_wm_turns.ANGLES) * len(_wm_turns.grid())


def test_folds_in_one_batch_are_the_folds_one_at_a_time() -> None:
    # The batched sparse products add each cell's pixels in the same order as one fold per
    # period: the same bits, coarse and full size.
    white = _wm_detect.flatten(_frame(1.2)[0][:300, :333])
    periods = [float(p) for p in _wm_detect.SEARCH_GRID[::97]]
    cells = _wm_coarse._cells
    one = np.stack(
        [(cells(white.shape[1], p) @ (cells(white.shape[0], p) @ white).T).T for p in periods]
    )
    assert np.array_equal(_wm_coarse.folds(white, periods), one)
    one = np.stack([_wm_detect.splat(white, p) for p in periods])
    assert np.array_equal(_wm_detect.splats(white, periods), one)


def test_the_scale_grid_scores_a_shortlist_at_full_resolution() -> None:
    luma, template = _frame(1.2, seed=1)
    rotation = cv2.getRotationMatrix2D((256, 256), -ANGLE, 1.0)
    white = _wm_detect.flatten(cv2.warpAffine(luma, rotation, (512, 512)))
    every = _wm_detect.grid_scores(white, template)
    short = _wm_detect.grid_scores(white, template, shortlist=True)
    scored = np.isfinite(short[0])
    assert scored.sum() <= 3 * _wm_coarse.SHORTLIST < len(_wm_detect.SEARCH_GRID)
    # Where it scores, the full scores; and its best is the whole grid's best.
    assert np.array_equal(short[:, scored], every[:, scored])
    assert np.argmax(short) == np.argmax(every)
    assert _wm_detect.SEARCH_GRID[np.argmax(every) % every.shape[1]] == pytest.approx(
        PERIOD, rel=0.01
    )


def test_quick_zs_are_the_coarse_zs_from_paired_inverse_transforms() -> None:
    # One complex inverse FFT per pair of spectra (an odd one paired with nothing), each
    # surface's z the same statistic up to float32 rounding, in the same order.
    template = _wm_trace.codebook(SECRET, range(1_000)).template
    sync = render(Layout.from_secret(SECRET).chips(None))
    every = _wm_coarse.spectra([sync, template])
    tiles = np.random.default_rng(3).standard_normal((12, 64, 64)).astype(np.float32)
    for stacked in (every, every[::2], every[:3], every[:1]):
        slow, quick = _wm_coarse.zs(tiles, stacked), _wm_coarse.quick_zs(tiles, stacked)
        assert quick.shape == slow.shape
        assert np.abs(quick - slow).max() < 1e-4


def test_the_scale_grid_shortlists_from_quick_zs_as_from_zs() -> None:
    # The coarse stage ranks folds only: on a marked frame, the shortlist the scale grid
    # scores at full resolution (and so every score it keeps) is the one zs gave.
    luma, template = _frame(1.2, seed=1)
    rotation = cv2.getRotationMatrix2D((256, 256), -ANGLE, 1.0)
    white = _wm_detect.flatten(cv2.warpAffine(luma, rotation, (512, 512)))
    centre = np.ascontiguousarray(white[64:448, 64:448])
    folds = _wm_coarse.folds(centre, _wm_detect.SEARCH_GRID)
    spectra = _wm_coarse.spectra([template])
    slow, quick = (z(folds, spectra).max(axis=1) for z in (_wm_coarse.zs, _wm_coarse.quick_zs))
    assert np.array_equal(_wm_coarse.shortlist(quick), _wm_coarse.shortlist(slow))
    assert np.argmax(quick) == np.argmax(slow)
    assert _wm_detect.SEARCH_GRID[np.argmax(quick)] == pytest.approx(PERIOD, rel=0.01)


def test_flatten_in_buffers_is_flatten() -> None:
    luma = _frame(1.2)[0][:200, :301]
    buffers = _wm_detect.scratch(luma.shape)
    for box in (_wm_detect.FLAT_BOX, _wm_detect.TURNED_BOX):
        for frame in (luma, luma[::-1].copy()):  # the buffers hold the last frame only
            assert np.array_equal(
                _wm_detect.flatten(frame, box, buffers), _wm_detect.flatten(frame, box)
            )
