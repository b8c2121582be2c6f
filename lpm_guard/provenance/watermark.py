"""The keyed, invisible, robust video watermark (see docs/watermark.md for the algorithm).

``Watermarker`` precomputes a session's keyed pattern once for a frame size and marks each
frame by adding a texture-masked copy of it to the luma; ``detect`` reads frames blind (no
original needed), undoing scale and crop, and reports whether this secret's mark is present,
with the 64-bit reference it carries.
"""

from __future__ import annotations

import math
import pathlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice

import av
import cv2
import numpy as np

from lpm_guard.provenance import (
    _wm_combine,
    _wm_detect,
    _wm_geometry,
    _wm_informed,
    _wm_payload,
    _wm_trace,
    _wm_turns,
)
from lpm_guard.provenance._wm_pattern import TILE, Layout, render
from lpm_guard.provenance.errors import InvalidFrame, UnreadableVideo

REFERENCE_BITS = _wm_payload.REFERENCE_BITS
MASK_EVERY = 12
# Amplitude scale of the mark: 1.0 meets PSNR >= 42 dB and SSIM >= 0.99 on the benchmark's
# photos (and SSIM 0.9903 on a third, the binding one); higher strengths buy robustness with
# visibility (docs/watermark.md has the tables).
DEFAULT_STRENGTH = 1.0
MIN_SIDE = 64
# ITU-R BT.601 luma weights of R, G and B (what H.264's YCbCr and cv2's grey use).
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
LUMA_NORM = sum(w * w for w in LUMA_WEIGHTS)
# A decoded payload passes its keyed check value by luck with probability 2^-32 per message
# checked: the LIST_SIZE likeliest messages (list Viterbi) per offset tried in each frame
# subset, at the chosen scale, at the native one and at the keyed search's, per secret.
SCALES_DECODED = 3
# The zero-prefix hypothesis (``Evidence._zero_prefix``) decodes once more per secret: the
# ZERO_LIST likeliest messages at the ZERO_PEAKS best offsets of its known chips' correlation
# (each with its 8 neighbours) in ZERO_SUBSETS frame subsets, 54 messages, an eighth of a scale
# of the first hypothesis (480 known chips place the offset better than the 224 sync chips, and
# 64 unknown message bits need a shorter list), so that three keys stay under 1e-6 per clip.
# On the 8 clips of issue 19's combined attack at 512² (rotated 2° + 0.75x + crf 28, audit
# index 0x89ABCDEF, before ``_wm_detect.first_weighted``) the hypothesis alone read 8 with
# lists of 2, 3 and 6, 7 with the Viterbi path alone; with the frames summed alone, 5.
ZERO_PEAKS = 1
ZERO_SUBSETS = 2
ZERO_LIST = 3
ZERO_ATTEMPTS = ZERO_PEAKS * 9 * ZERO_SUBSETS * ZERO_LIST
# It folds every frame and decodes only where its known chips' z on the whole first frame
# reaches ZERO_FLOOR (CPU only: fewer attempts than the bound counts). The 4 clips of that
# attack it read (512² and 1280x720) scored 7.8-13.8 there; 48 unmarked reads (the sweep's
# 2 photos x 3 attacks x 2 sizes x 4 keys) 3.6-5.8, where the fold and the decoding cost
# 0.06-0.31 s of CPU.
ZERO_FLOOR = 6.0
CHECK_ATTEMPTS = _wm_detect.DECODINGS * SCALES_DECODED + ZERO_ATTEMPTS
CHECK_LOG10 = _wm_payload.CHECK_BYTES * 8 * math.log10(2)


def check_log10_bound(secrets: int) -> float:
    """log10 of the chance that any of ``secrets`` keys decodes a check value by luck."""
    return min(0.0, math.log10(secrets * CHECK_ATTEMPTS) - CHECK_LOG10)


def _check_frame(rgb: object, shape: tuple[int, int] | None = None) -> np.ndarray:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
        raise InvalidFrame("a frame must be a numpy uint8 array")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InvalidFrame(f"a frame must be HxWx3 RGB, not shape {rgb.shape}")
    if min(rgb.shape[:2]) < MIN_SIDE:
        raise InvalidFrame(f"a frame must be at least {MIN_SIDE}x{MIN_SIDE} pixels")
    if shape is not None and rgb.shape[:2] != shape:
        got, want = f"{rgb.shape[1]}x{rgb.shape[0]}", f"{shape[1]}x{shape[0]}"
        raise InvalidFrame(f"frame is {got}, expected {want}")
    return rgb


