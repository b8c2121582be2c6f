"""Blind detection: undo scale and offset, fold every tile of every frame, read the chips.

The steps (numbered as in ``read``):

1. Whiten each frame's luma at its own resolution: subtract its 3×3 mean and divide by the
   local envelope, so host content of any contrast weighs about the same and brightness or
   contrast changes cancel.
2. Period: the tiled pattern repeats every TILE pixels, times the unknown scale. The
   autocorrelation of the whitened frames (accumulated as a power spectrum over frames) has
   peaks on the 2-D lattice of multiples of that period; the smallest period whose lattice
   comb scores near the best gives the scale, refined to 0.05 pixel.
3. Fold: add each whitened pixel into the TILE×TILE cell it falls on at the hypothesised
   period (nearest cell, no resampling of the frame), over all tiles and frames. This is
   key-independent, so one fold serves every secret tried. When no period candidate yields a
   verified payload, a keyed search folds the first frame at a fixed grid of scales and keeps
   the one whose sync peak is highest (``keyed_period``). Before steps 4 and 5 the fold loses
   SHARPEN times its local mean (``sharpened``): the picture's broader part, not the chips.
4. Offset: cyclic cross-correlation of the fold with the keyed synchronisation pattern; the
   PEAKS highest local maxima, each with its 8 neighbours, are the offsets to try, and a
   peak's z-score (against the surface's offsets of the same chip phase) measures the sync
   evidence.
5. Payload: at each offset, roll the fold to it, matched-filter it, sum each chip, add up
   each coded bit's chips with their keyed signs (soft bits), decode the convolutional code
   (Viterbi, soft input) and check the keyed check value; when no offset's check value
   verifies, the LIST_SIZE likeliest messages of each offset (list Viterbi) are checked, best
   first. The first that verifies is the reading. The check value, not the sync score, bounds
   false alarms (2^-32 per message checked, LIST_SIZE per offset; docs/watermark.md).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import fft as scipy_fft
from scipy import ndimage, sparse, special

from lpm_guard.provenance import _wm_coarse, _wm_geometry
from lpm_guard.provenance import _wm_payload as payload
from lpm_guard.provenance._wm_pattern import CHIP, GRID, TILE, Layout, render

WHITEN_SIGMA = 3.0
ENVELOPE_SIGMA = 8.0
CLIP = 3.0
# The detector's own whitening (step 1), at the clip's resolution: the luma minus its 3×3 mean,
# over an envelope of σ = 2. Measured against the Gaussian σ = 3 / envelope σ = 8 whitening
# of an enlarged frame (docs/watermark-scale.md): more of the mark after every attack.
FLAT_BOX = 3
# The keyed rotation search (``_wm_turns``) and the views it finds are whitened with a
# 5-pixel mean instead: such a copy was turned, shrunk and re-encoded (0.75x, crf 28:
# 3-pixel chips, blurred), and a 3-pixel mean takes most of a chip's own energy with it.
# Payload chips' SNR with the true geometry, offset and tile given (generator's output, 4
# keys x 2 photos, 512², all frames): 0.37 at 3, 0.46 at 5, 0.50 at 7 and 9. Not for every
# view: on a textured photo at its own scale (tests' swaying clip, crf 28) the wider mean lets
# more of the picture through (trace z 10.2 at 3, 8.3 at 5).
TURNED_BOX = 5
FLAT_ENVELOPE_SIGMA = 2.0
# Before steps 4-5 the fold loses SHARPEN times its mean over FLAT_BOX pixels of the clip
# (``sharpened``): after H.264 the mark keeps its chip-sized detail and the host its broader
# part. On 4 keys x 2 photos, first frame: crf 35 bitSNR 0.720 -> 0.735 (exact 5 -> 7 of 8),
# crf 28 + 0.5x + crop 0.486 -> 0.523; the uncompressed attacks lose 0.3-0.9 dB of a margin
# of 7 dB or more (docs/watermark-scale.md).
SHARPEN = 0.6
MIN_PERIOD = 24.0
# The autocorrelation's lags kept: up to this fraction of each side (less overlap is noise),
# and the most its detrending blur (sigma 3, OpenCV's 25-tap kernel) reads past them.
AUTO_REACH = 0.6
BLUR_REACH = 13
MIN_LATTICE = 3
PERIOD_FRAMES = 12
PERIOD_CANDIDATES = 6
SELECT_FRAMES = 6
SCALE_STEPS = (-0.004, 0.0, 0.004)
# A keyed search's scale this close to one decoded already is not decoded again (a quarter
# of a scale step: the payload of a weak mark decodes at some scales 0.3 % apart and not at
# others, so a scale one step off is another try; the check value counts it either way).
SAME_SCALE = 0.001
# Folds tried: the native scale, and each period candidate at each scale step.
FOLDS = 1 + PERIOD_CANDIDATES * len(SCALE_STEPS)
# The keyed scale search (``keyed_period``): scales 0.35-2.5 of the marked size, on a grid
# fine enough that the fold drifts by at most SEARCH_DRIFT of a chip at the edge of a
# SEARCH_SIDE-pixel square (the centre of the first frame, which the search folds), then
# REFINE_STEPS around the best on the whole first frame.
# (Up to 2.5x: frames are first reduced to at most _wm_geometry.WORK_SIDE pixels by an integer
# factor, so any upscale of a clip of 512 pixels or more lands at or under 2.5x.)
SEARCH_SCALES = (_wm_geometry.SMALLEST_SCALE, 2.5)
SEARCH_SIDE = 384
SEARCH_DRIFT = 0.25
REFINE_STEPS = (-0.5, -0.25, 0.0, 0.25, 0.5)  # in grid steps
# Around a rectified picture's scale (``keyed_period``'s ``sizes``), whose outline gives it to
# about 0.4 %: a grid step (0.6 % there) either way.
SIZE_STEPS = (-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0)
GRID_BATCH = 4  # the keyed search's folds transformed at once (``grids_scores``)
COARSE_BATCH = 16  # and its coarse folds (a quarter of the size)


def _search_grid() -> np.ndarray:
    """The keyed search's periods, smallest first."""
    periods = [TILE * SEARCH_SCALES[0]]
    while periods[-1] < TILE * SEARCH_SCALES[1]:
        chip = periods[-1] * CHIP / TILE
        periods.append(periods[-1] * (1 + 2 * SEARCH_DRIFT * chip / SEARCH_SIDE))
    return np.array(periods)


