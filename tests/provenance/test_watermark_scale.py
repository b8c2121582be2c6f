"""The detector's whitening, fold and keyed scale search (``_wm_detect``), on real clips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lpm_guard.provenance import _wm_detect, _wm_geometry, _wm_turns
from lpm_guard.provenance._wm_pattern import CHIP, TILE, Layout, render
from lpm_guard.provenance.watermark import Watermarker, detect
from tests.provenance import media

SECRET = bytes(range(32))
REFERENCE = 0x0123_4567_89AB_CDEF
WIDTH, HEIGHT = 640, 360


@pytest.fixture(scope="module")
def marked() -> list[np.ndarray]:
    clip = media.talking_clip("astronaut", WIDTH, HEIGHT, 25)
    marker = Watermarker(SECRET, REFERENCE, width=WIDTH, height=HEIGHT)
    return [marker.mark(frame) for frame in clip]


def _grey(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]


def test_the_keyed_search_finds_the_scale_of_a_small_reencoded_copy() -> None:
    # crf 28 after 0.5x and an 80% crop: 256x144 pixels, a tile of 64 px with 2-px chips.
    # At strength 1.3: at the default the first frame's sync peak is at the level of the
    # search's best wrong fold on some clips (5 of 8 found over 4 keys x 2 photos,
    # docs/watermark.md), and this test is about the search, not that margin.
    clip = media.talking_clip("astronaut", WIDTH, HEIGHT, 25)
    marker = Watermarker(SECRET, REFERENCE, width=WIDTH, height=HEIGHT, strength=1.3)
    strong = [marker.mark(frame) for frame in clip]
    small = _grey(media.ATTACKS["crf 28 + 0.5x + crop 80%"](strong))
    assert small[0].shape == (144, 256)
    found = _wm_detect.keyed_period(_wm_detect.flatten(small[0]), Layout.from_secret(SECRET))
    period, z, mirrored = found
    assert period == pytest.approx(64, rel=0.01) and not mirrored
    # Another key's sync pattern finds nothing there to beat the marked key's peak.
    _, other, _ = _wm_detect.keyed_period(
        _wm_detect.flatten(small[0]), Layout.from_secret(bytes(range(1, 33)))
    )
    assert z > other


def test_the_keyed_search_grid_covers_its_scales_finely_enough() -> None:
    grid = _wm_detect.SEARCH_GRID
    assert grid[0] == pytest.approx(TILE * _wm_detect.SEARCH_SCALES[0])
    assert grid[-1] >= TILE * _wm_detect.SEARCH_SCALES[1] > grid[-2]
    # Between neighbours the fold drifts by at most SEARCH_DRIFT of a chip at the edge of
    # the searched square (half its side from the centre).
    chip = grid[:-1] * CHIP / TILE
    drift = (grid[1:] / grid[:-1] - 1) * _wm_detect.SEARCH_SIDE / 2 / chip
    assert drift.max() <= _wm_detect.SEARCH_DRIFT + 1e-9
    # Every fold the search looks at is one more sync hypothesis in the bound, read as it is
    # and mirrored, in each view (the clip as it is, the rotations turned back and the
    # picture seen in perspective rectified, and each angle of the keyed rotation search,
    # whose best view the reading decodes in when its sync peak is the best).
    # (The refinement runs around the grid's best and, in a perspective view, around the
    # scale of the gate's size the picture has the shape of, over 9 steps.) Each with two
    # templates: the sync chips, and the zero-prefix hypothesis's known chips.
    folds = _wm_detect.FOLDS + len(grid) + len(_wm_detect.REFINE_STEPS) + 9
    views = 1 + _wm_geometry.ANGLES + _wm_geometry.PERSPECTIVES + len(_wm_turns.ANGLES)
    hypotheses = TILE * TILE * folds * _wm_detect.SUBSETS * 2 * views * 2
    assert hypotheses == _wm_detect.HYPOTHESES


def test_a_clip_whose_period_the_comb_misses_is_read_at_the_keyed_scale(
    marked: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The comb of step 2 is made to offer only wrong periods (what it does on the combined
    # attack); the 0.5x copy is still read, at the scale the keyed search finds.
    monkeypatch.setattr(_wm_detect, "_periods", lambda corr: [45.0, 90.0])
    half = media.ATTACKS["scale 0.5x"](marked[:6])
    found = detect(half, SECRET)
    assert found.present and found.reference == REFERENCE
    assert not detect(half, bytes(range(1, 33))).present


def test_flatten_keeps_the_size_and_cancels_brightness_and_contrast() -> None:
    luma = cv2.cvtColor(media.photo("coffee", 256, 144), cv2.COLOR_RGB2GRAY)
    white = _wm_detect.flatten(luma)
    assert white.shape == luma.shape and white.dtype == np.float32
    assert np.abs(white).max() <= _wm_detect.CLIP
    graded = np.clip(luma.astype(np.float32) * 1.2 + 10, 0, 255)
    unclipped = graded < 255
    again = _wm_detect.flatten(graded)
    assert np.corrcoef(white[unclipped], again[unclipped])[0, 1] > 0.99
    assert not _wm_detect.flatten(np.full((144, 256), 77, np.uint8)).any()


def test_splat_adds_every_pixel_once_into_its_tile_cell() -> None:
    rng = np.random.default_rng(5)
    white = rng.normal(0, 1, (200, 300)).astype(np.float32)
    # At the native period the fold is the sum of the tiles (the frame padded with zeros).
    padded = np.zeros((256, 384), np.float32)
    padded[:200, :300] = white
    native = padded.reshape(2, TILE, 3, TILE).sum(axis=(0, 2))
    assert np.allclose(_wm_detect.splat(white, float(TILE)), native, atol=1e-4)
    # At any period every pixel lands in exactly one cell.
    assert _wm_detect.splat(white, 57.3).sum() == pytest.approx(float(white.sum()), abs=1e-2)


def test_a_half_size_pattern_folds_back_onto_its_template() -> None:
    # The sync pattern tiled over 384x256 pixels, shrunk to half as media.scale does and
    # shifted by a crop: folded at 64 px, its sync peak is at the crop's offset.
    template = render(Layout.from_secret(SECRET).chips(None))
    tiled = np.tile(template, (2, 3)) * 40 + 128
    half = cv2.resize(tiled, (192, 128), interpolation=cv2.INTER_AREA)[10:, 16:]
    folded = _wm_detect.splat(_wm_detect.flatten(half), 64.0)
    surface = _wm_detect._surface(folded, template)
    # A half-size pixel covers two cells and is added into one, so the peak is flat over a
    # cell either way (the decoder tries the neighbours of every peak).
    expected = ((-20) % TILE, (-32) % TILE)
    assert surface[expected] == pytest.approx(surface.max())
    assert surface.max() > 20


@pytest.mark.slow
def test_the_gates_output_halved_and_reencoded_is_read(marked: list[np.ndarray]) -> None:
    # What a platform does on upload: our crf 20 output at half size, re-encoded at crf 23.
    # The detector's whitening at the clip's own resolution is what reads it (0 of 8 keys x
    # photos with the enlarged frame's whitening, 8 of 8 now; docs/watermark-scale.md).
    gate = media.h264(marked, 20, "veryfast")
    found = detect(media.h264(media.scale(gate, 0.5), 23), SECRET)
    assert found.present and found.reference == REFERENCE


def test_sharpened_removes_part_of_the_local_mean_over_three_clip_pixels() -> None:
    flat = np.full((TILE, TILE), 5.0, np.float32)
    spike = np.zeros((TILE, TILE), np.float32)
    spike[0, 0] = 9.0  # at the corner: the mean wraps around the tile
    native = _wm_detect.sharpened(_wm_detect.Fold(float(TILE), flat, spike))
    assert np.allclose(native.tile, 5.0 * (1 - _wm_detect.SHARPEN))
    assert native.first[0, 0] == pytest.approx(9.0 - _wm_detect.SHARPEN)
    assert native.first[-1, -1] == pytest.approx(-_wm_detect.SHARPEN)  # 3x3 cells at 128 px
    assert native.first[2, 2] == 0
    # At 0.5x three clip pixels are six cells: the spike's mean is spread over 6x6.
    half = _wm_detect.sharpened(_wm_detect.Fold(64.0, flat, spike))
    assert half.first.sum() == pytest.approx(9.0 * (1 - _wm_detect.SHARPEN), abs=1e-4)
    assert np.count_nonzero(half.first) == 36
