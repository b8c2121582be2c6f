"""The watermark's payload: a 64-bit reference and a keyed check value, convolutionally coded.

Message (96 bits, most significant bit of each byte first)::

    reference (8 bytes, big-endian) | check (4 bytes)

``check`` is the first 4 bytes of HMAC-SHA256(secret, CHECK_LABEL || reference): without the
secret a forger cannot make a reference read as present (2^-32 per decoding attempt).

The message is protected by a rate-1/4 convolutional code of constraint length 9 (generators
463, 535, 733, 745 octal, free distance 24; Larsen 1973), terminated with 8 zero bits: 104
trellis steps, CODED_BITS = 416 coded bits. The detector hands the decoder *soft* values (each
coded bit's summed chip correlations) and the Viterbi algorithm picks the most likely message
under Gaussian noise. Measured on simulated soft bits with the same total energy, it recovers
the payload at about 3.5 dB less signal than the first version's Reed–Solomon code over bytes
with 5-fold repetition (docs/watermark.md). The check value also serves as the CRC of
CRC-aided list decoding: ``list_viterbi`` lists the LIST_SIZE likeliest messages and the
detector takes the first whose check value verifies (about 0.6 dB less signal for 90 % exact
payloads, 1 dB for 99 %, at LIST_SIZE times the check-value attempts; docs/watermark-list.md).
No well-kept Python library decodes soft-input convolutional codes in a batch over many
alignments, or into a list, so the coder and both decoders (vectorised over states and over
candidates) are written here.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

import numpy as np

REFERENCE_BITS = 64
CHECK_BYTES = 4
MESSAGE_BITS = REFERENCE_BITS + CHECK_BYTES * 8
CONSTRAINT = 9
GENERATORS = (0o463, 0o535, 0o733, 0o745)
RATE = len(GENERATORS)
STEPS = MESSAGE_BITS + CONSTRAINT - 1
CODED_BITS = STEPS * RATE
CHECK_LABEL = b"lpm-guard/watermark/v3/check"
# The reference's low MASKED_BYTES are sent XORed with a hash of the check value, so that two
# references next to each other (audit indices n and n+1) differ in about half those bits and
# their codewords are far apart; the high bytes stay plain, zeros for every index below 2^32, which
# tracing uses as known chips (_wm_trace).
MASK_LABEL = b"lpm-guard/watermark/v3/mask"
MASKED_BYTES = 4
# The message bits a small reference (an audit index below 2^32) sends as zeros: its plain high
# half. Blind reading tries them as known when the unconstrained reading finds nothing
# (``viterbi``'s and ``list_viterbi``'s ``zeros``; docs/watermark-geometry.md, item 8). From
# the zero start state, ZERO_BITS zero inputs code to ZERO_BITS · RATE zero coded bits.
ZERO_BITS = REFERENCE_BITS - MASKED_BYTES * 8
# Messages listed per decoding (``list_viterbi``): the detector tries each one's check value,
# so each is one more 2^-32 chance of a false match (docs/watermark-list.md).
LIST_SIZE = 6

_STATES = 1 << (CONSTRAINT - 1)


def _parity(values: np.ndarray) -> np.ndarray:
    """The parity (0/1) of each non-negative integer's bits."""
    bits = np.unpackbits(values.astype(">u4").view(np.uint8).reshape(-1, 4), axis=1)
    return np.asarray(bits.sum(axis=1) & 1, dtype=np.uint8)


def _trellis() -> tuple[np.ndarray, np.ndarray]:
    """For each state t (the last CONSTRAINT-1 inputs, newest in the top bit): its two
    predecessor states, and the ±1 outputs of the transitions from them into t."""
    target = np.arange(_STATES)
    newest = target >> (CONSTRAINT - 2)  # the input bit that leads into t
    preds = np.stack([((target << 1) & (_STATES - 1)) | j for j in (0, 1)])  # (2, S)
    signs = np.zeros((2, _STATES, RATE), np.float32)
    for j in (0, 1):
        register = (newest << (CONSTRAINT - 1)) | preds[j]
        for r, generator in enumerate(GENERATORS):
            signs[j, :, r] = _parity(register & generator).astype(np.float32) * 2 - 1
    return preds, signs