SEARCH_GRID = _search_grid()
# The keyed search's folds: the grid, the refinement around its best, and in a perspective
# view whose picture has the shape of a size the gate marks, the refinement around that size's
# scale (``keyed_period``'s ``sizes``).
SEARCHED = len(SEARCH_GRID) + len(REFINE_STEPS) + len(SIZE_STEPS)
# Frame subsets decoded at the chosen scale: all frames summed, then the first frame alone.
SUBSETS = 2
# Each fold is read as it is and mirrored (``mirrored``), in each view (the clip as it is, up
# to _wm_geometry.ANGLES rotations turned back and _wm_geometry.PERSPECTIVES pictures
# rectified).
MIRRORS = 2
VIEWS = 1 + _wm_geometry.ANGLES + _wm_geometry.PERSPECTIVES
# The keyed rotation search's angles (``_wm_turns.ANGLES``, ±5° in 0.5° steps but 0): the
# reading decodes in the best of its views when its sync peak beats the keyed scale
# search's, so each angle is one more view the reading's sync score may come from.
TURNED_VIEWS = 20
# Sync scores looked at per secret: every offset of every fold in each frame subset, the keyed
# search's folds counted as if both subsets were read at each (a union bound, so an upper one),
# both ways round, in every view.
# Two templates: the sync chips, and the zero-prefix hypothesis's known chips (the sync chips and
# the coded bits of a reference below 2^32's zero high half, ``_wm_trace.zero_template``), whose
# correlation gives that hypothesis's offsets and its reading's z.
TEMPLATES = 2
HYPOTHESES = (
    TILE * TILE * (FOLDS + SEARCHED) * SUBSETS * MIRRORS * (VIEWS + TURNED_VIEWS) * TEMPLATES
)
FALSE_ALARM_BOUND = 1e-6
# Offsets decoded per frame subset: the PEAKS best local maxima of the sync correlation, each
# with its 8 neighbours. Each is one more chance for a check value to match by luck.
PEAKS = 4
OFFSETS_TRIED = PEAKS * 9
# Messages checked per offset: the LIST_SIZE likeliest of the code's list decoding (CRC-aided
# list decoding, docs/watermark-list.md), each one more chance of a match by luck.
LIST_SIZE = payload.LIST_SIZE
DECODINGS = OFFSETS_TRIED * SUBSETS * LIST_SIZE


def tail_log10(z: float) -> float:
    """log10 of the standard normal upper tail Q(z), accurate far into the tail."""
    return float(special.log_ndtr(-z)) / math.log(10)


def log10_bound(z: float) -> float:
    """log10 of the Bonferroni bound HYPOTHESES * Q(z) for one secret's best sync score."""
    return math.log10(HYPOTHESES) + tail_log10(z)


def threshold(secrets: int = 1) -> float:
    """Smallest z whose bound, over ``secrets`` keys tried, is at most FALSE_ALARM_BOUND."""
    low, high = 0.0, 40.0
    target = math.log10(FALSE_ALARM_BOUND / secrets)
    for _ in range(100):
        mid = (low + high) / 2
        low, high = (mid, high) if log10_bound(mid) > target else (low, mid)
    return high


