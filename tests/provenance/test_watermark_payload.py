from __future__ import annotations

import math

import numpy as np
import pytest

from lpm_guard.provenance import _wm_detect, _wm_payload
from lpm_guard.provenance._wm_pattern import PAYLOAD_CHIPS

SECRET = b"s" * 32
SMALL = 0x89AB_CDEF  # an audit index below 2^32: the reference's high half is zeros


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


REFERENCE = 0x0123_4567_89AB_CDEF


def _noisy(seed: int, signal: float = 0.6) -> np.ndarray:
    """The reference's coded bits at ``signal`` per bit in unit Gaussian noise (seeded)."""
    signs = _wm_payload.encode(SECRET, REFERENCE) * 2.0 - 1.0
    return signal * signs + np.random.default_rng(seed).normal(size=signs.shape)


def _metric(message: np.ndarray, soft: np.ndarray) -> float:
    return float(np.dot(_wm_payload.convolve(message) * 2.0 - 1.0, soft))


def test_the_list_recovers_a_message_the_viterbi_path_misses() -> None:
    # Seed 1 of this noise (bit SNR 0.6, about the plain decoder's limit): the likeliest
    # message fails its check value, the second likeliest is the one sent.
    soft = _noisy(1)
    assert _wm_payload.decode(SECRET, soft) is None
    messages, _ = _wm_payload.list_viterbi(soft[None], _wm_payload.LIST_SIZE)
    verified = [_wm_payload.reference_of(SECRET, m) for m in messages[0]]
    assert verified[0] is None
    assert REFERENCE in verified
    assert [r for r in verified if r is not None] == [REFERENCE]
    assert np.array_equal(
        messages[0, verified.index(REFERENCE)], _wm_payload.message_bits(SECRET, REFERENCE)
    )


def test_the_list_is_distinct_ordered_and_starts_with_the_viterbi_path() -> None:
    soft = np.stack([_noisy(seed, 0.4) for seed in range(6)])
    size = 8
    messages, metrics = _wm_payload.list_viterbi(soft, size)
    assert messages.shape == (6, size, _wm_payload.MESSAGE_BITS)
    assert np.array_equal(messages[:, 0], _wm_payload.viterbi(soft))
    for row in range(6):
        assert len({m.tobytes() for m in messages[row]}) == size
        # The metrics are the candidates' own correlations with the soft bits, best first.
        own = [_metric(m, soft[row]) for m in messages[row]]
        assert np.allclose(own, metrics[row], rtol=1e-5)
        assert np.all(np.diff(metrics[row]) <= 0)


def test_the_list_is_the_best_paths_found_by_brute_force() -> None:
    # Only message bits 40-51 are in doubt: the coded bits they touch (steps 40-59) are
    # noisy, every other coded bit firmly says what was sent. Any message that differs
    # outside the window loses at least 20 per coded bit it changes, so the best paths are
    # among the 4,096 that differ only inside it, which are scored one by one here.
    sent = _wm_payload.message_bits(SECRET, REFERENCE)
    signs = _wm_payload.convolve(sent) * 2.0 - 1.0
    soft = 20.0 * signs
    doubt = slice(40 * _wm_payload.RATE, 60 * _wm_payload.RATE)
    soft[doubt] = 0.3 * signs[doubt] + np.random.default_rng(5).normal(size=80)
    patterns = np.unpackbits(np.arange(4096, dtype=">u2").view(np.uint8).reshape(-1, 2), axis=1)
    every = np.repeat(sent[None], 4096, axis=0)
    every[:, 40:52] = patterns[:, 4:]
    scores = np.array([_metric(m, soft) for m in every])
    size = 16
    best = np.argsort(-scores, kind="stable")[:size]
    messages, metrics = _wm_payload.list_viterbi(soft[None], size)
    assert np.array_equal(messages[0], every[best])
    assert np.allclose(metrics[0], scores[best], rtol=1e-6)


def test_pure_noise_never_verifies_under_any_key() -> None:
    rng = np.random.default_rng(7)
    soft = rng.normal(size=(144, _wm_payload.CODED_BITS))
    messages, _ = _wm_payload.list_viterbi(soft, _wm_payload.LIST_SIZE)
    for secret in (SECRET, b"t" * 32):
        assert all(_wm_payload.reference_of(secret, m) is None for row in messages for m in row)


def test_a_listed_message_of_another_key_does_not_verify() -> None:
    soft = _noisy(1)
    messages, _ = _wm_payload.list_viterbi(soft[None], _wm_payload.LIST_SIZE)
    assert all(_wm_payload.reference_of(b"t" * 32, m) is None for m in messages[0])


def test_list_size_is_checked() -> None:
    with pytest.raises(ValueError, match="list size"):
        _wm_payload.list_viterbi(np.zeros((1, _wm_payload.CODED_BITS)), 0)


