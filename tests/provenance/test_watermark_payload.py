from __future__ import annotations

import math

import numpy as np
import pytest

from lpm_guard.provenance import _wm_detect, _wm_payload

SECRET = b"s" * 32


def _soft(bits: np.ndarray, confidence: np.ndarray | None = None) -> np.ndarray:
    strength = np.ones(len(bits)) if confidence is None else confidence
    return (bits.astype(float) * 2 - 1) * strength


@pytest.mark.parametrize("reference", [0, 1, 0xFFFF_FFFF_FFFF_FFFF, 0x0123_4567_89AB_CDEF])
def test_round_trip(reference: int) -> None:
    bits = _wm_payload.encode(SECRET, reference)
    assert bits.shape == (_wm_payload.CODED_BITS,)
    assert _wm_payload.decode(SECRET, _soft(bits)) == reference


def test_corrects_four_wrong_bytes() -> None:
    bits = _wm_payload.encode(SECRET, 42).copy()
    for byte in (0, 5, 11, 19):
        bits[byte * 8 + 3] ^= 1
    assert _wm_payload.decode(SECRET, _soft(bits)) == 42


def test_erasures_rescue_more_wrong_bytes_when_they_are_the_weak_ones() -> None:
    bits = _wm_payload.encode(SECRET, 42).copy()
    confidence = np.full(len(bits), 5.0)
    for byte in (1, 3, 7, 9, 12, 15):  # six wrong bytes: beyond errors-only decoding
        bits[byte * 8] ^= 1
        confidence[byte * 8] = 0.1
    assert _wm_payload.decode(SECRET, _soft(bits, confidence)) == 42
    assert _wm_payload.decode(SECRET, _soft(bits, np.full(len(bits), 5.0))) is None


def test_other_secret_or_forged_check_fails() -> None:
    bits = _wm_payload.encode(SECRET, 7)
    assert _wm_payload.decode(b"t" * 32, _soft(bits)) is None
    data = (8).to_bytes(8, "big") + _wm_payload.check_value(SECRET, 7)
    forged = np.unpackbits(np.frombuffer(bytes(_wm_payload._CODEC.encode(data)), np.uint8))
    assert _wm_payload.decode(SECRET, _soft(forged)) is None


def test_threshold_meets_the_false_alarm_bound() -> None:
    t = _wm_detect.threshold()
    assert _wm_detect.log10_bound(t) == pytest.approx(math.log10(_wm_detect.FALSE_ALARM_BOUND))
    assert _wm_detect.threshold(3) > t
    assert _wm_detect.tail_log10(8.0) == pytest.approx(math.log10(6.22096e-16), abs=1e-4)