def envelope(luma: np.ndarray, sigma: float = WHITEN_SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """The high-pass luma and the divisor step 1 uses: its local envelope (RMS, computed at
    quarter size) plus one grey level."""
    high = luma - cv2.GaussianBlur(luma, (0, 0), sigma)
    height, width = high.shape
    small = cv2.resize(
        high * high, (max(1, width // 4), max(1, height // 4)), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (0, 0), ENVELOPE_SIGMA / 4)
    rms = np.sqrt(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR))
    return high, rms + np.float32(1.0)


def whiten(
    luma: np.ndarray,
    sigma: float = WHITEN_SIGMA,
    parts: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Step 1: high-pass luma over its local envelope, clipped (``parts``: ``envelope``'s
    result when the caller has it already)."""
    high, divisor = parts if parts is not None else envelope(luma, sigma)
    white: np.ndarray = high / divisor
    np.minimum(white, CLIP, out=white)
    return np.asarray(np.maximum(white, -CLIP, out=white))


def _whiten_into(
    luma: np.ndarray, sigma: float, out: np.ndarray, buffers: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """``whiten(luma.astype(np.float32), sigma)`` written into ``out`` (float32, the frame's
    shape): the same steps in two frame-sized float32 ``buffers`` made once per clip, in place
    (the same bits; whitening each frame into new arrays cost 3 times as much CPU here, most
    of it faulting fresh pages in)."""
    high, spare = buffers
    np.copyto(high, luma)
    cv2.GaussianBlur(high, (0, 0), sigma, dst=spare)
    np.subtract(high, spare, out=high)
    _over_envelope(high, spare, ENVELOPE_SIGMA, out)
    np.minimum(out, CLIP, out=out)
    return np.asarray(np.maximum(out, -CLIP, out=out))


def _over_envelope(high: np.ndarray, spare: np.ndarray, sigma: float, out: np.ndarray) -> None:
    """``out`` = ``high`` over its local envelope: the RMS of ``high`` (at a quarter of the
    size, blurred by ``sigma`` / 4, brought back) plus one grey level. ``spare`` is
    overwritten."""
    height, width = high.shape
    np.multiply(high, high, out=spare)
    small = cv2.resize(
        spare, (max(1, width // 4), max(1, height // 4)), interpolation=cv2.INTER_AREA
    )
    small = cv2.GaussianBlur(small, (0, 0), sigma / 4)
    rms = cv2.resize(small, (width, height), dst=spare, interpolation=cv2.INTER_LINEAR)
    np.sqrt(rms, out=rms)
    np.add(rms, np.float32(1.0), out=rms)
    np.divide(high, rms, out=out)


def flatten(
    luma: np.ndarray, box: int = FLAT_BOX, buffers: tuple[np.ndarray, np.ndarray] | None = None
) -> np.ndarray:
    """Step 1 as the detector does it: the luma minus its ``box``×``box`` mean, over its
    local envelope (RMS of that high-pass, σ = FLAT_ENVELOPE_SIGMA, plus one grey level),
    clipped; at the frame's own resolution (a 0.5× copy's 2-pixel chips are not resampled).
    ``buffers``: two float32 arrays of the frame's shape to work in (``scratch``); the result
    is the first of them, overwritten by the next call that is given them."""
    # The same steps in two frame-sized buffers, in place (a third less CPU, the same bits).
    # Given buffers made once, a frame after another costs about half again (a fresh
    # frame-sized array costs as much to fault in as the arithmetic on it).
    if buffers is None:
        high = luma.astype(np.float32)
        spare = cv2.blur(high, (box, box))
    else:
        high, spare = buffers
        np.copyto(high, luma)
        cv2.blur(high, (box, box), dst=spare)
    np.subtract(high, spare, out=high)
    _over_envelope(high, spare, FLAT_ENVELOPE_SIGMA, high)
    return np.asarray(np.clip(high, -CLIP, CLIP, out=high))


def scratch(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``flatten``'s two working buffers for frames of ``shape``."""
    return np.empty(shape[:2], np.float32), np.empty(shape[:2], np.float32)


def _autocorrelation(lumas: Sequence[np.ndarray]) -> np.ndarray:
    """Linear autocorrelation of the whitened frames (zero lag at the centre), normalised by
    the overlap at each lag and detrended, so only sharp periodic peaks stand out."""
    height, width = lumas[0].shape
    # Lags up to REACH of each side are kept, and the detrending's blur reads up to
    # BLUR_REACH beyond: padding each side to that much more than the frame keeps the
    # (circular) autocorrelation exact there at 0.64 of the FFT cost of doubling it.
    reach_y, reach_x = (math.ceil(AUTO_REACH * side) + BLUR_REACH for side in (height, width))
    size_y = scipy_fft.next_fast_len(height + reach_y, real=True)
    size_x = scipy_fft.next_fast_len(width + reach_x, real=True)
    power = np.zeros((size_y, size_x // 2 + 1), np.float64)
    # The zero-padded frame and spectrum are buffers made once (the FFTs' own padding
    # allocated and faulted in two frame-sized arrays per frame): the same inputs, the same
    # bits. The FFT may overwrite ``tall``: its padding rows are zeroed again for each frame.
    wide = np.zeros((height, size_x), np.float32)
    tall = np.zeros((size_y, size_x // 2 + 1), np.complex64)
    square = np.empty(tall.shape, np.float32)
    buffers = (np.empty((height, width), np.float32), np.empty((height, width), np.float32))
    for luma in lumas:
        _whiten_into(luma, 2.0, wide[:, :width], buffers)
        # rfft2 as its two passes (the same bits), without transforming the padding's rows.
        tall[:height] = scipy_fft.rfft(wide, axis=1)
        tall[height:] = 0
        spectrum = scipy_fft.fft(tall, axis=0, overwrite_x=True)  # complex64
        # |spectrum|² as spectrum.real**2 + spectrum.imag**2, in float32, without temporaries.
        np.square(spectrum.real, out=square)
        power += np.add(square, np.square(spectrum.imag), out=square)
    # The lags within reach (zero lag at the centre), normalised by their overlap, detrended,
    # and placed in the (2·height, 2·width) lag plane the combs read; lags past 60 %: 0.
    # The inverse transform along the columns, then along the rows of the lags kept only.
    ys, xs = np.arange(-reach_y, reach_y + 1), np.arange(-reach_x, reach_x + 1)
    kept = scipy_fft.ifft(power, axis=0, overwrite_x=True)[ys % size_y]
    near = scipy_fft.irfft(kept, n=size_x, axis=1, overwrite_x=True)[:, xs % size_x]
    dy, dx = np.abs(ys)[:, None], np.abs(xs)[None, :]
    near = (near / ((height - dy) * (width - dx))).astype(np.float32)
    detrended = near - cv2.GaussianBlur(near, (0, 0), 3.0)
    # Lags with little overlap are noise: keep the central 60% of each axis.
    detrended[(dy > AUTO_REACH * height) | (dx > AUTO_REACH * width)] = 0
    spread = np.abs(detrended[detrended != 0])
    noise = float(np.median(spread)) if spread.size else 1.0  # flat frames: nothing to scale
    noise = noise or 1.0
    corr = np.zeros((2 * height, 2 * width), np.float32)
    corr[height - reach_y : height + reach_y + 1, width - reach_x : width + reach_x + 1] = (
        detrended / noise
    )
    return corr


def _combs(corr: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """For each period, the mean autocorrelation over the lattice of its multiples in 2-D."""
    cy, cx = corr.shape[0] // 2, corr.shape[1] // 2
    ks = np.arange(-4, 5)
    ky, kx = np.meshgrid(ks, ks, indexing="ij")
    keep = (ky != 0) | (kx != 0)
    ys = cy + ky[keep][None, :] * periods[:, None]
    xs = cx + kx[keep][None, :] * periods[:, None]
    inside = (np.abs(ys - cy) <= 0.6 * cy) & (np.abs(xs - cx) <= 0.6 * cx)
    values = ndimage.map_coordinates(
        corr, [np.where(inside, ys, cy).ravel(), np.where(inside, xs, cx).ravel()], order=1
    ).reshape(ys.shape)
    count = inside.sum(axis=1)
    sums = np.where(inside, values, 0).sum(axis=1)
    return np.where(count >= MIN_LATTICE, sums / np.maximum(count, 1), -np.inf)


def estimate_periods(lumas: Sequence[np.ndarray]) -> list[float]:
    """Step 2: the likeliest tile periods in pixels (best first), from the 2-D harmonic comb."""
    return _periods(_autocorrelation(lumas))


def estimate_lattice(
    lumas: Sequence[np.ndarray],
) -> tuple[list[float], list[tuple[float, float]]]:
    """Step 2 with rotation: the unrotated lattice's likeliest periods (``estimate_periods``)
    and the rotations whose lattice stands out, each with its period
    (``_wm_geometry.estimate_angles``), from one autocorrelation."""
    corr = _autocorrelation(lumas)
    return _periods(corr), _wm_geometry.estimate_angles(corr)


def _periods(corr: np.ndarray) -> list[float]:
    top = 0.6 * min(corr.shape) / 2
    periods = np.arange(MIN_PERIOD, max(top, MIN_PERIOD + 1), 0.25)
    scores = _combs(corr, periods)
    found: list[float] = []
    for _ in range(PERIOD_CANDIDATES):
        if not np.isfinite(scores).any():
            break
        best = float(scores[np.isfinite(scores)].max())
        # The smallest period scoring near the best: multiples of the period score as well.
        index = int(np.argmax(scores >= (0.7 * best if best > 0 else best)))
        # Refine: the comb's maximum within a pixel, on a finer grid.
        fine = periods[index] + np.linspace(-1, 1, 41)
        period = float(fine[int(np.argmax(_combs(corr, fine)))])
        found.append(period)
        for k in (0.5, 1.0, 2.0, 3.0):
            scores[np.abs(periods - k * period) <= 0.05 * k * period] = -np.inf
    return found


@dataclass
class Fold:
    """Key-independent evidence at one scale hypothesis: all tiles of all frames summed, and
    the first frame's tiles alone."""

    period: float
    tile: np.ndarray
    first: np.ndarray


@functools.lru_cache(maxsize=2048)
def _cells(size: int, period: float) -> sparse.csr_matrix:
    """TILE×size 0/1 matrix: the fold cell each pixel row (or column) falls on (nearest).
    Cached: the keyed search asks for the same grid of periods on every clip and key."""
    cell = np.floor(np.arange(size) * (TILE / period) + 0.5).astype(np.int64) % TILE
    ones = np.ones(size, np.float32)
    return sparse.csr_matrix((ones, (cell, np.arange(size))), shape=(TILE, size))


def splat(white: np.ndarray, period: float) -> np.ndarray:
    """Step 3 for one whitened frame: each pixel added into the TILE×TILE cell its position
    falls on when a tile is ``period`` pixels (nearest cell). A 0.5× copy's pixel covers two
    cells and fills one; the chip sums of step 5 still see every pixel once."""
    rows = _cells(white.shape[0], period) @ white  # TILE × width
    folded = _cells(white.shape[1], period) @ rows.T  # TILE × TILE, transposed
    return np.ascontiguousarray(folded.T, np.float32)


def splats(white: np.ndarray, periods: Sequence[float] | np.ndarray) -> np.ndarray:
    """``splat`` at each of ``periods``, (periods, TILE, TILE): the same bits, in two sparse
    products for them all (``_wm_coarse.folds``)."""
    return _wm_coarse.folds(white, periods, TILE)


def fold(lumas: Sequence[np.ndarray], period: float) -> Fold:
    """Step 3: whiten each frame (one at a time, so uint8 frames cost no more memory than
    they hold) and fold it at ``period``; the sum over frames and the first frame alone."""
    return fold_white((flatten(luma) for luma in lumas), period)


def fold_white(whites: Iterable[np.ndarray], period: float) -> Fold:
    """Step 3 on frames already whitened (``flatten``)."""
    return fold_many(whites, [period])[0]


def fold_many(whites: Iterable[np.ndarray], periods: Sequence[float]) -> list[Fold]:
    """``fold_white`` at several periods in one pass over the frames (each whitened once)."""
    if not periods:
        raise ValueError("no frames to fold")
    accs = [np.zeros((TILE, TILE), np.float64) for _ in periods]
    firsts: list[np.ndarray] = []
    for white in whites:
        for index, tiles in enumerate(splats(white, periods)):
            if len(firsts) < len(periods):
                firsts.append(tiles)
            accs[index] += tiles
    if len(firsts) < len(periods) or not periods:
        raise ValueError("no frames to fold")
    return [
        Fold(period, acc.astype(np.float32), first)
        for period, acc, first in zip(periods, accs, firsts, strict=True)
    ]


def _phases(surface: np.ndarray) -> np.ndarray:
    """The offsets of a TILE×TILE surface grouped by phase: CHIP² rows (offset mod CHIP on
    each axis), each holding that phase's offsets."""
    grid = TILE // CHIP
    return surface.reshape(grid, CHIP, grid, CHIP).transpose(1, 3, 0, 2).reshape(CHIP**2, -1)


def _standardised(surface: np.ndarray) -> np.ndarray:
    """A correlation surface as z-scores, each offset against the offsets of its own phase
    (offset mod CHIP on each axis). A mark made with another key correlates with this key's
    block pattern far more widely at offsets on the chip grid than between it (2.1 times the
    surface's overall standard deviation on a clean marked clip, 0.65 off it), so one
    normalisation for the whole surface read other keys' marks at z 6.5-7.8; per phase they
    read as noise (3.5-4.3 over the 16,384 offsets)."""
    phases = _phases(surface)
    mean = phases.mean(axis=1, keepdims=True)
    std = phases.std(axis=1, keepdims=True)
    z = np.divide(phases - mean, std, out=np.zeros_like(phases), where=std > 0)
    grid = TILE // CHIP
    return np.asarray(z.reshape(CHIP, CHIP, grid, grid).transpose(2, 0, 3, 1).reshape(TILE, TILE))


def _peak_z(tile: np.ndarray, template_spectrum: np.ndarray) -> float:
    """The best z-score of the sync correlation surface of one fold (``_surface``'s max)."""
    return _peak_zs(tile, [template_spectrum])[0]


def _peak_zs(tile: np.ndarray, spectra: Sequence[np.ndarray] | np.ndarray) -> list[float]:
    """``_peak_z`` for several templates' spectra (a list, or stacked)."""
    stacked = spectra if isinstance(spectra, np.ndarray) else np.stack(spectra)
    return [float(z) for z in _peak_zs_many(tile[None], stacked)[0]]


def _peak_zs_many(tiles: np.ndarray, stacked: np.ndarray) -> np.ndarray:
    """``_peak_zs`` of a stack of folds (float64, (folds, templates)): the folds transformed
    (float32) in one call, the surfaces transformed back and their phases' statistics taken
    in one call each. The mean and standard deviation are numpy's own steps (np.std's), with
    the phases summed once for both; a template whose surface has a flat phase scores 0."""
    folded = scipy_fft.rfft2(tiles.astype(np.float32, copy=False))
    surfaces = scipy_fft.irfft2(folded[:, None] * stacked[None], s=tiles.shape[1:])
    grid = TILE // CHIP
    many = len(tiles) * len(stacked)
    phases = surfaces.reshape(many, grid, CHIP, grid, CHIP).transpose(0, 2, 4, 1, 3)
    phases = phases.reshape(many, CHIP**2, -1)
    return _wm_coarse.best_phase_z(phases).reshape(len(tiles), len(stacked))


def _spectra(template: np.ndarray) -> list[np.ndarray]:
    """The conjugate spectra (complex64) of a rendered template as it is and mirrored: a
    mirrored fold correlates with the template as the fold does with the mirrored template,
    up to a cyclic shift, with the same z per chip phase (the mirror maps phases to phases)."""
    return [
        np.conj(scipy_fft.rfft2(np.ascontiguousarray(t, np.float32))).astype(np.complex64)
        for t in (template, template[:, ::-1])
    ]


def grid_scores(
    first: np.ndarray,
    template: np.ndarray,
    periods: np.ndarray | None = None,
    *,
    shortlist: bool = False,
) -> np.ndarray:
    """The best z of a rendered template's correlation with the centre SEARCH_SIDE square of
    a whitened frame folded at each period of ``periods`` (SEARCH_GRID unless given):
    MIRRORS rows, the frame as it is and mirrored (``shortlist``: ``grids_scores``'s)."""
    return np.asarray(grids_scores(first, [template], periods, shortlist=shortlist)[0])


def grids_scores(
    first: np.ndarray,
    templates: Sequence[np.ndarray],
    periods: np.ndarray | None = None,
    *,
    shortlist: bool = False,
) -> np.ndarray:
    """``grid_scores`` of several templates, each fold made and transformed once for all of
    them (the reading's sync pattern and tracing's pilots on the same first frame):
    (templates, MIRRORS, periods). ``shortlist``: every period scored coarse first
    (``_wm_coarse``: its best z over the templates, both ways round), and only the
    ``_wm_coarse.shortlist`` of that at full resolution; the others read -inf."""
    periods = SEARCH_GRID if periods is None else periods
    height, width = first.shape
    top, left = max(0, (height - SEARCH_SIDE) // 2), max(0, (width - SEARCH_SIDE) // 2)
    # Contiguous once: each fold's sparse product would copy a strided view again.
    centre = np.ascontiguousarray(first[top : top + SEARCH_SIDE, left : left + SEARCH_SIDE])
    spectra = np.stack([spectrum for template in templates for spectrum in _spectra(template)])
    chosen = np.arange(len(periods))
    if shortlist and len(periods):
        small = _wm_coarse.spectra(templates)
        coarse = np.concatenate(
            [
                _wm_coarse.quick_zs(_wm_coarse.folds(centre, b), small)
                for b in np.array_split(periods, -(-len(periods) // COARSE_BATCH))
            ]
        )
        chosen = _wm_coarse.shortlist(coarse.max(axis=1))
    # GRID_BATCH folds at a time through each FFT and the statistics (fewer calls; a larger
    # batch's working set outgrows the cache).
    scored = periods[chosen]
    batches = [scored[i : i + GRID_BATCH] for i in range(0, len(scored), GRID_BATCH)]
    scores = np.full((len(periods), len(spectra)), -np.inf)
    if batches:
        scores[chosen] = np.concatenate(
            [_peak_zs_many(splats(centre, b), spectra) for b in batches]
        )
    return scores.reshape(len(periods), len(templates), MIRRORS).transpose(1, 2, 0)


def _mirror(tile: np.ndarray, mirror: bool) -> np.ndarray:
    return np.ascontiguousarray(tile[:, ::-1]) if mirror else tile


def mirrored(evidence: Fold, mirror: bool = True) -> Fold:
    """The fold of the frames mirrored left to right (up to a cyclic shift, which the offset
    search absorbs): a mirrored copy of a marked clip folds onto the mark again."""
    if not mirror:
        return evidence
    return Fold(evidence.period, _mirror(evidence.tile, True), _mirror(evidence.first, True))


def keyed_period(
    first: np.ndarray,
    layout: Layout,
    scores: np.ndarray | None = None,
    sizes: Sequence[float] = (),
) -> tuple[float, float, bool]:
    """The keyed scale search: the period (its sync z, and whether the frame is mirrored) at
    which the first whitened frame folds onto this secret's sync pattern best.

    The comb of step 2 needs the mark's own autocorrelation, which is quadratic in its
    amplitude and lost under a small, re-encoded copy (crf 28 after 0.5× and a crop: the true
    64 px was not among its six candidates on either benchmark photo); the sync correlation is
    linear in it. (1) Fold the centre SEARCH_SIDE square of the frame at every period of
    SEARCH_GRID and take each surface's peak z, coarse first and the shortlist of that at
    full resolution (``_wm_coarse``; ``scores``: ``grid_scores`` of this frame and the sync
    template, when the caller has them); (2) around the best, REFINE_STEPS grid
    steps on the whole frame; the best of those is the answer. ``sizes``: at most one more
    period to refine around (SIZE_STEPS), both ways round (a rectified picture's scale when
    it has the shape of a size the gate marks, ``_wm_geometry.Perspective.periods``), kept
    when its peak is higher."""
    template = render(layout.chips(None))
    # (1) the grid, on the centre square, both ways round.
    scores = grid_scores(first, template, shortlist=True) if scores is None else scores
    mirror, best = divmod(int(np.argmax(scores)), scores.shape[1])
    # (2) refine on the whole frame, in fractions of the grid's step there.
    found = (*refine(first, template, best, bool(mirror)), bool(mirror))
    for size in sizes[:1]:
        # SIZE_STEPS around it, in the grid's step there, each fold both ways round.
        at = int(np.searchsorted(SEARCH_GRID, size).clip(1, len(SEARCH_GRID) - 1))
        step = SEARCH_GRID[at] / SEARCH_GRID[at - 1] - 1
        near = [size * (1 + k * step) for k in SIZE_STEPS]
        both = np.array([_peak_zs(tile, _spectra(template)) for tile in splats(first, near)])
        index, flipped = divmod(int(np.argmax(both)), MIRRORS)
        if both.max() > found[1]:
            found = (float(near[index]), float(both.max()), bool(flipped))
    return found


def refine(first: np.ndarray, template: np.ndarray, at: int, mirror: bool) -> tuple[float, float]:
    """``keyed_period``'s step (2): around SEARCH_GRID[at], REFINE_STEPS of the grid's step
    there on the whole whitened frame; the period whose sync peak is highest, and that z."""
    step = SEARCH_GRID[min(at + 1, len(SEARCH_GRID) - 1)] / SEARCH_GRID[at] - 1
    refined = [SEARCH_GRID[at] * (1 + k * step) for k in REFINE_STEPS]
    spectrum = _spectra(template)[int(mirror)]
    zs = [_peak_z(tile, spectrum) for tile in splats(first, refined)]
    return float(refined[int(np.argmax(zs))]), float(max(zs))


@dataclass(frozen=True)
class Reading:
    """What one secret reads from one fold."""

    z: float
    offset: tuple[int, int]
    soft_bits: np.ndarray
    reference: int | None


def chip_sums_at(tile: np.ndarray, offsets: Sequence[tuple[int, int]]) -> np.ndarray:
    """``chip_sums`` of the tile rolled to each offset, (offsets, GRID²) float64: its cyclic
    CHIP×CHIP box sums, once, read on the chip grid from each offset."""
    box = tile.copy()
    for shift in range(1, CHIP):
        box += np.roll(tile, -shift, 1)
    across = box.copy()
    for shift in range(1, CHIP):
        box += np.roll(across, -shift, 0)
    starts = np.arange(GRID) * CHIP
    rows = np.array([(row + starts) % TILE for row, _ in offsets])
    cols = np.array([(col + starts) % TILE for _, col in offsets])
    return np.asarray(box[rows[:, :, None], cols[:, None, :]].reshape(len(offsets), -1), np.float64)


def candidates(surface: np.ndarray, peaks: int = PEAKS) -> list[tuple[int, int]]:
    """The offsets to try, best first: each of the ``peaks`` highest local maxima of the
    correlation surface, then its 8 neighbours (H.264 often moves the peak by a pixel)."""
    local = surface >= ndimage.maximum_filter(surface, size=3, mode="wrap")
    flat = np.flatnonzero(local.ravel())
    best = flat[np.argsort(surface.ravel()[flat])[::-1][:peaks]]
    size = surface.shape[0]
    found: list[tuple[int, int]] = []
    for index in best:
        row, col = divmod(int(index), size)
        ring = sorted(
            ((row + dy) % size, (col + dx) % size) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
        )
        ring.sort(key=lambda o: -surface[o])
        found += [o for o in ring if o not in found]
    return found


def _surface(tile: np.ndarray, template: np.ndarray) -> np.ndarray:
    """The sync pattern's cyclic cross-correlation with a fold, as z-scores."""
    return _surface_of(tile, sync_spectrum(template))


def sync_spectrum(template: np.ndarray) -> np.ndarray:
    """The conjugate spectrum ``_surface`` correlates a fold with (``sync_z`` takes it)."""
    return np.asarray(np.conj(np.fft.fft2(template)))


def _surface_of(tile: np.ndarray, spectrum: np.ndarray) -> np.ndarray:
    return _standardised(np.fft.ifft2(np.fft.fft2(tile) * spectrum).real)


def sync_z(evidence: Fold, spectrum: np.ndarray) -> float:
    """``read(evidence, ..., decode=False).z`` alone: the sync surface's best z on the
    sharpened all-frame fold (its highest local maximum is its maximum), with the sync
    template's ``sync_spectrum`` given; what a choice between folds compares."""
    return float(_surface_of(_less_mean(evidence.tile, evidence.period), spectrum).max())


def _less_mean(tile: np.ndarray, period: float) -> np.ndarray:
    cells = max(1, round(FLAT_BOX * TILE / period))
    padded = np.pad(tile.astype(np.float32), cells, mode="wrap")
    mean = cv2.blur(padded, (cells, cells))[cells:-cells, cells:-cells]
    return np.asarray(tile - np.float32(SHARPEN) * mean, np.float32)


def first_weighted(evidence: Fold) -> Fold:
    """The fold with its all-frame tile replaced by the all-frame tile and the first frame's,
    each over its own RMS, summed: the first frame (in a file, the I-frame, which keeps the
    most of the mark) weighs as much as all the frames together. The zero-prefix hypothesis
    decodes this and the first frame alone (its two frame subsets): on the 8 clips of issue
    19's combined attack at 512² marked with audit index 1,234 it read 7 where the frames
    summed and the first frame read 5 (weights 0.5 and 2 for the first frame: 6 and 5)."""

    def unit(tile: np.ndarray) -> np.ndarray:
        rms = float(np.sqrt(np.mean(np.square(tile, dtype=np.float64))))
        return tile / np.float32(rms) if rms > 0 else tile

    both = np.asarray(unit(evidence.tile) + unit(evidence.first), np.float32)
    return Fold(evidence.period, both, evidence.first)


def sharpened(evidence: Fold) -> Fold:
    """Both folds less SHARPEN times their cyclic local mean over FLAT_BOX clip pixels (that
    many cells at the native scale, twice as many at 0.5x)."""
    period = evidence.period
    return Fold(period, _less_mean(evidence.tile, period), _less_mean(evidence.first, period))


def _ranked(
    softs: np.ndarray, listed: bool, zeros: int = 0, size: int = LIST_SIZE
) -> list[np.ndarray]:
    """The messages to check for each row of ``softs``, rank by rank: the Viterbi path alone,
    or (``listed``) ranks 2 to ``size`` of the list Viterbi decoder (its rank 1 is the
    Viterbi path); ``zeros``: of the messages whose first ``zeros`` bits are 0."""
    if not listed:
        return [payload.viterbi(softs, zeros)]
    if size == 1:
        return []
    messages, _ = payload.list_viterbi(softs, size, zeros)
    return list(messages[:, 1:].transpose(1, 0, 2))


def read(
    evidence: Fold,
    secret: bytes,
    layout: Layout | None = None,
    *,
    decode: bool = True,
    template: np.ndarray | None = None,
    zeros: int = 0,
    peaks: int = PEAKS,
    frame_subsets: int = SUBSETS,
    list_size: int = LIST_SIZE,
) -> Reading:
    """Steps 4-5 on one fold. ``template``: the known chips whose correlation gives the
    offsets and the z (the sync chips unless given: the zero-prefix hypothesis's
    ``_wm_trace.zero_template``); ``zeros``: decode only messages whose first ``zeros`` bits
    are 0; ``peaks``, ``frame_subsets`` and ``list_size``: how many of the surface's peaks, of
    the frame subsets and of each offset's likeliest messages are decoded (each message one
    more check-value attempt)."""
    layout = layout or Layout.from_secret(secret)
    evidence = sharpened(evidence)
    template = render(layout.chips(None)) if template is None else template

    def softs_at(tile: np.ndarray, offsets: Sequence[tuple[int, int]]) -> np.ndarray:
        return layout.soft_bits(chip_sums_at(tile, offsets).reshape(-1, GRID, GRID))

    # (4): the sync pattern's cyclic cross-correlation and its z-scores.
    surface = _surface(evidence.tile, template)
    tried = candidates(surface, peaks)
    if decode:
        # (5): every candidate offset at once: align, matched filter, chips, soft bits. Then
        # the all-frame fold, and the first frame alone: in a file it is an I-frame, and under
        # H.264 it keeps the most of the mark (the P and B frames carry it dragged along with
        # the moving picture, docs/watermark.md).
        subsets = []
        for tile in [evidence.tile, evidence.first][:frame_subsets]:
            here = surface if tile is evidence.tile else _surface(tile, template)
            offsets = tried if tile is evidence.tile else candidates(here, peaks)
            softs = softs_at(tile, offsets)
            subsets.append((here, offsets, softs))
        # (5a): one Viterbi decoding per offset (cheap; a clear mark verifies here), in both
        # subsets; (5b): when none verifies, the rest of each offset's list of the LIST_SIZE
        # likeliest messages (list Viterbi), rank by rank. The first message whose check
        # value verifies is the reading.
        for listed in (False, True):
            for here, offsets, softs in subsets:
                for messages in _ranked(softs, listed, zeros, list_size):
                    for offset, soft, message in zip(offsets, softs, messages, strict=True):
                        reference = payload.reference_of(secret, message)
                        if reference is not None:
                            return Reading(float(here[offset]), offset, soft, reference)
    return Reading(float(surface[tried[0]]), tried[0], softs_at(evidence.tile, tried[:1])[0], None)