_PREDS, _SIGNS = _trellis()
# A branch's metric is the soft bits of its step times its RATE output signs, and there are only
# 2^RATE sign patterns: each row's pattern metrics are one small matrix product, and the
# branches (as butterflies, ``_branches``) pick theirs from them (an einsum over every branch
# cost 6 times as much).
_PATTERNS = np.array(
    [[1.0 if (p >> (RATE - 1 - r)) & 1 else -1.0 for r in range(RATE)] for p in range(1 << RATE)],
    np.float32,
)
_PATTERN_OF = (
    ((_SIGNS > 0) * (1 << np.arange(RATE - 1, -1, -1)))
    .sum(axis=2)  # (2, S): pattern index
    .transpose(1, 0)  # (S, 2): target state s = high·half + low, then j
    .reshape(2, _STATES // 2, 2)
)


def _branches(batch: np.ndarray) -> np.ndarray:
    """The branch metrics of (rows, STEPS, RATE) soft bits as (STEPS, rows, high, low, j):
    the transition from state 2·low + j into state high·half + low."""
    # In float64, each metric is the exact sum, rounded once to float32 (whatever BLAS's order).
    patterns = batch.astype(np.float64) @ _PATTERNS.T.astype(np.float64)
    patterns = np.ascontiguousarray(patterns.transpose(1, 0, 2), np.float32)
    return np.asarray(np.take(patterns, _PATTERN_OF, axis=-1))


def check_value(secret: bytes, reference: int) -> bytes:
    message = CHECK_LABEL + reference.to_bytes(REFERENCE_BITS // 8, "big")
    return hmac.digest(secret, message, "sha256")[:CHECK_BYTES]


def _mask(check: bytes) -> bytes:
    return hashlib.sha256(MASK_LABEL + check).digest()[:MASKED_BYTES]


def messages(secret: bytes, references: Sequence[int]) -> np.ndarray:
    """The message bytes of many references, one row each (uint8): the reference with its low
    MASKED_BYTES XORed with a hash of its check value, then the check value."""
    size = REFERENCE_BITS // 8
    bodies = [int(reference).to_bytes(size, "big") for reference in references]
    checks = [check_value(secret, int(reference)) for reference in references]
    rows = np.frombuffer(b"".join(b + c for b, c in zip(bodies, checks, strict=True)), np.uint8)
    rows = rows.reshape(len(bodies), size + CHECK_BYTES).copy()
    masks = np.frombuffer(b"".join(_mask(check) for check in checks), np.uint8)
    rows[:, size - MASKED_BYTES : size] ^= masks.reshape(len(bodies), MASKED_BYTES)
    return rows


def message_bits(secret: bytes, reference: int) -> np.ndarray:
    """The 96 message bits (0/1, uint8) of one reference's ``messages`` row."""
    return np.unpackbits(messages(secret, [reference])[0])


def convolve(message: np.ndarray) -> np.ndarray:
    """The CODED_BITS coded bits (0/1, uint8) of MESSAGE_BITS message bits."""
    padded = np.concatenate([message.astype(np.int64), np.zeros(CONSTRAINT - 1, np.int64)])
    # The shift register at each step: the current input in the top bit, older ones below.
    registers = np.zeros(STEPS, np.int64)
    for age in range(CONSTRAINT):
        registers |= np.concatenate([np.zeros(age, np.int64), padded[: STEPS - age]]) << (
            CONSTRAINT - 1 - age
        )
    coded = np.stack([_parity(registers & g) for g in GENERATORS], axis=1)
    return np.asarray(coded.reshape(-1), dtype=np.uint8)


def encode(secret: bytes, reference: int) -> np.ndarray:
    """The CODED_BITS coded bits (0/1, uint8) that carry ``reference`` under ``secret``."""
    return convolve(message_bits(secret, reference))


def viterbi(soft: np.ndarray, zeros: int = 0) -> np.ndarray:
    """The most likely message bits for each row of soft coded bits (positive: 1).

    ``soft`` is (B, CODED_BITS) or (CODED_BITS,); returns (B, MESSAGE_BITS) or (MESSAGE_BITS,)
    uint8. The code starts and ends in the all-zero state. ``zeros``: the most likely message
    whose first ``zeros`` bits are 0 (the trellis enters no state through a 1 before then)."""
    batch = np.atleast_2d(np.asarray(soft, np.float32)).reshape(-1, STEPS, RATE)
    rows, half = batch.shape[0], _STATES // 2
    # The trellis as butterflies (as ``list_viterbi`` has it): target state t = high·half + low
    # is entered from states 2·low + j, so a step is one broadcast sum over (row, high, low, j)
    # and a comparison of j = 1 against j = 0 (argmax's tie to j = 0).
    branches = _branches(batch)
    metric = np.full((rows, _STATES), -np.inf, np.float32)
    metric[:, 0] = 0
    choices = np.zeros((STEPS, rows, _STATES), np.uint8)
    for step in range(STEPS):
        candidates = metric.reshape(rows, 1, half, 2) + branches[step]
        if step < zeros:  # the states entered through a 1 (high = 1) are not reached
            candidates[:, 1] = -np.inf
        later = candidates[..., 1] > candidates[..., 0]
        choices[step] = later.reshape(rows, _STATES)
        metric = np.maximum(candidates[..., 0], candidates[..., 1]).reshape(rows, _STATES)
    state = np.zeros(rows, np.int64)  # terminated: the path ends in state 0
    bits = np.zeros((rows, STEPS), np.uint8)
    every = np.arange(rows)
    for step in range(STEPS - 1, -1, -1):
        bits[:, step] = state >> (CONSTRAINT - 2)
        state = _PREDS[choices[step, every, state], state]
    message = bits[:, :MESSAGE_BITS]
    return message if np.ndim(soft) == 2 else message[0]


def list_viterbi(
    soft: np.ndarray, size: int = LIST_SIZE, zeros: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The ``size`` most likely messages for each row of soft coded bits, best first
    (``zeros``: of those whose first ``zeros`` bits are 0, as ``viterbi``'s).

    ``soft`` is (B, CODED_BITS); returns the messages, (B, size, MESSAGE_BITS) uint8, all
    distinct, and their path metrics (correlation with the soft bits), (B, size), in
    descending order. The first is ``viterbi``'s answer (ties broken the same way; the
    metrics are summed in float64 here and in float32 there, so a near-tie within float32
    rounding may go the other way).

    The k best paths of the trellis as sidetracks from its tree of best paths (Eppstein's
    k-shortest-paths representation, on a trellis): one forward Viterbi pass keeps, for
    every state and step, which predecessor is best and by how much it beats the other one
    (the *loss* of entering through the other). Every terminated path, read backwards from
    the end, follows the best predecessors except at its *sidetracks*, and its metric is the
    best path's less the sum of their losses. Path k's *children* take one more sidetrack at
    a state before its first (in time) one, where it follows the tree: each path is the child
    of exactly one, so the ``size`` best are taken from a pool that starts with the best
    path's children, the least loss first, each adding its own children. The same list as
    the parallel list Viterbi algorithm (Seshadri & Sundberg 1994, ``survivors``: every
    state keeps ``size`` paths), with one Viterbi pass and ``size`` tracebacks instead of
    ``size`` times the trellis (a third of its CPU at LIST_SIZE).
    Hand-written: no maintained library decodes a batch of soft inputs into a list
    (scikit-commpy's Viterbi takes one sequence, hard or unquantised, and returns one path).
    """
    if not 1 <= size <= 32:
        raise ValueError("list size must be in 1..32")
    batch = np.asarray(soft, np.float32).reshape(-1, STEPS, RATE)
    rows, half = batch.shape[0], _STATES // 2
    # The forward pass (as ``viterbi``, butterflies: target state high·half + low is entered
    # from states 2·low + j), in float64; per step and target: the better j, and the loss
    # of the other (inf where it cannot exist yet).
    branches = _branches(batch)
    metric = np.full((rows, _STATES), -np.inf, np.float64)
    metric[:, 0] = 0
    choices = np.empty((STEPS, rows, _STATES), np.uint8)
    losses = np.empty((STEPS, rows, _STATES), np.float64)
    for step in range(STEPS):
        candidates = metric.reshape(rows, 1, half, 2) + branches[step]
        if step < zeros:
            candidates[:, 1] = -np.inf
        first = candidates[..., 0].reshape(rows, _STATES)
        second = candidates[..., 1].reshape(rows, _STATES)
        choices[step] = second > first
        metric = np.maximum(first, second)
        with np.errstate(invalid="ignore"):  # unreachable states: -inf - -inf
            np.subtract(metric, np.minimum(first, second), out=losses[step])
    losses[np.isnan(losses)] = np.inf
    every, times = np.arange(rows), np.arange(STEPS)
    # Each listed path as its states at times 0..STEPS (every one ends in state 0), and its
    # first sidetrack's time (after the end for the best path, which has none).
    paths = np.zeros((size, rows, STEPS + 1), np.int64)
    lost = np.zeros((size, rows), np.float64)
    first_sidetrack = np.full(rows, STEPS + 1)
    pool = np.full((rows, size * STEPS), np.inf)  # path k's children: slots k·STEPS + t - 1
    for k in range(size):
        states = paths[k]
        if k == 0:
            parent, sidetrack = states, first_sidetrack
        else:  # the least loss in the pool: path ``parent``'s child entering (t, s) other-wise
            index = np.argmin(pool, axis=1)
            lost[k] = pool[every, index]
            pool[every, index] = np.inf
            parent, sidetrack = paths[index // STEPS, every], index % STEPS + 1
        for step in range(STEPS - 1, -1, -1):
            later = states[:, step + 1]
            pick = choices[step, every, later]
            tree = _PREDS[pick, later]
            if k > 0:  # the parent after the sidetrack, the other predecessor at it
                tree = np.where(step == sidetrack - 1, _PREDS[1 - pick, later], tree)
                tree = np.where(step >= sidetrack, parent[:, step], tree)
            states[:, step] = tree
        # Its children: one more sidetrack at each time before its first one.
        loss = losses[times[None, :], every[:, None], states[:, 1:]]
        loss[times[None, :] + 1 >= sidetrack[:, None]] = np.inf
        pool[:, k * STEPS : (k + 1) * STEPS] = lost[k][:, None] + loss
    bits = (paths[:, :, 1 : MESSAGE_BITS + 1] >> (CONSTRAINT - 2)).astype(np.uint8)
    metrics = (metric[:, 0][None, :] - lost).astype(np.float32)
    return np.ascontiguousarray(bits.transpose(1, 0, 2)), np.ascontiguousarray(metrics.T)


def survivors(candidates: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One step of the list Viterbi algorithm: of each state's 2·size candidate metrics
    (float32, (rows, states, 2·size): the two predecessors' lists, each sorted best first),
    the best ``size``, best first, and each one's code j·size + rank (uint8).

    A candidate's code sits in the low 6 bits of an integer key whose high bits are its
    distance below the row's best candidate (a float >= 0, whose bit pattern orders as an
    integer): the keys are distinct, ties go to predecessor 0 and the lower rank as
    ``viterbi``'s comparison breaks them, and each predecessor's keys ascend. The m-th
    smallest key of two ascending lists A and B is the least over i + j = m of
    max(A_i, B_j) (A_0 = B_0 = -inf), so the ``size`` best are size² element-wise maxima and
    minima: the same survivors as sorting the keys, at about half its cost."""
    lists = np.moveaxis(candidates, -1, 0)
    codes = np.empty(lists.shape, np.int64)
    codes[:] = np.arange(2 * size)[:, None, None]
    metric, code = _best_of(lists, size, codes)
    return np.moveaxis(metric, 0, -1), np.moveaxis(code, 0, -1)


def _best_of(lists: np.ndarray, size: int, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``survivors`` rank first: (2·size, rows, states) candidates in, (size, rows, states)
    metrics and codes out; ``codes`` holds each candidate's code j·size + rank, as int64."""
    heads = np.maximum(lists[0], lists[size])  # each list is sorted
    top = heads.reshape(heads.shape[0], -1).max(axis=1)[:, None]
    below = top - lists  # >= 0; inf for paths that cannot exist yet
    keys = below.view(np.int32).astype(np.int64)
    np.left_shift(keys, 6, out=keys)
    np.bitwise_or(keys, codes, out=keys)
    first, second = keys[:size], keys[size:]
    best = np.empty((size, *keys.shape[1:]), np.int64)
    for m in range(size):  # the (m+1)-th smallest: i from A and m+1-i from B
        least = np.minimum(first[m], second[m], out=best[m])
        for i in range(1, m + 1):
            np.minimum(least, np.maximum(first[i - 1], second[m - i]), out=least)
    return top - (best >> 6).astype(np.int32).view(np.float32), (best & 63).astype(np.uint8)


def reference_of(secret: bytes, message: np.ndarray) -> int | None:
    """The reference in decoded message bits when their check value matches, else None."""
    data = np.packbits(message.astype(np.uint8)).tobytes()
    size = REFERENCE_BITS // 8
    plain, check = size - MASKED_BYTES, data[size:]
    low = np.frombuffer(data[plain:size], np.uint8) ^ np.frombuffer(_mask(check), np.uint8)
    reference = int.from_bytes(data[:plain] + low.tobytes(), "big")
    if hmac.compare_digest(check, check_value(secret, reference)):
        return reference
    return None


def decode(secret: bytes, soft: np.ndarray) -> int | None:
    """The reference carried by CODED_BITS soft bits (positive: 1), or None.

    One Viterbi decoding, then the keyed check value must match: one 2^-32 chance for a false
    reference per call."""
    return reference_of(secret, viterbi(soft))