class Watermarker:
    """Precomputes the keyed pattern once per session/frame size; marks frames cheaply.

    Every ``MASK_EVERY`` frames (and on the first) it refreshes the residual it adds: the
    texture mask of the current frame, and the informed-embedding gains (``_wm_informed``)
    that cancel what this frame's own content would add to each payload bit at the
    detector. The frames in between get the same residual (one add and one subtract of
    uint8 arrays), so a Watermarker's output depends on the order of the frames it marks; use
    one Watermarker per stream (it is not thread-safe).
    ``strength`` scales the amplitude: the default, 1.0, meets PSNR >= 42 dB and SSIM >= 0.99
    on the benchmark's clips and survives H.264 crf 23 and 28, a platform's re-encode of our
    output (as is or at half size), 0.5x, an 80% crop, JPEG 50, noise and grading, crf 35 on
    7 of 8 keys x photos, but not crf 28 after 0.5x and a crop; 1.3 (PSNR about 41 dB, SSIM
    about 0.985) gives crf 28 and the re-encodes more margin (docs/watermark.md and
    docs/watermark-scale.md have the measurements).
    """

    def __init__(
        self,
        secret: bytes,
        reference: int,
        *,
        width: int,
        height: int,
        strength: float = DEFAULT_STRENGTH,
    ) -> None:
        if not isinstance(secret, bytes) or len(secret) < 16:
            raise ValueError("the watermark secret must be at least 16 bytes")
        if not 0 <= reference < 1 << REFERENCE_BITS:
            raise ValueError(f"reference must be an unsigned {REFERENCE_BITS}-bit integer")
        if width < MIN_SIDE or height < MIN_SIDE:
            raise ValueError(f"frames must be at least {MIN_SIDE}x{MIN_SIDE} pixels")
        if not 0 < strength <= 4:
            raise ValueError("strength must be in (0, 4]")
        self.reference = reference
        self.width, self.height = width, height
        self.strength = strength
        self.coded_bits = _wm_payload.encode(secret, reference)
        self._layout = Layout.from_secret(secret)
        self._informed = _wm_informed.Informed(self._layout, self.coded_bits, width, height)
        half_width, half_height = _wm_informed.half_size(width, height)
        self._zeros = np.zeros((half_height, half_width), np.float32)
        self._frames = 0
        self._residual: tuple[np.ndarray, np.ndarray] | None = None

    def residual(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The masked pattern for this frame, split into what to add and what to subtract.

        The luma change is spread over R, G and B in proportion to the luma weights, the
        least total change (and so the least PSNR and SSIM cost) that moves luma by it."""
        delta = self._informed.half_delta(rgb, self.strength)
        up = cv2.compare(delta, self._zeros, cv2.CMP_GT)  # 255 where the change is positive
        positive, negative = [], []
        for weight in LUMA_WEIGHTS:
            size = cv2.convertScaleAbs(delta, alpha=weight / LUMA_NORM)  # |change| rounded
            positive.append(cv2.bitwise_and(size, up))
            negative.append(cv2.subtract(size, positive[-1]))
        # Each half-size value is the change of a 2x2 block of the frame.
        full = (self.width, self.height)
        return _wm_informed.enlarge(cv2.merge(positive), *full), _wm_informed.enlarge(
            cv2.merge(negative), *full
        )

    def mark(self, rgb: np.ndarray) -> np.ndarray:
        """A marked copy of an HxWx3 uint8 RGB frame of this Watermarker's size."""
        _check_frame(rgb, (self.height, self.width))
        if self._residual is None or self._frames % MASK_EVERY == 0:
            self._residual = self.residual(rgb)
        self._frames += 1
        positive, negative = self._residual
        out = cv2.add(rgb, positive)
        return cv2.subtract(out, negative, dst=out)


@dataclass(frozen=True)
class Detection:
    present: bool  # False = "absent"
    reference: int | None  # the 64-bit identifier when present
    confidence: float  # -log10 of the false-alarm bound for this evidence (docs/watermark.md)
    frames_used: int
    # How a present mark was read: "decoded" (the payload's check value verified, blind) or
    # "traced" (one of the issued references stood out, ``_wm_trace``); None when absent.
    method: str | None = None
    candidates: int = 0  # issued references compared when tracing was tried


def _lumas(frames: Iterable[np.ndarray], max_frames: int) -> list[np.ndarray]:
    if max_frames < 1:
        raise ValueError("max_frames must be at least 1")
    lumas: list[np.ndarray] = []
    shape: tuple[int, int] | None = None
    for rgb in islice(frames, max_frames):
        _check_frame(rgb, shape)
        shape = rgb.shape[:2]
        # A large frame (an upscaled copy, a 4K re-encode) is read reduced (_wm_geometry).
        lumas.append(_wm_geometry.reduce(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)))
    if not lumas:
        raise InvalidFrame("no frames to read a watermark from")
    return lumas


