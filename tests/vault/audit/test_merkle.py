"""Merkle tree arithmetic against the RFC 6962 reference tree and against a straightforward
recomputation of the RFC's definitions, for every index and size pair up to 64 leaves."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from vault.audit import merkle

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "merkle.json").read_text())
LIMIT = 64


# -- the RFC's definitions, on plain lists (RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1) ------------------


def mth(entries: list[bytes]) -> bytes:
    n = len(entries)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(entries[:k]) + mth(entries[k:])).digest()


def path(m: int, entries: list[bytes]) -> list[bytes]:
    n = len(entries)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*path(m, entries[:k]), mth(entries[k:])]
    return [*path(m - k, entries[k:]), mth(entries[:k])]


def subproof(m: int, entries: list[bytes], whole: bool) -> list[bytes]:
    n = len(entries)
    if m == n:
        return [] if whole else [mth(entries)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*subproof(m, entries[:k], whole), mth(entries[k:])]
    return [*subproof(m - k, entries[k:], False), mth(entries[:k])]


ENTRIES = [f"entry {i}".encode() for i in range(LIMIT)]


@pytest.fixture(scope="module")
def tree() -> merkle.MemoryNodes:
    store = merkle.MemoryNodes()
    for entry in ENTRIES:
        store.append(merkle.leaf_hash(entry))
    return store


def test_reference_roots() -> None:
    store = merkle.MemoryNodes()
    assert merkle.root(store, 0).hex() == hashlib.sha256(b"").hexdigest()
    for size, (leaf, expected) in enumerate(
        zip(VECTORS["leaves"], VECTORS["roots"], strict=True), start=1
    ):
        store.append(merkle.leaf_hash(bytes.fromhex(leaf)))
        assert merkle.root(store, size).hex() == expected


def test_roots_match_the_definition(tree: merkle.MemoryNodes) -> None:
    for size in range(LIMIT + 1):
        assert merkle.root(tree, size) == mth(ENTRIES[:size])


def test_inclusion_proofs_for_every_index_and_size(tree: merkle.MemoryNodes) -> None:
    for size in range(1, LIMIT + 1):
        head = mth(ENTRIES[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(tree, index, size)
            assert proof == path(index, ENTRIES[:size])
            leaf = merkle.leaf_hash(ENTRIES[index])
            assert merkle.verify_inclusion(leaf, index, size, proof, head)
            # The same proof proves nothing about another leaf, index or root.
            other = merkle.leaf_hash(b"forged")
            assert not merkle.verify_inclusion(other, index, size, proof, head)
            assert not merkle.verify_inclusion(leaf, index, size, proof, mth(ENTRIES[: size - 1]))
            if size > 1:
                assert not merkle.verify_inclusion(leaf, (index + 1) % size, size, proof, head)
            if proof:
                assert not merkle.verify_inclusion(leaf, index, size, proof[:-1], head)
                assert not merkle.verify_inclusion(leaf, index, size, [*proof, proof[0]], head)


def test_consistency_proofs_for_every_size_pair(tree: merkle.MemoryNodes) -> None:
    for second in range(1, LIMIT + 1):
        second_root = mth(ENTRIES[:second])
        for first in range(1, second + 1):
            first_root = mth(ENTRIES[:first])
            proof = merkle.consistency_proof(tree, first, second)
            assert proof == subproof(first, ENTRIES[:second], True)
            assert merkle.verify_consistency(first, second, first_root, second_root, proof)
            forged = mth([*ENTRIES[: first - 1], b"rewritten"])
            assert not merkle.verify_consistency(first, second, forged, second_root, proof)
            if first < second:
                assert not merkle.verify_consistency(first, second, first_root, forged, proof)
                assert not merkle.verify_consistency(first, second, first_root, second_root, [])


def test_a_rewritten_history_has_no_consistency_proof(tree: merkle.MemoryNodes) -> None:
    other = merkle.MemoryNodes()
    for i, entry in enumerate(ENTRIES):
        other.append(merkle.leaf_hash(b"edited" if i == 5 else entry))
    for first in range(6, 20):
        proof = merkle.consistency_proof(other, first, 32)
        assert not merkle.verify_consistency(
            first, 32, merkle.root(tree, first), merkle.root(other, 32), proof
        )


def test_appends_store_each_complete_subtree_once(tree: merkle.MemoryNodes) -> None:
    # 2n - 1 complete subtrees for a power-of-two tree: leaves plus interior nodes.
    assert len(tree.nodes) == 2 * LIMIT - 1


def test_proofs_read_logarithmically_many_nodes() -> None:
    class Counting(merkle.MemoryNodes):
        reads = 0

        def node(self, level: int, index: int) -> bytes:
            Counting.reads += 1
            return super().node(level, index)

    store = Counting()
    for i in range(1000):
        store.append(merkle.leaf_hash(str(i).encode()))
    Counting.reads = 0
    merkle.inclusion_proof(store, 637, 1000)
    merkle.consistency_proof(store, 637, 1000)
    merkle.root(store, 1000)
    assert Counting.reads <= 3 * 2 * 10  # three operations, O(2 log2 n) reads each


def test_bad_arguments() -> None:
    store = merkle.MemoryNodes()
    store.append(merkle.leaf_hash(b"x"))
    with pytest.raises(ValueError, match="inside the tree"):
        merkle.inclusion_proof(store, 1, 1)
    with pytest.raises(ValueError, match="first <= second"):
        merkle.consistency_proof(store, 2, 1)
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"x"), 1, 1, [], merkle.root(store, 1))
    assert merkle.consistency_proof(store, 0, 1) == []


def test_the_frontier_alone_extends_the_tree(tree: merkle.MemoryNodes) -> None:
    frontier: list[bytes] = []
    for size, entry in enumerate(ENTRIES):
        assert merkle.frontier_root(frontier) == mth(ENTRIES[:size])
        assert frontier == [tree.node(level, i) for level, i in merkle.frontier_nodes(size)]
        frontier, completed = merkle.extend_frontier(frontier, size, merkle.leaf_hash(entry))
        assert completed == [
            (level, i, value)
            for level, i, value in merkle.nodes_completed_by(tree, size, merkle.leaf_hash(entry))
        ]
    assert merkle.frontier_root(frontier) == mth(ENTRIES)
    with pytest.raises(ValueError, match="frontier does not match"):
        merkle.extend_frontier(frontier[:-1], LIMIT, merkle.leaf_hash(b"x"))


class OnlyThese(merkle.MemoryNodes):
    """A store that fails on any node outside an allowed set."""

    def __init__(self, full: merkle.MemoryNodes, allowed: set[tuple[int, int]]) -> None:
        super().__init__()
        self.nodes = {key: full.nodes[key] for key in allowed}


def test_proofs_read_exactly_the_nodes_named_in_advance(tree: merkle.MemoryNodes) -> None:
    for size in range(1, LIMIT + 1):
        for index in range(size):
            store = OnlyThese(tree, merkle.inclusion_nodes(index, size))
            assert merkle.inclusion_proof(store, index, size) == path(index, ENTRIES[:size])
        for first in range(1, size + 1):
            store = OnlyThese(tree, merkle.consistency_nodes(first, size))
            expected = subproof(first, ENTRIES[:size], True)
            assert merkle.consistency_proof(store, first, size) == expected