def _parallel_list(soft: np.ndarray, size: int) -> np.ndarray:
    """The parallel list Viterbi algorithm (every state keeps ``size`` paths, one
    ``survivors`` step per trellis step): the messages it lists, best first."""
    batch = soft.astype(np.float32).reshape(len(soft), _wm_payload.STEPS, _wm_payload.RATE)
    rows, states = len(soft), 1 << (_wm_payload.CONSTRAINT - 1)
    branches = _wm_payload._branches(batch)  # (step, row, high, low, j)
    metric = np.full((rows, states, size), -np.inf, np.float32)
    metric[:, 0, 0] = 0
    choices = []
    for step in range(_wm_payload.STEPS):
        # Into state high·half + low from state 2·low + j: both predecessors' lists.
        before = metric.reshape(rows, 1, states // 2, 2, size)
        candidates = before + branches[step][..., None]
        lists = candidates.reshape(rows, states, 2 * size)
        metric, code = _wm_payload.survivors(lists, size)
        choices.append(code)
    state = np.zeros((rows, size), np.int64)
    rank = np.broadcast_to(np.arange(size), (rows, size))
    bits = np.zeros((rows, size, _wm_payload.STEPS), np.uint8)
    every = np.arange(rows)[:, None]
    for step in range(_wm_payload.STEPS - 1, -1, -1):
        bits[:, :, step] = state >> (_wm_payload.CONSTRAINT - 2)
        code = choices[step][every, state, rank]
        state, rank = _wm_payload._PREDS[code // size, state], code % size
    return bits[:, :, : _wm_payload.MESSAGE_BITS]


@pytest.mark.parametrize("snr", [0.0, 0.6])
def test_the_list_is_what_the_parallel_list_viterbi_keeps(snr: float) -> None:
    # The decoder takes its list as sidetracks from the tree of best paths; every state
    # keeping its ``size`` best paths gives the same list, rank by rank, on noisy rows.
    rng = np.random.default_rng(int(snr * 10))
    sent = rng.integers(0, 2, (12, _wm_payload.MESSAGE_BITS))
    signs = np.stack([_wm_payload.convolve(m) * 2.0 - 1.0 for m in sent])
    soft = snr * signs + rng.normal(size=signs.shape)
    for size in (_wm_payload.LIST_SIZE, 12):
        messages, _ = _wm_payload.list_viterbi(soft, size)
        assert np.array_equal(messages, _parallel_list(soft, size))


@pytest.mark.parametrize("size", [1, 6, 32])
def test_the_list_step_keeps_what_sorting_every_candidate_keeps(size: int) -> None:
    # survivors merges the two predecessors' sorted lists; the reference here sorts all 2·size
    # candidates of each state by their distance below the row's best (in float32, as the
    # decoder keeps them), then predecessor and rank, on metrics with ties (rounded), paths
    # that cannot exist yet (-inf) and near-ties that the distance rounds to ties.
    rng = np.random.default_rng(size)
    lists = np.round(rng.normal(size=(5, 64, 2, size)) * 4) / 4
    lists[:, :20, :, size // 2 :] = -np.inf
    lists[:, 30] = 1.0 + np.float32(1e-7) * rng.integers(0, 2, size=(5, 2, size))
    lists = -np.sort(-lists, axis=-1)  # each predecessor's list best first
    candidates = lists.reshape(5, 64, 2 * size).astype(np.float32)
    metrics, codes = _wm_payload.survivors(candidates, size)
    below = candidates.max(axis=(1, 2), keepdims=True) - candidates
    order = np.lexsort((np.arange(2 * size) + np.zeros_like(below), below), axis=-1)
    kept = order[..., :size]
    assert np.array_equal(codes, kept)
    finite = np.isfinite(np.take_along_axis(candidates, kept, axis=-1))
    assert np.allclose(metrics[finite], np.take_along_axis(candidates, kept, axis=-1)[finite])
    assert np.all(np.isneginf(metrics[~finite]))


def _small_noisy(seed: int) -> np.ndarray:
    """An audit index below 2^32's soft bits at chip SNR 0.45 (each coded bit's one or two
    chips summed; the 512² combined attack's median is 0.46)."""
    chips = np.bincount(np.arange(PAYLOAD_CHIPS) % _wm_payload.CODED_BITS)
    signs = _wm_payload.encode(SECRET, SMALL) * 2.0 - 1.0
    noise = np.random.default_rng(seed).normal(size=signs.shape)
    return np.asarray(signs * chips * 0.45 + noise * np.sqrt(chips))


def test_a_small_reference_decodes_with_its_zero_high_half_where_the_plain_list_misses() -> None:
    # Seed 0 of this noise: none of the 6 likeliest messages is the one sent; the likeliest
    # of those whose first 32 bits are zeros (the reference's plain high half) is.
    soft = _small_noisy(0)
    plain, _ = _wm_payload.list_viterbi(soft[None], _wm_payload.LIST_SIZE)
    assert SMALL not in [_wm_payload.reference_of(SECRET, m) for m in plain[0]]
    zero = _wm_payload.ZERO_BITS
    assert zero == 32
    assert _wm_payload.reference_of(SECRET, _wm_payload.viterbi(soft, zero)) == SMALL
    # The constrained decoders are the plain ones on a trellis that never enters a 1 before
    # bit 32: the same paths as soft bits that firmly say 0 for the 128 coded bits there.
    firm = soft.copy()
    firm[: zero * _wm_payload.RATE] = -100.0
    messages, _ = _wm_payload.list_viterbi(soft[None], 3, zero)
    assert not messages[0, :, :zero].any()
    assert np.array_equal(messages, _wm_payload.list_viterbi(firm[None], 3)[0])
    assert np.array_equal(_wm_payload.viterbi(soft, zero), _wm_payload.viterbi(firm))
    # Another key's check value does not verify any of them.
    assert all(_wm_payload.reference_of(b"t" * 32, m) is None for m in messages[0])
