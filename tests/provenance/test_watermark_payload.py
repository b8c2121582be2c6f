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


def test_the_code_is_the_convolution_of_the_message() -> None:
    # Rate 1/4: four coded bits per trellis step, the first step sees only the first bit.
    message = _wm_payload.message_bits(SECRET, 5)
    assert message.shape == (_wm_payload.MESSAGE_BITS,)
    coded = _wm_payload.convolve(message)
    assert coded.shape == (_wm_payload.CODED_BITS,) == (416,)
    first = message[0]
    assert list(coded[:4]) == [first * ((g >> 8) & 1) for g in _wm_payload.GENERATORS]
    # Linear over GF(2): the code of a sum is the sum of the codes.
    other = _wm_payload.message_bits(SECRET, 6)
    both = _wm_payload.convolve(message ^ other)
    assert np.array_equal(both, coded ^ _wm_payload.convolve(other))
    # A single 1 gives the impulse response of weight 24 (the code's free distance).
    impulse = np.zeros(_wm_payload.MESSAGE_BITS, np.uint8)
    impulse[10] = 1
    assert int(_wm_payload.convolve(impulse).sum()) == 24


def test_corrects_many_wrong_hard_bits() -> None:
    bits = _wm_payload.encode(SECRET, 42).copy()
    rng = np.random.default_rng(0)
    wrong = rng.choice(len(bits), 30, replace=False)  # 7% of the coded bits, spread out
    bits[wrong] ^= 1
    assert _wm_payload.decode(SECRET, _soft(bits)) == 42


def test_soft_values_rescue_more_errors_when_they_are_the_weak_ones() -> None:
    bits = _wm_payload.encode(SECRET, 42).copy()
    confidence = np.full(len(bits), 5.0)
    # Eight adjacent steps wrong on every output: beyond hard decoding...
    bits[100:132] ^= 1
    assert _wm_payload.decode(SECRET, _soft(bits, confidence)) is None
    # ...but fine when the decoder is told they are unreliable.
    confidence[100:132] = 0.1
    assert _wm_payload.decode(SECRET, _soft(bits, confidence)) == 42


def test_decodes_noisy_soft_bits_in_a_batch() -> None:
    rng = np.random.default_rng(1)
    references = [int(r) for r in rng.integers(0, 2**63, 8)]
    coded = np.stack([_wm_payload.encode(SECRET, r) for r in references])
    soft = (coded * 2.0 - 1.0) + rng.normal(0, 0.9, coded.shape)  # about 13% hard errors
    messages = _wm_payload.viterbi(soft)
    assert messages.shape == (8, _wm_payload.MESSAGE_BITS)
    assert [_wm_payload.reference_of(SECRET, m) for m in messages] == references


def test_other_secret_or_forged_check_fails() -> None:
    bits = _wm_payload.encode(SECRET, 7)
    assert _wm_payload.decode(b"t" * 32, _soft(bits)) is None
    message = np.unpackbits(
        np.frombuffer((8).to_bytes(8, "big") + _wm_payload.check_value(SECRET, 7), np.uint8)
    )
    assert _wm_payload.decode(SECRET, _soft(_wm_payload.convolve(message))) is None


def test_threshold_meets_the_false_alarm_bound() -> None:
    t = _wm_detect.threshold()
    assert _wm_detect.log10_bound(t) == pytest.approx(math.log10(_wm_detect.FALSE_ALARM_BOUND))
    assert _wm_detect.threshold(3) > t
    assert _wm_detect.tail_log10(8.0) == pytest.approx(math.log10(6.22096e-16), abs=1e-4)