@dataclass
class _View:
    """One geometry hypothesis: the clip as it is (``rotation`` None), turned back by a
    rotation its autocorrelation shows, or its picture's outline mapped back to a rectangle
    (``_wm_geometry``), with its period candidates, its sampled frames whitened, and its
    folds."""

    rotation: _wm_geometry.Rotation | _wm_geometry.Perspective | None
    candidates: list[float]  # the native period first, then the lattice's
    sample: list[np.ndarray]
    quick: dict[float, _wm_detect.Fold] = field(default_factory=dict)
    full: dict[float, _wm_detect.Fold] = field(default_factory=dict)
    # Tracing's pilot scores of the first frame over the whole search grid, per codebook,
    # made in the reading's keyed search (the same folds): ``Evidence.reading``.
    pilots: dict[tuple[bytes, bytes], np.ndarray] = field(default_factory=dict)
    # The zero-prefix hypothesis's known chips' scores on the same folds, per secret.
    zeros: dict[bytes, np.ndarray] = field(default_factory=dict)
    box: int = _wm_detect.FLAT_BOX  # the whitening's mean (``_wm_detect.flatten``)

    def white(
        self, luma: np.ndarray, buffers: tuple[np.ndarray, np.ndarray] | None = None
    ) -> np.ndarray:
        """A frame of this view whitened (``buffers``: ``_wm_detect.flatten``'s, for a frame
        used and dropped before the next: the result lives in them)."""
        if self.rotation is None:
            return _wm_detect.flatten(luma, self.box, buffers)
        turned = self.rotation.luma(luma)
        flat = _wm_detect.flatten(turned, self.box, buffers)
        if buffers is None:
            return np.asarray(flat * self.rotation.valid)
        return np.asarray(np.multiply(flat, self.rotation.valid, out=flat))


