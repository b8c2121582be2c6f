"""Tracing a clip to one of the issued references when its payload no longer decodes: the
codebook matches the encoder, the bound is what the threshold says, and on the issue's hardest
attack (crf 28 after 0.5x and an 80% crop) a 640x360 clip that blind decoding misses is traced
to its reference, while an unmarked clip, another key's clip and a list without the true
reference trace to nothing."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from lpm_guard.auditing.services import AuditService
from lpm_guard.auditing.tags import AuditTag
from lpm_guard.provenance import _wm_payload as payload
from lpm_guard.provenance import _wm_trace
from lpm_guard.provenance._wm_pattern import Layout
from lpm_guard.provenance.services import Verifier, verify_file
from lpm_guard.provenance.trust import TrustAnchors
from lpm_guard.provenance.watermark import Evidence, Watermarker, detect, detect_file
from lpm_guard.runtime import Runtime

from . import media
from .test_verify_watermark import encode

SECRET = bytes(range(32))
OTHER = bytes(range(1, 33))
REFERENCE = 1_234
ISSUED = range(3_000)  # audit indices 0..2999: the reference and its neighbours
COMBINED = "crf 28 + 0.5x + crop 80%"


@functools.cache
def _clip() -> tuple[np.ndarray, ...]:
    return tuple(media.talking_clip("astronaut", 640, 360))


@functools.cache
def _attacked(secret: bytes | None) -> tuple[np.ndarray, ...]:
    frames = list(_clip())
    if secret is not None:
        marker = Watermarker(secret, REFERENCE, width=640, height=360)
        frames = [marker.mark(rgb) for rgb in frames]
    return tuple(media.ATTACKS[COMBINED](frames))


def test_codewords_are_the_encoders() -> None:
    references = [0, 1, 2, REFERENCE, 0xFFFF_FFFF, (1 << 64) - 1]
    coded = _wm_trace.codewords(SECRET, np.array(references, np.uint64))
    for row, reference in zip(coded, references, strict=True):
        assert np.array_equal(row, payload.encode(SECRET, reference))


def test_the_threshold_is_the_bound_it_claims() -> None:
    for candidates, secrets in [(1, 1), (3_000, 1), (1_000_000, 3)]:
        t = _wm_trace.threshold(candidates, secrets)
        hypotheses = _wm_trace.hypotheses(candidates, secrets)
        assert hypotheses * math.exp(-t * t / 2) == pytest.approx(_wm_trace.TRACE_ALARM)
        assert _wm_trace.log10_bound(t, candidates, secrets) == pytest.approx(
            math.log10(_wm_trace.TRACE_ALARM)
        )
    # More candidates or keys ask for a higher score.
    assert _wm_trace.threshold(10_000) > _wm_trace.threshold(100)
    assert _wm_trace.threshold(100, 3) > _wm_trace.threshold(100, 1)


def test_scores_without_the_mark_are_unit_rademacher_sums() -> None:
    # An unmarked frame's chip sums scored against many candidates at one alignment: each score
    # is a sum of unit-length weights times random signs, so mean 0 and variance 1.
    rng = np.random.default_rng(3)
    chips = rng.normal(size=1024) * rng.uniform(0.1, 3, size=1024)
    chips /= np.linalg.norm(chips)
    scores = []
    for reference in range(2_000):
        layout_secret = reference.to_bytes(32, "big")  # a fresh key: fresh chip signs
        layout = Layout.from_secret(layout_secret)
        coded = _wm_trace.codewords(layout_secret, np.array([REFERENCE], np.uint64))
        template = layout.chips(coded[0]).reshape(-1)
        scores.append(float(chips @ template))
    assert abs(np.mean(scores)) < 0.1
    assert 0.9 < np.std(scores) < 1.1
    assert max(scores) < 5  # exp(-25/2) * 2000 < 1e-2


@pytest.mark.slow
def test_the_combined_attack_is_traced_where_decoding_fails() -> None:
    attacked = _attacked(SECRET)
    assert not detect(attacked, SECRET).present  # the payload cannot be decoded blind
    found = detect(attacked, SECRET, references=ISSUED)
    assert found.present and found.method == "traced"
    assert found.reference == REFERENCE and found.candidates == len(ISSUED)
    assert found.confidence > 6  # beyond the 1e-6 per clip goal


@pytest.mark.slow
def test_a_clip_whose_first_frames_were_replaced_is_traced_from_the_later_ones() -> None:
    # Four unmarked frames ahead of the marked ones, then H.264 crf 28: the I-frame carries no
    # mark and the P-frames too little to decode; the sum of the frames read still traces.
    marker = Watermarker(SECRET, REFERENCE, width=640, height=360)
    frames = list(_clip()[:4]) + [marker.mark(rgb) for rgb in _clip()[4:]]
    attacked = media.ATTACKS["h264 crf 28"](frames)
    assert not detect(attacked, SECRET).present
    found = detect(attacked, SECRET, references=ISSUED)
    assert found.present and found.method == "traced" and found.reference == REFERENCE


@pytest.mark.slow
def test_a_list_without_the_true_reference_traces_to_nothing() -> None:
    # Its neighbours score high too (they share most chips), but none stands out.
    without = [r for r in ISSUED if r != REFERENCE]
    found = detect(_attacked(SECRET), SECRET, references=without)
    assert not found.present and found.reference is None


@pytest.mark.slow
@pytest.mark.parametrize("secret", [None, OTHER], ids=["unmarked", "another key"])
def test_no_trace_without_this_keys_mark(secret: bytes | None) -> None:
    found = detect(_attacked(secret), SECRET, references=ISSUED)
    assert not found.present and found.method is None
    assert found.candidates == len(ISSUED)


@pytest.mark.slow
def test_verify_traces_a_small_reencoded_copy_to_its_audit_entry(
    runtime: Runtime, tmp_path: Path
) -> None:
    # The audit log's allowed generation requests are the issued references.
    audit = AuditService(runtime.audit)
    receipts = [
        audit.record(AuditTag.GENERATION_REQUEST_ALLOW, f"researcher:{i}") for i in range(40)
    ]
    audit.record("test:other:thing", "system:after")
    runtime.audit.checkpoint(force=True)
    reference = receipts[17].index
    marker = Watermarker(SECRET, reference, width=640, height=360)
    small = media.crop(media.scale([marker.mark(rgb) for rgb in _clip()], 0.5), 0.8)
    copy = encode(small, tmp_path / "small.mp4", crf=28)
    assert not detect_file(copy, [SECRET]).present
    verifier = Verifier(TrustAnchors.from_keys(runtime.keys), (SECRET,), audit, detect_file)
    report = verify_file(copy, verifier)
    assert report.watermark.status == "present" and report.watermark.method == "traced"
    assert report.watermark.reference == f"{reference:016x}"
    assert report.watermark.candidates == 40
    assert report.audit is not None and report.audit.source == "watermark"
    assert report.audit.status == "included" and report.audit.index == reference
    assert report.verdict == "traced"


def test_a_reading_with_references_reads_what_a_blind_one_reads() -> None:
    # With references (a trace may follow) a weak sync score makes the reading run its keyed
    # search before folding every frame, so that the search's scale is folded in the same
    # pass: the same reading as the blind one, which searches last. The combined attack's
    # three frames: no payload decodes, the search's scale is read too.
    frames = [cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) for rgb in _attacked(SECRET)[:3]]
    blind = Evidence(frames).reading(SECRET)
    evidence = Evidence(frames)
    traced = evidence.reading(SECRET, ISSUED)
    assert any(view.pilots for view in evidence._views)  # the search ran with the pilots
    # Three scales read, and the zero-prefix hypothesis's (ISSUED are audit indices: its
    # known chips are the pilots), folded in the view it chose.
    folds = [len(view.full) for view in [*evidence._views, *evidence._turned_views.values()]]
    assert sum(folds) == 4
    assert (traced.reference, traced.z, traced.offset) == (blind.reference, blind.z, blind.offset)
    assert np.array_equal(traced.soft_bits, blind.soft_bits)


def test_a_trace_after_a_reading_is_the_trace_alone() -> None:
    # The reading's keyed search scores tracing's pilots on its own folds of the first frame
    # and the trace takes those: the same trace as one that folds by itself. Three frames of
    # the marked clip under the combined attack reach the keyed search (the payload does not
    # decode).
    frames = [cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) for rgb in _attacked(SECRET)[:3]]
    alone = Evidence(frames).trace(SECRET, ISSUED)
    evidence = Evidence(frames)
    assert evidence.reading(SECRET, ISSUED).reference is None
    assert any(view.pilots for view in evidence._views)
    after = evidence.trace(SECRET, ISSUED)
    assert (after.reference, after.z, after.runner_up, after.period) == (
        alone.reference,
        alone.z,
        alone.runner_up,
        alone.period,
    )
