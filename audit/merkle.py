"""RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing, proofs and their verification.

Written by hand: the hashing and the verification algorithms are a few lines each, specified
exactly by RFC 9162 section 2.1, and no maintained library exposes them over our own storage.

Storage is abstracted as *nodes*: ``NodeId(level, position)`` is the complete, aligned subtree
over leaves ``[position * 2**level, (position + 1) * 2**level)``. Every proof element is the
hash of a range of leaves, and every such range is a short run of complete nodes (see
``range_nodes``), so a proof needs O(log n) stored hashes and no rehashing of the log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

from .errors import ProofError

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


class NodeId(NamedTuple):
    level: int
    position: int


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[NodeId]:
    """The complete nodes whose right fold is MTH(D[start:end]).

    ``start`` must be aligned as it is in every range RFC 9162's recursion produces: a multiple
    of the largest power of two not exceeding ``end - start``.
    """
    nodes: list[NodeId] = []
    while start < end:
        size = end - start
        block = size if size & (size - 1) == 0 else _split(size)
        level = block.bit_length() - 1
        if start % block:
            raise ValueError(f"range [{start}, {end}) is not aligned")
        nodes.append(NodeId(level, start >> level))
        start += block
    return nodes


def fold(hashes: Sequence[bytes]) -> bytes:
    """Combine the hashes of ``range_nodes`` into the hash of the whole range."""
    result = hashes[-1]
    for h in reversed(hashes[:-1]):
        result = node_hash(h, result)
    return result


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """RFC 9162 2.1.3.1 PATH(m, D[n]) as leaf ranges, leaf-most first."""
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index - lo < k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo = lo + k
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """RFC 9162 2.1.4.1 SUBPROOF(m, D[n], true) as leaf ranges, in proof order."""
    ranges: list[tuple[int, int]] = []
    lo, hi, m, complete = 0, new_size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            m -= k
            lo += k
            complete = False
    if not complete:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def check_inclusion_args(index: int, size: int) -> None:
    if size < 1:
        raise ProofError("tree size must be at least 1")
    if not 0 <= index < size:
        raise ProofError(f"index {index} is outside a tree of size {size}")


def check_consistency_args(old_size: int, new_size: int) -> None:
    if old_size < 1:
        raise ProofError("the old tree size must be at least 1")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")


class ProofPlan:
    """The nodes a proof needs and how to assemble them; fetch ``nodes`` in one read."""

    def __init__(self, ranges: Sequence[tuple[int, int]]) -> None:
        self._groups = [range_nodes(lo, hi) for lo, hi in ranges]

    @property
    def nodes(self) -> set[NodeId]:
        return {node for group in self._groups for node in group}

    def assemble(self, hashes: Mapping[NodeId, bytes]) -> list[bytes]:
        try:
            return [fold([hashes[node] for node in group]) for group in self._groups]
        except KeyError as exc:
            raise ProofError(f"missing tree node {exc.args[0]}") from None

    @classmethod
    def inclusion(cls, index: int, size: int) -> ProofPlan:
        check_inclusion_args(index, size)
        return cls(_inclusion_ranges(index, size))

    @classmethod
    def consistency(cls, old_size: int, new_size: int) -> ProofPlan:
        check_consistency_args(old_size, new_size)
        if old_size == new_size:
            return cls([])
        return cls(_consistency_ranges(old_size, new_size))

    @classmethod
    def root(cls, size: int) -> ProofPlan:
        return cls([(0, size)] if size else [])


NodeFetcher = Callable[[Iterable[NodeId]], Mapping[NodeId, bytes]]


def root_hash(size: int, fetch: NodeFetcher) -> bytes:
    if size == 0:
        return EMPTY_ROOT
    plan = ProofPlan.root(size)
    return plan.assemble(fetch(plan.nodes))[0]


def tree_root(leaves: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes held in memory (tests, exports); O(n) hashing."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


# Verification: RFC 9162 sections 2.1.3.2 and 2.1.4.2, step for step.


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    # (1): the index must lie inside the tree.
    check_inclusion_args(index, size)
    # (2): walk from the leaf to the root.
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # (3): the walk must end at the root, with the computed hash equal to the root.
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if r != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    # (1): sizes must be ordered; equal trees need an empty proof and equal roots.
    check_consistency_args(old_size, new_size)
    if old_size == new_size:
        if proof:
            raise ProofError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("equal tree sizes with different roots")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    # (2): a power-of-two old tree is itself the first node of the path.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # (3): strip the levels where the old tree is a left-complete prefix.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # (4): rebuild both roots from the path.
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # (5): both must match, and the path must have reached the top.
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != old_root:
        raise ProofError("consistency proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("consistency proof does not lead to the new root")