class Evidence:
    """The key-independent part of detection for one clip: geometry, scale hypotheses and
    folds.

    Steps (1)-(3) of ``_wm_detect`` run once here; ``reading`` runs (4)-(5) for one secret,
    so trying several secrets (key rotation) costs little more than trying one.
    """

    def __init__(self, lumas: Sequence[np.ndarray]) -> None:
        self._books: dict[tuple[bytes, bytes], _wm_trace.Codebook] = {}
        # The keyed rotation search's key-independent part (made when a trace first needs it).
        self._centre: _wm_turns.Centre | None = None
        # Its views per template (the reading's sync pattern, tracing's pilots), and the
        # turned views made from them, by (angle, period).
        self._turns: dict[bytes, list[tuple[float, float, float]]] = {}
        self._turned_views: dict[tuple[float, float], _View] = {}
        # (1)-(2): the whitened frames' autocorrelation gives the period candidates, and the
        # rotations whose lattice stands out (each one more view of the clip).
        self._lumas = list(lumas)
        self.frames = len(self._lumas)
        step = max(1, self.frames // _wm_detect.PERIOD_FRAMES)
        periods, angles = _wm_detect.estimate_lattice(
            self._lumas[::step][: _wm_detect.PERIOD_FRAMES]
        )
        # (3): the native scale and each candidate folded over a few frames (the scale steps
        # around a candidate only when a secret picks it); the chosen one over all frames.
        # Whitened once (step 1); the first of them is the first frame, which the keyed
        # scale search folds.
        picked = max(1, self.frames // _wm_detect.SELECT_FRAMES)
        sampled = self._lumas[::picked][: _wm_detect.SELECT_FRAMES]
        # Where each sampled frame sits in the clip (a full fold takes its whitened copy).
        self._sampled_at = {place * picked: place for place in range(len(sampled))}
        shape = self._lumas[0].shape
        self._views = [_View(None, [float(TILE), *periods], [])]
        for angle, period in angles:
            rotation = _wm_geometry.Rotation(angle, (shape[0], shape[1]))
            self._views.append(_View(rotation, [float(TILE), period], []))
        # A picture seen in perspective on a surround (a screen filmed): its outline.
        corners = _wm_geometry.outline(sampled)
        if corners is not None:
            # Its periods: the rectified picture's own lattice (its scale is the picture's).
            warp = _wm_geometry.Perspective(corners)
            lattice = _wm_detect.estimate_periods(
                [warp.luma(luma) for luma in self._lumas[::step][: _wm_detect.PERIOD_FRAMES]]
            )
            self._views.append(_View(warp, [float(TILE), *lattice], []))
        for view in self._views:
            view.sample = [view.white(luma) for luma in sampled]
            for period in view.candidates:
                self._quick_fold(view, period)

    @property
    def angles(self) -> list[float]:
        """The rotations read besides the clip as it is (degrees)."""
        return [
            v.rotation.angle for v in self._views if isinstance(v.rotation, _wm_geometry.Rotation)
        ]

    @property
    def outlines(self) -> list[np.ndarray]:
        """The corners of the pictures read in perspective (``_wm_geometry.outline``)."""
        return [
            v.rotation.corners
            for v in self._views
            if isinstance(v.rotation, _wm_geometry.Perspective)
        ]

    def _quick_fold(self, view: _View, period: float) -> _wm_detect.Fold:
        if period not in view.quick:
            view.quick[period] = _wm_detect.fold_white(view.sample, period)
        return view.quick[period]

    def _best(
        self, choices: Sequence[tuple[_View, float, bool]], secret: bytes, layout: Layout
    ) -> tuple[tuple[_View, float, bool], float]:
        """The choice with the best sync score on its quick fold, and that score."""
        spectrum = _wm_detect.sync_spectrum(render(layout.chips(None)))

        def z(choice: tuple[_View, float, bool]) -> float:
            view, period, mirror = choice
            fold = _wm_detect.mirrored(self._quick_fold(view, period), mirror)
            return _wm_detect.sync_z(fold, spectrum)

        scored = [(z(choice), index) for index, choice in enumerate(choices)]
        best, index = max(scored, key=lambda pair: pair[0])  # the first of equals, as max
        return choices[index], best

    def reading(self, secret: bytes, references: Sequence[int] | None = None) -> _wm_detect.Reading:
        """Steps (4)-(5) for one secret: the best hypothesis (view, scale, mirrored or not,
        by sync score), folded over every frame; when that is a rescaled one and no check
        value verifies there, the native scale too (a weak mark can lose the scale choice to
        a wrong candidate on 6 frames); when neither verifies, the scale the keyed search
        finds on the first frame of that view (a small re-encoded copy leaves the comb of
        step 2 too little of the mark to find its period). ``references``: the ones a
        ``trace`` may follow with; the keyed search then scores their pilots on the same
        folds, which that trace takes instead of folding the first frame again."""
        layout = Layout.from_secret(secret)
        choices = [
            (view, period, mirror)
            for view in self._views
            for period in view.candidates
            for mirror in (False, True)
        ]
        (view, period, mirror), z = self._best(choices, secret, layout)
        if period != TILE:  # refine: the scale steps around the chosen candidate
            steps = [period * (1 + d) for d in _wm_detect.SCALE_STEPS]
            (_, period, _), z = self._best([(view, p, mirror) for p in steps], secret, layout)
        readings = []
        decoded = list(dict.fromkeys([period, float(TILE)]))
        book = None if references is None else self._codebook(secret, references)

        def search() -> tuple[_View, float, bool] | None:
            """The keyed search: in the chosen view, in the perspective view when there
            is one (a rectified picture's scale is the picture's, which no candidate may
            hold), and in the best view of the keyed rotation search (``_turned_search``);
            the best sync score of those is decoded, one scale more either way
            (SCALES_DECODED), unless it is the chosen view's scale (None)."""
            searches = [
                (
                    v,
                    *_wm_detect.keyed_period(
                        v.sample[0], layout, self._grid(v, secret, layout, book), self._sizes(v)
                    ),
                )
                for v in [view, *(p for p in self._perspectives() if p is not view)]
            ]
            searches += self._turned_search(layout, book)
            searched, keyed, _, flipped = max(searches, key=lambda found: found[2])
            near = any(abs(keyed / p - 1) <= _wm_detect.SAME_SCALE for p in decoded)
            if searched is not view or not near or flipped != mirror:
                return searched, keyed, flipped
            return None

        # Where a trace may follow (references) and the quick fold's sync score says little
        # (an unmarked clip's), the keyed search runs first, so that its scale is folded in
        # the same pass over the frames as the other two (each frame whitened once). The
        # same readings either way; only the order of the work differs.
        early = book is not None and z < _wm_detect.threshold()
        keyed = search() if early else None
        extra = [keyed[1]] if keyed is not None and keyed[0] is view else []
        # Folded in one pass over the frames (whitened once): an unmarked clip reads them all.
        self._fold_full(view, [*decoded, *extra])
        for scale in decoded:
            readings.append(self._read_at(view, scale, mirror, secret, layout))
            if readings[-1].reference is not None:
                return readings[-1]
        keyed = keyed if early else search()
        if keyed is not None:
            searched, scale, flipped = keyed
            reading = self._read_at(searched, scale, flipped, secret, layout)
            if reading.reference is not None:
                return reading
        # Nothing decoded: the second hypothesis, a reference below 2^32 (``_zero_prefix``).
        zero = self._zero_prefix(view, secret, layout, book)
        return zero if zero is not None and zero.reference is not None else readings[0]

    def _zero_prefix(
        self, view: _View, secret: bytes, layout: Layout, book: _wm_trace.Codebook | None
    ) -> _wm_detect.Reading | None:
        """The reading's second hypothesis: the mark carries an audit index below 2^32, whose
        plain high half sends ZERO_BITS zeros, so the first ZERO_BITS · RATE coded bits are
        known as well as the sync chips (480 known chips instead of 224;
        ``_wm_trace.zero_template``). The scale of the chosen view and the keyed rotation
        search's best view are scored with those chips (on the folds the first hypothesis's
        keyed searches made: ``_grid``, ``_turned_search``), each refined on the whole first
        frame; the better is decoded once, its offsets from the known chips' correlation and
        its messages those that start with ZERO_BITS zeros (``_wm_detect.read``'s ``zeros``),
        when its z reaches ZERO_FLOOR (None when it does not). References of 2^32 and more are
        read by the first hypothesis only."""
        template = _wm_trace.zero_template(layout)
        places = []
        scores = view.zeros.get(secret)
        if scores is None:  # no keyed search ran in this view (``_grid`` keeps them)
            scores = _wm_detect.grid_scores(view.sample[0], template, shortlist=True)
        mirror, at = divmod(int(np.argmax(scores)), scores.shape[1])
        places.append(
            (view, *_wm_detect.refine(view.sample[0], template, at, bool(mirror)), bool(mirror))
        )
        found = self._turn_search(self._templates(layout, book))[-1]
        if found:
            angle, period, _ = found[0]
            turned = self._turned_view(angle, period)
            at = int(np.argmin(np.abs(_wm_detect.SEARCH_GRID - period)))
            places.append(
                (turned, *_wm_detect.refine(turned.sample[0], template, at, False), False)
            )
        chosen, period, z, flipped = max(places, key=lambda place: place[2])
        if z < ZERO_FLOOR:
            return None
        confidence: float | None = None
        if _wm_combine.BLOCKS:
            # The frame's parts weighted by the mark the known chips show in each
            # (``_wm_combine``), at the offset the equal-weight fold gives them; the
            # reported z stays that fold's, since the weights are fitted to the known chips
            # whose surface gives it.
            parts = _wm_combine.block_folds(self._whites(chosen), period)
            # Their sum is the view's full fold at that period (kept, as ``_fold_full`` does).
            chosen.full.setdefault(period, _wm_combine.whole(*parts, period))
            firsts, rests = (_wm_combine.mirrored_parts(p, flipped) for p in parts)
            plain = _wm_detect.first_weighted(_wm_combine.whole(firsts, rests, period))
            offset, confidence = _wm_combine.offset_of(plain, template)
            evidence = _wm_combine.combined(firsts, rests, template, offset, period)
        else:  # the equal-weight fold
            self._fold_full(chosen, [period])
            evidence = _wm_detect.first_weighted(_wm_detect.mirrored(chosen.full[period], flipped))
        reading = _wm_detect.read(
            evidence,
            secret,
            layout,
            template=template,
            zeros=_wm_payload.ZERO_BITS,
            peaks=ZERO_PEAKS,
            frame_subsets=ZERO_SUBSETS,
            list_size=ZERO_LIST,
        )
        return reading if confidence is None else replace(reading, z=confidence)

    @staticmethod
    def _templates(layout: Layout, book: _wm_trace.Codebook | None) -> list[np.ndarray]:
        """The keyed searches' templates: the sync chips, the pilots of ``book`` (when a trace
        may follow) and the zero-prefix hypothesis's known chips, last (one template when the
        pilots are those: a list of audit indices below 2^32)."""
        templates = [render(layout.chips(None))]
        if book is not None and len(book.issued):
            templates.append(book.template)
        templates.append(_wm_trace.zero_template(layout))
        return list({t.tobytes(): t for t in templates}.values())

    def trace(self, secret: bytes, references: Sequence[int], secrets: int = 1) -> _wm_trace.Trace:
        """Which of the issued ``references`` this secret's mark carries, if one stands out
        (``_wm_trace``: on the first frame and on the frames of the scale choice summed, over
        ``secrets`` keys' hypotheses), in every view of the clip."""
        book = self._codebook(secret, references)
        traces = [self._trace_views(self._views, secret, references, secrets, book)]
        if traces[0].reference is None and len(book.issued):
            # Nothing traced: the keyed rotation search's views (``_wm_turns``), if any.
            turned = self._turned(book)
            if turned:
                traces.append(self._trace_views(turned, secret, references, secrets, book))
        return max(traces, key=lambda t: (t.reference is not None, t.z))

    def _turned(self, book: _wm_trace.Codebook) -> list[_View]:
        """The views the keyed rotation search finds on the first frame for ``book``'s
        pilots, their sampled frames turned back and whitened."""
        found = self._turn_search([book.template])[0]
        return [self._turned_view(angle, period) for angle, period, _ in found]

    def _turn_search(
        self, templates: Sequence[np.ndarray]
    ) -> list[list[tuple[float, float, float]]]:
        """``_wm_turns.search`` of each template, once per clip: the templates not searched
        yet are searched together (the same folds)."""
        keys = [template.tobytes() for template in templates]
        missing = [(k, t) for k, t in zip(keys, templates, strict=True) if k not in self._turns]
        if missing:
            if self._centre is None:
                self._centre = _wm_turns.centre(self._lumas[0])
            found = _wm_turns.search_many(self._centre, [t for _, t in missing])
            self._turns.update(zip((k for k, _ in missing), found, strict=True))
        return [self._turns[k] for k in keys]

    def _turned_view(self, angle: float, period: float) -> _View:
        """The clip turned back by ``angle`` with ``period`` as its candidate, its sampled
        frames whitened as ``_wm_turns`` whitens (``_wm_detect.TURNED_BOX``); once per clip
        (the reading's and tracing's searches share it)."""
        if (angle, period) not in self._turned_views:
            shape = self._lumas[0].shape
            rotation = _wm_geometry.Rotation(angle, (shape[0], shape[1]))
            view = _View(rotation, [float(TILE), period], [], box=_wm_detect.TURNED_BOX)
            view.sample = [view.white(luma) for luma in self._sampled()]
            self._turned_views[(angle, period)] = view
        return self._turned_views[(angle, period)]

    def _turned_search(
        self, layout: Layout, book: _wm_trace.Codebook | None
    ) -> list[tuple[_View, float, float, bool]]:
        """The keyed rotation search's best view for the sync pattern (``_wm_turns``; with
        tracing's pilots searched on the same folds when a trace may follow), its period
        refined on the whole first frame as the keyed scale search's (``_wm_detect.refine``):
        (view, period, z, unmirrored), or nothing when it finds no view. A copy turned and
        shrunk and re-encoded leaves the autocorrelation no lattice to turn a view by, and
        the unturned keyed search no period (issue 19's rotated 2° + 0.75x + crf 28)."""
        sync = render(layout.chips(None))
        found = self._turn_search(self._templates(layout, book))[0]
        if not found:
            return []
        angle, period, _ = found[0]
        view = self._turned_view(angle, period)
        at = int(np.argmin(np.abs(_wm_detect.SEARCH_GRID - period)))
        refined, z = _wm_detect.refine(view.sample[0], sync, at, False)
        return [(view, refined, z, False)]

    def _sampled(self) -> list[np.ndarray]:
        at = sorted(self._sampled_at, key=self._sampled_at.__getitem__)
        return [self._lumas[index] for index in at]

    def _trace_views(
        self,
        views: Sequence[_View],
        secret: bytes,
        references: Sequence[int],
        secrets: int,
        book: _wm_trace.Codebook,
    ) -> _wm_trace.Trace:
        traces = []
        for v in views:
            # A rotated view: near the period its lattice shows (the clip and a perspective
            # view, whose scale nothing shows: the whole grid).
            rotated = isinstance(v.rotation, _wm_geometry.Rotation)
            period = v.candidates[1] if rotated else None
            pilots = v.pilots.get(self._key(secret, book))
            if pilots is not None and period is not None:
                pilots = pilots[:, _wm_trace.near_mask(period)]
                # A shortlisted search scored only part of it: the trace scores it all.
                pilots = pilots if np.isfinite(pilots).all() else None
            traces.append(
                _wm_trace.trace(
                    v.sample, secret, references, secrets, period, book=book, first_scores=pilots
                )
            )
        return max(traces, key=lambda t: (t.reference is not None, t.z))

    @staticmethod
    def _key(secret: bytes, book: _wm_trace.Codebook) -> tuple[bytes, bytes]:
        return secret, book.issued.tobytes()

    def _codebook(self, secret: bytes, references: Sequence[int]) -> _wm_trace.Codebook:
        """Tracing's step 1 for this key and list, once per clip (every view uses it)."""
        issued = np.unique(np.asarray(references, dtype=np.uint64))
        key = (secret, issued.tobytes())
        if key not in self._books:
            self._books[key] = _wm_trace.codebook(secret, issued.tolist())
        return self._books[key]

    def _grid(
        self, view: _View, secret: bytes, layout: Layout, book: _wm_trace.Codebook | None
    ) -> np.ndarray:
        """The keyed search's sync scores of the view's first frame over the whole grid,
        with the pilots of ``book`` scored on the same folds and kept for ``trace``, and the
        zero-prefix hypothesis's known chips kept for it (``_zero_prefix``)."""
        templates = self._templates(layout, book)
        scores = _wm_detect.grids_scores(view.sample[0], templates, shortlist=True)
        if book is not None and len(book.issued):
            view.pilots[self._key(book.secret, book)] = scores[1]
        view.zeros[secret] = scores[-1]
        return np.asarray(scores[0])

    @staticmethod
    def _sizes(view: _View) -> list[float]:
        """A perspective view's period if its picture has the shape of a size the gate marks."""
        rotation = view.rotation
        return rotation.periods() if isinstance(rotation, _wm_geometry.Perspective) else []

    def _perspectives(self) -> list[_View]:
        return [v for v in self._views if isinstance(v.rotation, _wm_geometry.Perspective)]

    def _whites(self, view: _View) -> Iterator[np.ndarray]:
        """Every frame of the view whitened (the sampled ones as they were); each of the
        others is whitened into the same two buffers, so a consumer must be done with a
        frame before it asks for the next (the folds are)."""
        buffers: tuple[np.ndarray, np.ndarray] | None = None
        for index, luma in enumerate(self._lumas):
            if index in self._sampled_at:
                yield view.sample[self._sampled_at[index]]
            else:
                if buffers is None:
                    buffers = _wm_detect.scratch(view.sample[0].shape)
                yield view.white(luma, buffers)

    def _fold_full(self, view: _View, periods: Sequence[float]) -> None:
        """Fold every frame of the view at each of ``periods`` not folded yet."""
        missing = list(dict.fromkeys(period for period in periods if period not in view.full))
        if missing:
            folds = _wm_detect.fold_many(self._whites(view), missing)
            view.full.update(zip(missing, folds, strict=True))

    def _read_at(
        self, view: _View, period: float, mirror: bool, secret: bytes, layout: Layout
    ) -> _wm_detect.Reading:
        self._fold_full(view, [period])
        return _wm_detect.read(_wm_detect.mirrored(view.full[period], mirror), secret, layout)


def decide(reading: _wm_detect.Reading, secrets: int, frames: int) -> Detection:
    """Present when the payload decodes with a matching check value (at one of the offsets
    tried); the confidence adds the sync score's bound, over ``secrets`` keys tried."""
    present = reading.reference is not None
    sync = min(0.0, math.log10(secrets) + _wm_detect.log10_bound(reading.z))
    check = check_log10_bound(secrets) if present else 0.0
    method = "decoded" if present else None
    return Detection(present, reading.reference, 0.0 - sync - check, frames, method)


def _examine(
    lumas: Sequence[np.ndarray], secrets: Sequence[bytes], references: Sequence[int] | None
) -> Detection:
    evidence = Evidence(lumas)
    detections = [
        decide(evidence.reading(s, references), len(secrets), evidence.frames) for s in secrets
    ]
    present = [d for d in detections if d.present]
    if present:
        return present[0]
    absent = max(detections, key=lambda d: d.confidence)
    if not references:
        return absent
    # No payload decoded: trace the clip to one of the issued references, if one stands out.
    traces = [evidence.trace(s, references, len(secrets)) for s in secrets]
    best = max(traces, key=lambda t: t.z)
    if best.reference is None:
        return replace(absent, candidates=best.candidates)
    confidence = -_wm_trace.log10_bound(best.z, best.candidates, len(secrets))
    return Detection(True, best.reference, confidence, evidence.frames, "traced", best.candidates)


def detect(
    frames: Iterable[np.ndarray],
    secret: bytes,
    *,
    max_frames: int = 50,
    references: Sequence[int] | None = None,
) -> Detection:
    """Whether ``secret``'s watermark is in these HxWx3 uint8 RGB frames (at most max_frames).

    ``references``: the references issued under the secret, to trace the clip to when its
    payload cannot be decoded (``_wm_trace``); without them the reading is blind."""
    return _examine(_lumas(frames, max_frames), [secret], references)


def detect_frames(
    frames: Iterable[np.ndarray],
    secrets: Sequence[bytes],
    *,
    max_frames: int = 50,
    references: Sequence[int] | None = None,
) -> Detection:
    """``detect`` over several secrets (current first), as ``detect_file`` reads a file: for
    frames the caller decoded and sampled itself (a consent capture, across its whole length)."""
    if not secrets:
        raise ValueError("no watermark secrets to try")
    return _examine(_lumas(frames, max_frames), list(secrets), references)


def _decoded(path: pathlib.Path, max_frames: int) -> list[np.ndarray]:
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UnreadableVideo(f"{path.name} has no video stream")
            frames = (f.to_ndarray(format="rgb24") for f in container.decode(video=0))
            return _lumas(frames, max_frames)
    except (av.FFmpegError, OSError, InvalidFrame) as exc:
        raise UnreadableVideo(f"cannot read video from {path.name}: {exc}") from exc


def detect_file(
    path: pathlib.Path,
    secrets: Sequence[bytes],
    *,
    max_frames: int = 50,
    references: Sequence[int] | None = None,
) -> Detection:
    """Decode a video file with PyAV and look for the watermark of each secret (current first),
    tracing it to one of ``references`` when no payload decodes (as ``detect``)."""
    if not secrets:
        raise ValueError("no watermark secrets to try")
    return _examine(_decoded(path, max_frames), list(secrets), references)
