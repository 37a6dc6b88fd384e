"""Merkle tree hashing and proofs exactly as RFC 9162 §2.1 (and RFC 6962 §2.1) define them.

Trees are read through a ``NodeStore``: the hash of every *complete* subtree (2**level leaves
starting at a multiple of 2**level), which an append-only log can persist as it grows. Every
other subtree the RFC needs is on the right edge of some complete one and is rebuilt from at
most log2(n) stored nodes, so roots and proofs cost O(log n) reads whatever the log's size.

Hand-written: the arithmetic is a few dozen lines of the RFC, and the maintained Python
packages for it either build whole trees in memory or do not offer consistency proofs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Protocol

__all__ = [
    "EMPTY_ROOT",
    "MemoryNodes",
    "NodeStore",
    "consistency_nodes",
    "consistency_proof",
    "extend_frontier",
    "frontier_nodes",
    "frontier_root",
    "inclusion_nodes",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "nodes_completed_by",
    "root",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """MTH of one entry: SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """An interior node: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class NodeStore(Protocol):
    def node(self, level: int, index: int) -> bytes:
        """Hash of the complete subtree of 2**level leaves starting at leaf index * 2**level."""
        ...


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1), where the RFC splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_root(store: NodeStore, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for 0 <= start < end."""
    size = end - start
    if size & (size - 1) == 0 and start % size == 0:
        return store.node(size.bit_length() - 1, start // size)
    k = _split(size)
    return node_hash(subtree_root(store, start, start + k), subtree_root(store, start + k, end))


def root(store: NodeStore, size: int) -> bytes:
    """The root of the tree of the first ``size`` entries."""
    return EMPTY_ROOT if size == 0 else subtree_root(store, 0, size)


def inclusion_proof(store: NodeStore, index: int, size: int) -> list[bytes]:
    """PATH(index, D[0:size]), RFC 9162 §2.1.3.1."""
    if not 0 <= index < size:
        raise ValueError("index must be inside the tree")

    def path(m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*path(m, start, start + k), subtree_root(store, start + k, end)]
        return [*path(m - k, start + k, end), subtree_root(store, start, start + k)]

    return path(index, 0, size)


def consistency_proof(store: NodeStore, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[0:second]), RFC 9162 §2.1.4.1 (empty for first == second or first == 0)."""
    if not 0 <= first <= second:
        raise ValueError("need 0 <= first <= second")
    if first == 0:
        return []

    def subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if whole else [subtree_root(store, start, end)]
        k = _split(n)
        if m <= k:
            return [*subproof(m, start, start + k, whole), subtree_root(store, start + k, end)]
        return [*subproof(m - k, start + k, end, False), subtree_root(store, start, start + k)]

    return subproof(first, 0, second, True)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2, for a leaf *hash*."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: the tree of ``second`` entries extends the tree of ``first``."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first == 0:
        return not proof
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not (fn & 1 or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def nodes_completed_by(
    store: NodeStore, index: int, leaf: bytes
) -> Iterator[tuple[int, int, bytes]]:
    """The (level, index, hash) of every complete subtree that appending leaf number ``index``
    completes, the leaf itself first: at most log2(n) + 1 nodes, each from one stored sibling."""
    level, position, current = 0, index, leaf
    yield level, position, current
    while position & 1:
        current = node_hash(store.node(level, position - 1), current)
        level += 1
        position >>= 1
        yield level, position, current


def extend_frontier(
    frontier: Sequence[bytes], size: int, leaf: bytes
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Append leaf hash number ``size`` to a tree known only by its *frontier*: the roots of the
    complete subtrees that make up its first ``size`` leaves, largest first (one per set bit of
    ``size``). Returns the new frontier and the (level, index, hash) of every complete subtree
    the leaf completes, the leaf itself first. No stored node is read: appends cost O(log n)
    hashing and nothing else."""
    if len(frontier) != size.bit_count():
        raise ValueError("the frontier does not match the tree size")
    kept = list(frontier)
    level, position, current = 0, size, leaf
    completed = [(level, position, current)]
    while position & 1:
        current = node_hash(kept.pop(), current)
        level += 1
        position >>= 1
        completed.append((level, position, current))
    kept.append(current)
    return kept, completed


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """The tree's root from its frontier (RFC 9162 splits at the largest subtree first)."""
    if not frontier:
        return EMPTY_ROOT
    current = frontier[-1]
    for left in reversed(frontier[:-1]):
        current = node_hash(left, current)
    return current


def frontier_nodes(size: int) -> list[tuple[int, int]]:
    """The (level, index) of the stored complete subtrees that form the frontier of ``size``."""
    found, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            found.append((level, start >> level))
            start += 1 << level
    return found


class _Recorder:
    """A ``NodeStore`` that answers with a placeholder and remembers what was asked: the nodes
    a proof needs depend only on the indices, so they can be fetched in one query up front."""

    def __init__(self) -> None:
        self.wanted: set[tuple[int, int]] = set()

    def node(self, level: int, index: int) -> bytes:
        self.wanted.add((level, index))
        return EMPTY_ROOT


def inclusion_nodes(index: int, size: int) -> set[tuple[int, int]]:
    """The stored nodes ``inclusion_proof(store, index, size)`` reads."""
    recorder = _Recorder()
    inclusion_proof(recorder, index, size)
    return recorder.wanted


def consistency_nodes(first: int, second: int) -> set[tuple[int, int]]:
    """The stored nodes ``consistency_proof(store, first, second)`` reads."""
    recorder = _Recorder()
    consistency_proof(recorder, first, second)
    return recorder.wanted


class MemoryNodes:
    """A ``NodeStore`` in a dict, for tests, verifiers and batch computations."""

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.size = 0

    def node(self, level: int, index: int) -> bytes:
        return self.nodes[(level, index)]

    def append(self, leaf: bytes) -> None:
        for level, index, value in list(nodes_completed_by(self, self.size, leaf)):
            self.nodes[(level, index)] = value
        self.size += 1
