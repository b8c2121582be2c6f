"""Candidate payload codes for the watermark, for the simulation in bench/watermark_code.py.

A generic binary convolutional code (rate 1/n, constraint length K), terminated or
tail-biting, with an optional extra generator sent only at some steps (puncturing), and a
CRC-aided list Viterbi decoder batched over rows (the same algorithm as
lpm_guard/provenance/_wm_payload.py's, generalised). Tail-biting codes are decoded by
circular extension: the list decoder runs over the last HEAD steps, the whole block and the
first TAIL steps again, starting from every state at once, and the middle block's inputs are
the message; the distinct messages are re-scored on the tail-biting code and sorted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lpm_guard.provenance._wm_payload import survivors

MESSAGE_BITS = 96


def parity(values: np.ndarray) -> np.ndarray:
    bits = np.unpackbits(values.astype(">u4").view(np.uint8).reshape(-1, 4), axis=1)
    return np.asarray(bits.sum(axis=1) & 1, dtype=np.uint8).reshape(values.shape)


@dataclass
class Code:
    name: str
    constraint: int
    generators: tuple[int, ...]
    tailbiting: bool
    # Steps at which the last generator is sent (None: every step).
    extra_steps: np.ndarray | None = None
    head: int = 0
    tail: int = 0
    preds: np.ndarray = field(init=False)
    signs: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        states = 1 << (self.constraint - 1)
        target = np.arange(states)
        newest = target >> (self.constraint - 2)
        self.preds = np.stack([((target << 1) & (states - 1)) | j for j in (0, 1)])
        self.signs = np.zeros((2, states, self.rate), np.float32)
        for j in (0, 1):
            register = (newest << (self.constraint - 1)) | self.preds[j]
            for r, g in enumerate(self.generators):
                self.signs[j, :, r] = parity(register & g).astype(np.float32) * 2 - 1
        self.mask = np.ones((self.steps, self.rate), bool)
        if self.extra_steps is not None:
            self.mask[:, -1] = False
            self.mask[self.extra_steps, -1] = True

    @property
    def rate(self) -> int:
        return len(self.generators)

    @property
    def states(self) -> int:
        return 1 << (self.constraint - 1)

    @property
    def steps(self) -> int:
        return MESSAGE_BITS if self.tailbiting else MESSAGE_BITS + self.constraint - 1

    @property
    def coded_bits(self) -> int:
        return int(self.mask.sum())

    def registers(self, message: np.ndarray) -> np.ndarray:
        """(B, steps) shift registers (current input in the top bit)."""
        k = self.constraint
        msg = np.atleast_2d(message).astype(np.int64)
        if self.tailbiting:
            full = msg
        else:
            full = np.concatenate([msg, np.zeros((msg.shape[0], k - 1), np.int64)], axis=1)
        regs = np.zeros_like(full)
        for age in range(k):
            shifted = np.roll(full, age, axis=1)
            if not self.tailbiting:
                shifted[:, :age] = 0
            regs |= shifted << (k - 1 - age)
        return regs

    def convolve(self, message: np.ndarray) -> np.ndarray:
        """(B, coded_bits) 0/1 coded bits, step-major, punctured positions left out."""
        regs = self.registers(message)
        out = np.stack([parity(regs & g) for g in self.generators], axis=-1)  # (B, steps, R)
        return out[:, self.mask]

    def expand(self, soft: np.ndarray) -> np.ndarray:
        """(B, coded_bits) soft bits -> (B, steps, R) with zeros where punctured."""
        full = np.zeros((soft.shape[0], self.steps, self.rate), np.float32)
        full[:, self.mask] = soft
        return full

    def score(self, soft: np.ndarray, messages: np.ndarray) -> np.ndarray:
        """Correlation of each row's candidates (B, L, 96) with its soft bits (B, coded)."""
        b, lst, _ = messages.shape
        signs = self.convolve(messages.reshape(b * lst, -1)).astype(np.float32) * 2 - 1
        return np.einsum("blc,bc->bl", signs.reshape(b, lst, -1), soft.astype(np.float32))

    def list_decode(self, soft: np.ndarray, size: int, rotated: bool = False) -> np.ndarray:
        """(B, size, 96) candidate messages, best first. Tail-biting: wrap-around boundary
        metrics (a forward pass over the last ``head`` steps, a backward one over the first
        ``tail``), ``size`` paths per state, for the block as sent and rotated by half; the
        best ``size`` distinct messages of both by exact correlation (as
        lpm_guard/provenance/_wm_payload.py)."""
        full = self.expand(soft)
        if not self.tailbiting:
            return _list_viterbi(self, full, size, None, None)[:, :, :MESSAGE_BITS]
        branches = np.einsum("btr,jsr->tbjs", full, self.signs)
        rows, states = full.shape[0], self.states
        start = np.zeros((rows, states), np.float32)
        for step in range(self.steps - self.head, self.steps):
            start = (start[:, self.preds] + branches[step]).max(axis=1)
            start -= start.max(axis=1, keepdims=True)
        target = np.arange(states)
        succs = np.stack([(target >> 1) | (u << (self.constraint - 2)) for u in (0, 1)])
        jbit = target & 1
        end = np.zeros((rows, states), np.float32)
        for step in range(self.tail - 1, -1, -1):
            end = (branches[step][:, jbit[None, :], succs] + end[:, succs]).max(axis=1)
            end -= end.max(axis=1, keepdims=True)
        found = _list_viterbi(self, full, size, start, end)
        if not rotated:
            # The block rotated by half (48 steps, a multiple of the sparse generator's 3):
            # its wrap-around point falls in the middle of this one's.
            turn = 48
            shift = int(self.mask[:turn].sum())
            other = self.list_decode(np.roll(soft, shift, axis=1), size, rotated=True)
            found = np.concatenate([found, np.roll(other, -turn, axis=2)], axis=1)
        paths = found
        scores = self.score(soft, paths)
        packed = np.packbits(paths, axis=2)
        for row in range(rows):
            seen: set[bytes] = set()
            for r in range(paths.shape[1]):
                key = packed[row, r].tobytes()
                if key in seen:
                    scores[row, r] = -np.inf
                seen.add(key)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :size]
        return np.take_along_axis(paths, order[:, :, None], axis=1)


