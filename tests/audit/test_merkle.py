"""RFC 6962/9162 known answers (the Certificate Transparency reference vectors) and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lpm_guard.audit import ProofError, leaf_hash, verify_consistency, verify_inclusion
from lpm_guard.audit.merkle import EMPTY_ROOT, NodeId, ProofPlan, range_nodes, tree_root

# The standard 8-leaf example (transparency-dev/merkle testonly/constants.go).
LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (index, tree size, proof): leaf indexes are 0-based here, 1-based in the Go source.
INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
HASHES = [leaf_hash(leaf) for leaf in LEAVES]


class MemoryNodes:
    """Every complete subtree of an in-memory tree, as the database stores them."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.nodes: dict[NodeId, bytes] = {}
        level = list(leaves)
        depth = 0
        while level:
            for i, h in enumerate(level):
                self.nodes[NodeId(depth, i)] = h
            level = [tree_root(level[i : i + 2]) for i in range(0, len(level) - 1, 2)]
            depth += 1

    def inclusion(self, index: int, size: int) -> list[bytes]:
        plan = ProofPlan.inclusion(index, size)
        return plan.assemble(self.nodes)

    def consistency(self, old: int, new: int) -> list[bytes]:
        return ProofPlan.consistency(old, new).assemble(self.nodes)


def test_empty_tree_root_is_the_hash_of_nothing() -> None:
    assert tree_root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert tree_root([]) == EMPTY_ROOT


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_reference(size: int) -> None:
    assert tree_root(HASHES[:size]).hex() == ROOTS[size - 1]
    nodes = MemoryNodes(HASHES[:size]).nodes
    plan = ProofPlan.root(size)
    assert plan.assemble(nodes)[0].hex() == ROOTS[size - 1]


@pytest.mark.parametrize(("index", "size", "expected"), INCLUSION)
def test_inclusion_proofs_match_the_reference(index: int, size: int, expected: list[str]) -> None:
    proof = MemoryNodes(HASHES[:size]).inclusion(index, size)
    assert [p.hex() for p in proof] == expected
    verify_inclusion(HASHES[index], index, size, proof, bytes.fromhex(ROOTS[size - 1]))


@pytest.mark.parametrize(("old", "new", "expected"), CONSISTENCY)
def test_consistency_proofs_match_the_reference(old: int, new: int, expected: list[str]) -> None:
    proof = MemoryNodes(HASHES[:new]).consistency(old, new)
    assert [p.hex() for p in proof] == expected
    verify_consistency(
        old, new, bytes.fromhex(ROOTS[old - 1]), bytes.fromhex(ROOTS[new - 1]), proof
    )


def test_range_nodes_decomposes_ranges_into_complete_subtrees() -> None:
    assert range_nodes(0, 8) == [NodeId(3, 0)]
    assert range_nodes(0, 7) == [NodeId(2, 0), NodeId(1, 2), NodeId(0, 6)]
    assert range_nodes(4, 7) == [NodeId(1, 2), NodeId(0, 6)]
    with pytest.raises(ValueError, match="aligned"):
        range_nodes(1, 5)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (-1, 4), (4, 4), (9, 8)])
def test_malformed_inclusion_requests_are_refused(index: int, size: int) -> None:
    with pytest.raises(ProofError):
        ProofPlan.inclusion(index, size)


@pytest.mark.parametrize(("old", "new"), [(0, 4), (5, 4), (-1, 3)])
def test_malformed_consistency_requests_are_refused(old: int, new: int) -> None:
    with pytest.raises(ProofError):
        ProofPlan.consistency(old, new)


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300), st.data())
def test_every_inclusion_proof_verifies_and_a_flipped_bit_fails(
    size: int, data: st.DataObject
) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    tree = MemoryNodes(leaves)
    root = tree_root(leaves)
    index = data.draw(st.integers(0, size - 1))
    proof = tree.inclusion(index, size)
    verify_inclusion(leaves[index], index, size, proof, root)

    bit = data.draw(st.integers(0, 255))
    with pytest.raises(ProofError):
        verify_inclusion(_flip(leaves[index], bit), index, size, proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(leaves[index], index, size, proof, _flip(root, bit))
    if proof:
        step = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof[:step], _flip(proof[step], bit), *proof[step + 1 :]]
        with pytest.raises(ProofError):
            verify_inclusion(leaves[index], index, size, bad, root)
        with pytest.raises(ProofError):
            verify_inclusion(leaves[index], index, size, proof[:-1], root)
    with pytest.raises(ProofError):
        verify_inclusion(leaves[index], index, size, [*proof, root], root)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 300), st.data())
def test_every_consistency_proof_verifies_and_a_flipped_bit_fails(
    new: int, data: st.DataObject
) -> None:
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(new)]
    tree = MemoryNodes(leaves)
    old = data.draw(st.integers(1, new))
    old_root, new_root = tree_root(leaves[:old]), tree_root(leaves)
    proof = tree.consistency(old, new)
    verify_consistency(old, new, old_root, new_root, proof)

    bit = data.draw(st.integers(0, 255))
    with pytest.raises(ProofError):
        verify_consistency(old, new, _flip(old_root, bit), new_root, proof)
    with pytest.raises(ProofError):
        verify_consistency(old, new, old_root, _flip(new_root, bit), proof)
    if proof:
        step = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof[:step], _flip(proof[step], bit), *proof[step + 1 :]]
        with pytest.raises(ProofError):
            verify_consistency(old, new, old_root, new_root, bad)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 200), st.integers(0, 199), st.integers(1, 200))
def test_every_inclusion_proof_from_every_tree_size(size: int, index: int, extra: int) -> None:
    """A leaf proven in the tree at one size is also proven at every later size."""
    if index >= size:
        index = index % size
    total = size + extra
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(total)]
    tree = MemoryNodes(leaves)
    for tree_size in (size, total):
        verify_inclusion(
            leaves[index],
            index,
            tree_size,
            tree.inclusion(index, tree_size),
            tree_root(leaves[:tree_size]),
        )
