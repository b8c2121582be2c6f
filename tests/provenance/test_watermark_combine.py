"""The zero-prefix hypothesis weights a clip's parts by the mark each carries
(``_wm_combine``): the parts add up to the plain fold, and a part with no mark in it gets no
weight while the parts that carry it get the more the more they carry."""

from __future__ import annotations

import numpy as np

from lpm_guard.provenance import _wm_combine, _wm_detect, _wm_trace
from lpm_guard.provenance._wm_pattern import TILE, Layout

SECRET = bytes(range(32))


def test_the_parts_add_up_to_the_plain_fold() -> None:
    rng = np.random.default_rng(0)
    whites = [rng.standard_normal((300, 410)).astype(np.float32) for _ in range(3)]
    firsts, rests = _wm_combine.block_folds(whites, 97.3)
    plain = _wm_detect.fold_many(whites, [97.3])[0]
    whole = _wm_combine.whole(firsts, rests, 97.3)
    assert np.allclose(whole.tile, plain.tile, atol=1e-3)
    assert np.allclose(whole.first, plain.first, atol=1e-4)


def test_a_part_without_the_mark_gets_no_weight() -> None:
    # Four parts of the known chips' tile under unit noise: mark amplitude 0 (noise alone),
    # 0.3, 0.6 and 0.6 under twice the noise. The weights follow a / s²: 0, then rising.
    rng = np.random.default_rng(1)
    template = _wm_trace.zero_template(Layout.from_secret(SECRET))
    amplitudes, noises = (0.0, 0.3, 0.6, 0.6), (1.0, 1.0, 1.0, 2.0)
    tiles = np.asarray(
        [
            a * template + n * rng.standard_normal((TILE, TILE)).astype(np.float32) * 4
            for a, n in zip(amplitudes, noises, strict=True)
        ],
        np.float32,
    )
    weights = _wm_combine.weights(tiles, template, (0, 0), float(TILE))
    assert weights[0] < 0.1 * weights[2]
    assert weights[1] < weights[2]
    assert weights[3] < 0.5 * weights[2]