def _list_viterbi(
    code: Code, batch: np.ndarray, size: int, start: np.ndarray | None, end: np.ndarray | None
) -> np.ndarray:
    """Parallel list Viterbi over (B, T, R) soft steps; (B, size, T) input bits. With
    start/end metrics (B, S) the paths start anywhere with those metrics and are ranked at
    the end with them added; else the path starts and ends in state 0."""
    rows, steps, _ = batch.shape
    states = code.states
    half = states // 2
    k = code.constraint
    branches = np.einsum("btr,jsr->tbsj", batch, code.signs).reshape(steps, rows, 2, half, 2, 1)
    metric = np.full((rows, states, size), -np.inf, np.float32)
    if start is not None:
        metric[:, :, 0] = start
    else:
        metric[:, 0, 0] = 0
    choices = np.zeros((steps, rows, states, size), np.uint8)
    for step in range(steps):
        shape = (rows, 1, half, 2, size)
        cand = (metric.reshape(shape) + branches[step]).reshape(rows, states, 2 * size)
        metric, choices[step] = survivors(cand, size)  # the detector's own list step
    every = np.arange(rows)[:, None]
    if end is not None:
        flat = (metric + end[:, :, None]).reshape(rows, states * size)
        pick = np.argsort(-flat, axis=1, kind="stable")[:, :size]
        state, rank = pick // size, pick % size
    else:
        state = np.zeros((rows, size), np.int64)
        rank = np.broadcast_to(np.arange(size), (rows, size))
    bits = np.zeros((rows, size, steps), np.uint8)
    for step in range(steps - 1, -1, -1):
        bits[:, :, step] = state >> (k - 2)
        c = choices[step, every, state, rank]
        state, rank = code.preds[c // size, state], c % size
    return bits


def free_distance(
    constraint: int, generator_sets: np.ndarray, span: int = 60
) -> tuple[np.ndarray, np.ndarray]:
    """Free distance and its multiplicity (number of paths) for each row of generator sets
    (C, R), by a min-plus search over paths leaving state 0 and first returning to it."""
    states = 1 << (constraint - 1)
    target = np.arange(states)
    newest = target >> (constraint - 2)
    preds = np.stack([((target << 1) & (states - 1)) | j for j in (0, 1)])
    weights = np.zeros((generator_sets.shape[0], 2, states), np.int64)
    for j in (0, 1):
        register = (newest << (constraint - 1)) | preds[j]
        for r in range(generator_sets.shape[1]):
            weights[:, j] += parity(register[None, :] & generator_sets[:, r : r + 1])
    big = 10**6
    c = generator_sets.shape[0]
    dist = np.full((c, states), big, np.int64)
    count = np.zeros((c, states), np.float64)
    first = 1 << (constraint - 2)
    # leave 0 with input 1: into state `first` from pred 0 (j=0)
    dist[:, first] = weights[:, 0, first]
    count[:, first] = 1
    best = np.full(c, big, np.int64)
    best_count = np.zeros(c)
    for _ in range(span):
        cand = dist[:, preds] + weights  # (C, 2, S)
        cand_count = count[:, preds]
        # returning to 0: from pred 1 (state 1) with input 0 into 0 (pred 0 is state 0 itself)
        back = cand[:, 1, 0]
        better = back < best
        same = back == best
        best_count = np.where(
            better, cand_count[:, 1, 0], best_count + np.where(same, cand_count[:, 1, 0], 0)
        )
        best = np.minimum(best, back)
        # paths staying away from 0: exclude pred 0 -> 0 and transitions from state 0
        cand[:, :, 0] = big
        from_zero = preds == 0
        cand[:, from_zero] = big
        m = cand.min(axis=1)
        cnt = (cand_count * (cand == m[:, None, :])).sum(axis=1)
        dist = np.minimum(m, big)
        count = np.where(dist < big, cnt, 0)
        if (dist.min(axis=1) >= best).all():
            break
    return best, best_count


def nested_search(
    constraint: int, start: tuple[int, ...], total: int, seed: int = 0
) -> tuple[int, ...]:
    """Greedily add generators (top and bottom tap set) maximising free distance, then the
    fewest free-distance paths."""
    gens = list(start)
    pool = np.array([g for g in range(1 << (constraint - 1), 1 << constraint) if g & 1], np.int64)
    while len(gens) < total:
        fresh = [int(g) for g in pool if int(g) not in gens]
        sets = np.array([[*gens, g] for g in fresh], np.int64)
        d, m = free_distance(constraint, sets)
        order = np.lexsort((m, -d))
        gens.append(fresh[int(order[0])])
    return tuple(gens)
